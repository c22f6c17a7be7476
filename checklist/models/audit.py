"""The audit trail's tables: chain heads, events, seals, time-stamps, verification runs."""

from __future__ import annotations

from datetime import timedelta

from django.db import models

from checklist.models.cases import Case
from checklist.models.people import User


class AuditChainHead(models.Model):
    """The last event of each chain; its row lock serializes appends within one chain only."""

    chain = models.CharField(max_length=40, unique=True)
    last_seq = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)
    # The last_seq that a committed seal recorded for this chain: the next seal records only chains
    # that moved past it. A hint, set after the seal commits; if it is lost, a chain is sealed twice.
    sealed_seq = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.chain} @ {self.last_seq}"


class AuditEvent(models.Model):
    """Append-only, hash-chained. Database triggers refuse UPDATE and DELETE on this table."""

    chain = models.CharField(max_length=40)
    seq = models.PositiveBigIntegerField()
    # No database FK: audit rows outlive anything and must never block or cascade.
    case = models.ForeignKey(
        Case, on_delete=models.DO_NOTHING, null=True, blank=True, db_constraint=False, related_name="audit_events"
    )
    at = models.DateTimeField()
    # When the person acted on their device (the request's X-Acted-At), when it said; ``at`` is
    # when the server recorded it. Differs for writes a device queued offline. Hashed when present.
    acted_at = models.DateTimeField(null=True, blank=True)
    actor = models.ForeignKey(
        User, on_delete=models.DO_NOTHING, null=True, blank=True, db_constraint=False, related_name="+"
    )
    actor_username = models.CharField(max_length=150, blank=True)
    actor_name = models.CharField(max_length=200, blank=True)
    actor_role = models.CharField(max_length=20, blank=True)
    action = models.CharField(max_length=60, db_index=True)
    object_type = models.CharField(max_length=40, blank=True)
    object_id = models.CharField(max_length=40, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    client = models.CharField(max_length=200, blank=True)
    prev_hash = models.CharField(max_length=64)
    event_hash = models.CharField(max_length=64)
    # HMAC-SHA256 of event_hash under the audit key (AUDIT_KEY, never in the database): a row
    # inserted or rewritten by someone who does not hold the key cannot carry a valid MAC.
    mac = models.CharField(max_length=64, blank=True, db_default="")
    mac_key_id = models.CharField(max_length=16, blank=True, db_default="")
    # The exact bytes ``event_hash`` is the SHA-256 of. On PostgreSQL a CHECK constraint (migration
    # 0022) ties them to the columns, so verify hashes them instead of rebuilding them from the row.
    # NULL for an event found rewritten when they were introduced: verify recomputes those.
    canonical = models.BinaryField(null=True, blank=True, editable=False)

    class Meta:
        db_table = "checklist_audit_event"
        ordering = ["chain", "seq"]
        constraints = [models.UniqueConstraint(fields=["chain", "seq"], name="audit_event_chain_seq_unique")]
        indexes = [models.Index(fields=["at"]), models.Index(fields=["case", "seq"])]

    def __str__(self) -> str:
        return f"{self.chain}#{self.seq} {self.action}"

    @property
    def acted_at_differs(self) -> bool:
        """Whether the trail shows the device's time beside the server's: it was sent later (a
        queued write) or the device's clock is off, by ``ACTED_AT_SHOWN_AFTER`` or more."""
        return self.acted_at is not None and abs(self.at - self.acted_at) >= ACTED_AT_SHOWN_AFTER


# A request's own travel time is not worth a second timestamp on the trail.
ACTED_AT_SHOWN_AFTER = timedelta(minutes=1)


class AuditSeal(models.Model):
    """A periodic record of the head of every chain that moved since the previous seal, itself
    chained, so a truncated or deleted chain is detected. Together the seals vouch for every head
    ever sealed; each one stays as small as the activity since the one before."""

    seq = models.PositiveBigIntegerField(unique=True)
    at = models.DateTimeField()
    heads = models.JSONField(help_text="{chain: [last_seq, last_hash]} for the chains that moved since the last seal")
    event_count = models.PositiveBigIntegerField()
    prev_hash = models.CharField(max_length=64)
    seal_hash = models.CharField(max_length=64)
    # HMAC-SHA256 of seal_hash under a key derived from AUDIT_KEY (never stored in the database):
    # someone who can rewrite the tables but does not hold the key cannot forge a seal.
    mac = models.CharField(max_length=64, blank=True)
    mac_key_id = models.CharField(max_length=16, blank=True)

    class Meta:
        db_table = "checklist_audit_seal"
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"seal #{self.seq}"


class AuditSealTimestamp(models.Model):
    """An RFC 3161 time-stamp of one seal, from the time-stamping authority at ``TSA_URL``.

    Append-only (migration 0015). The token's message imprint is the seal's hash (SHA-256 of its
    canonical JSON) and it is signed with the TSA's key, which neither the database nor
    ``AUDIT_KEY`` holds: a rewritten seal cannot get a token dated when the seal was taken."""

    seal = models.OneToOneField(AuditSeal, on_delete=models.PROTECT, related_name="timestamp")
    seal_seq = models.PositiveBigIntegerField()
    seal_hash = models.CharField(max_length=64, help_text="The hash the token vouches for")
    token = models.BinaryField(help_text="The TSA's TimeStampResp, DER (it carries the TimeStampToken)")
    gen_time = models.DateTimeField(help_text="The TSA's genTime")
    tsa_certificate_sha256 = models.CharField(max_length=64, help_text="SHA-256 of the TSA certificate (DER)")
    recorded_at = models.DateTimeField()

    class Meta:
        db_table = "checklist_audit_seal_timestamp"
        ordering = ["seal_seq"]

    def __str__(self) -> str:
        return f"time-stamp of seal #{self.seal_seq} ({self.gen_time:%Y-%m-%d %H:%M:%S})"


class AuditTimestampStatus(models.Model):
    """The time-stamping queue's state (one row): when it last tried, why it last failed and
    when it tries again. Mutable; the tokens themselves are in ``AuditSealTimestamp``."""

    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    failures = models.PositiveIntegerField(default=0, help_text="Failed attempts in a row")
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "checklist_audit_timestamp_status"

    def __str__(self) -> str:
        return "time-stamping status"


class AuditVerificationRun(models.Model):
    """One run of the audit chain verification (nightly, or "verify now" by a quality officer)."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    requested_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+", help_text="Null for nightly runs."
    )
    total_events = models.PositiveBigIntegerField(default=0)
    checked_events = models.PositiveBigIntegerField(default=0)
    ok = models.BooleanField(null=True, blank=True, help_text="Null while running.")
    first_problem = models.TextField(blank=True)
    problems_count = models.PositiveIntegerField(default=0)
    seal = models.ForeignKey(AuditSeal, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    scope = models.CharField(
        max_length=12, default="full", help_text="full: the whole trail; incremental: since a time-stamped seal"
    )
    # The newest time-stamped seal whose events this run verified (read before the events): the
    # next incremental run may start from it if this run found the trail intact.
    anchor_seal = models.ForeignKey(AuditSeal, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    start_seal = models.ForeignKey(
        AuditSeal, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        help_text="Incremental runs: the time-stamped seal the events were verified from",
    )  # fmt: skip

    class Meta:
        db_table = "checklist_audit_verification_run"
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"verification run {self.pk} ({self.started_at:%Y-%m-%d %H:%M})"
