"""Checklist models. Nothing outside checklist.services writes them."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.functional import cached_property

from checklist import roles


class User(AbstractUser):
    """A person who uses RightLevel. ``full_name`` is the printed name on every signature."""

    full_name = models.CharField(max_length=200, help_text="Printed name shown on signatures.")
    # Signing lock (21 CFR 11.300): set after repeated failed signing attempts.
    signing_locked_at = models.DateTimeField(null=True, blank=True)
    # Set when an administrator sets the password; cleared when the user chooses their own. While
    # set, the user may not sign anything: an administrator cannot sign as someone else.
    password_set_by_admin_at = models.DateTimeField(null=True, blank=True)

    REQUIRED_FIELDS = ["full_name", "email"]

    class Meta:
        db_table = "checklist_user"
        permissions = list(roles.PERMISSIONS)
        constraints = [
            models.CheckConstraint(condition=~models.Q(full_name=""), name="user_full_name_not_empty"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.username

    @cached_property
    def group_names(self) -> frozenset[str]:
        """The names of this user's groups (their roles), read once per user object."""
        return frozenset(self.groups.values_list("name", flat=True))

    @cached_property
    def room_ids(self) -> frozenset[int]:
        """The rooms this user is on the staff of, read once per user object (one per request)."""
        return frozenset(Room.staff.through.objects.filter(user_id=self.pk).values_list("room_id", flat=True))

    def access_forget(self) -> None:
        """Drop the cached roles and rooms (after the user's groups or rooms change)."""
        for name in ("group_names", "role", "room_ids"):
            self.__dict__.pop(name, None)

    @cached_property
    def role(self) -> str | None:
        """The role this user acts under (see checklist.roles.ROLES for the order)."""
        return roles.primary_role(self.group_names)

    @property
    def role_label(self) -> str:
        return roles.ROLE_LABELS.get(self.role or "", "No role")


class WorkerHeartbeat(models.Model):
    """The last time each Celery worker proved it was alive by running the heartbeat task."""

    hostname = models.CharField(max_length=255, unique=True)
    last_seen = models.DateTimeField()
    beats = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.hostname} @ {self.last_seen:%Y-%m-%d %H:%M:%S}"


# ------------------------------------------------------------------------------------------------
# Rooms, patients and cases
# ------------------------------------------------------------------------------------------------


class Room(models.Model):
    """An operating room. Nurses, anesthesia and radiographers act on the cases of their rooms."""

    name = models.CharField(max_length=40, unique=True)
    staff = models.ManyToManyField(User, related_name="rooms", blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Patient(models.Model):
    mrn = models.CharField("MRN", max_length=40, unique=True)
    family_name = models.CharField(max_length=120)
    given_name = models.CharField(max_length=120)
    date_of_birth = models.DateField()
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["family_name", "given_name"]

    def __str__(self) -> str:
        return f"{self.family_name.upper()}, {self.given_name} (MRN {self.mrn})"


class Procedure(models.TextChoices):
    SELECTIVE_NERVE_ROOT_BLOCK = "selective_nerve_root_block", "Selective nerve root block"
    TRANSFORAMINAL_EPIDURAL_INJECTION = "transforaminal_epidural_injection", "Transforaminal epidural injection"
    INTERLAMINAR_EPIDURAL_INJECTION = "interlaminar_epidural_injection", "Interlaminar epidural injection"
    VERTEBRAL_AUGMENTATION = "vertebral_augmentation", "Vertebral augmentation"
    DECOMPRESSION = "decompression", "Decompression"
    DISCECTOMY = "discectomy", "Discectomy"
    FUSION = "fusion", "Fusion"


class Side(models.TextChoices):
    LEFT = "left", "Left"
    RIGHT = "right", "Right"
    BILATERAL = "bilateral", "Bilateral"
    MIDLINE = "midline", "Midline"


class CaseState(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    SIGN_IN = "sign_in", "Sign in"
    TIME_OUT = "time_out", "Time-out"
    LOCALIZATION = "localization", "Localization"
    SIGN_OUT = "sign_out", "Sign out"
    COMPLETED = "completed", "Completed"
    COMPLETED_WRONG_LEVEL = "completed_wrong_level", "Completed with a wrong-level event"
    CANCELLED = "cancelled", "Cancelled"


# States in which nothing more is recorded, and the room is free for the next patient.
CLOSED_STATES = (CaseState.COMPLETED, CaseState.COMPLETED_WRONG_LEVEL, CaseState.CANCELLED)


class Verdict(models.TextChoices):
    PASS = "pass", "Pass"
    STOP = "stop", "Stop"
    INCOMPLETE = "incomplete", "Incomplete"


class Case(models.Model):
    """One spine procedure. ``version`` changes on every write to the case or anything in it
    (devices poll it); ``evidence_version`` only when the level evidence changes (a write made
    on stale evidence is refused with 409)."""

    # Not a column: what the reminder rules read, as it was when a service locked the case
    # (services.common.case_lock); case_touch reconciles reminders only when it changed.
    reminder_inputs_at_lock: tuple[object, ...] | None = None

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="cases")
    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="cases")
    scheduled_start = models.DateTimeField(db_index=True)
    surgeon = models.ForeignKey(User, on_delete=models.PROTECT, related_name="cases_as_surgeon")
    co_surgeons = models.ManyToManyField(User, related_name="cases_as_co_surgeon", blank=True)
    anesthesia = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="cases_as_anesthesia", null=True, blank=True
    )
    procedure = models.CharField(max_length=60, choices=Procedure.choices)
    state = models.CharField(max_length=24, choices=CaseState.choices, default=CaseState.SCHEDULED)
    version = models.PositiveIntegerField(default=1)
    evidence_version = models.PositiveIntegerField(default=1)
    verdict = models.CharField(max_length=12, choices=Verdict.choices, default=Verdict.INCOMPLETE)
    latest_verdict = models.ForeignKey(
        "LevelVerdict", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The verdict that opened the current unresolved stop; its resolution becomes a near miss.
    open_stop_verdict = models.ForeignKey(
        "LevelVerdict", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    patient_in_room_at = models.DateTimeField(null=True, blank=True)
    time_out_completed_at = models.DateTimeField(null=True, blank=True)
    localization_passed_at = models.DateTimeField(null=True, blank=True)
    procedure_ended_at = models.DateTimeField(null=True, blank=True)
    signed_out_at = models.DateTimeField(null=True, blank=True)
    treated_levels = models.CharField(max_length=200, blank=True)
    # Set when an anatomy record changed after a level image was read (its counts were superseded);
    # the quality officers see these cases (contract v2: anatomy is never edited to fit a count).
    anatomy_changed_after_count_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["scheduled_start", "id"]
        indexes = [models.Index(fields=["room", "scheduled_start"])]
        permissions = []

    def __str__(self) -> str:
        return f"Case {self.pk} · {self.get_procedure_display()} · {self.room}"


# ------------------------------------------------------------------------------------------------
# Evidence
# ------------------------------------------------------------------------------------------------


class EvidenceBase(models.Model):
    """Evidence is never edited: a correction is a new row that supersedes the old one."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()
    superseded_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        abstract = True


class PlanVersion(models.Model):
    """One version of the surgeon's plan. Immutable once signed; a change is a new version."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="plan_versions")
    number = models.PositiveIntegerField()
    procedure = models.CharField(max_length=60, choices=Procedure.choices)
    structure = models.CharField(max_length=20)
    levels = models.CharField(max_length=200, help_text="Canonical units, comma-separated, e.g. 'L1-L2, L2-L3'.")
    side = models.CharField(max_length=12, choices=Side.choices)
    approach = models.CharField(max_length=200, blank=True)
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    signed_at = models.DateTimeField(null=True, blank=True)
    signature = models.OneToOneField(
        "Signature", on_delete=models.PROTECT, null=True, blank=True, related_name="signed_plan"
    )
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["case", "number"]
        constraints = [models.UniqueConstraint(fields=["case", "number"], name="plan_version_unique_number")]

    def __str__(self) -> str:
        return f"Plan v{self.number} of case {self.case_id}"


class Consent(EvidenceBase):
    procedure = models.CharField(max_length=60, choices=Procedure.choices)
    levels = models.CharField(max_length=200)
    side = models.CharField(max_length=12, choices=Side.choices)
    date_signed = models.DateField()
    witness = models.CharField(max_length=200)
    scan = models.FileField(upload_to="consent-scans/%Y/%m/", blank=True)
    scan_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["case", "recorded_at", "id"]

    def __str__(self) -> str:
        return f"Consent {self.procedure} {self.levels} {self.side} (case {self.case_id})"


class MarkingRegion(models.TextChoices):
    """The regions of contract v2 (rule 1): a junction is an exact list of vertebrae."""

    CERVICAL = "cervical", "Cervical"
    THORACIC = "thoracic", "Thoracic"
    LUMBAR = "lumbar", "Lumbar"
    SACRAL = "sacral", "Sacral"
    CERVICOTHORACIC = "cervicothoracic", "Cervicothoracic (C6 to T2)"
    THORACOLUMBAR = "thoracolumbar", "Thoracolumbar (last two thoracic, L1, L2)"
    LUMBOSACRAL = "lumbosacral", "Lumbosacral (last two lumbar, S1)"


class SiteMarking(EvidenceBase):
    region = models.CharField(max_length=20, choices=MarkingRegion.choices)
    side = models.CharField(max_length=12, choices=Side.choices)
    marked_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["case", "recorded_at", "id"]

    def __str__(self) -> str:
        return f"Marking {self.region} {self.side} (case {self.case_id})"


class Modality(models.TextChoices):
    MRI = "mri", "MRI"
    CT = "ct", "CT"
    XRAY = "xray", "X-ray"


class PreopImaging(EvidenceBase):
    modality = models.CharField(max_length=10, choices=Modality.choices)
    study_date = models.DateField()
    levels = models.CharField(max_length=200, help_text="Level of the pathology.")
    reviewed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["case", "recorded_at", "id"]

    def __str__(self) -> str:
        return f"Pre-op {self.get_modality_display()} {self.levels} (case {self.case_id})"


class AnatomySource(models.TextChoices):
    WHOLE_SPINE = "whole_spine", "Counted from C2 on whole-spine imaging"
    LUMBAR_ONLY = "lumbar_only", "Lumbar-only imaging"


class AnatomyRecord(EvidenceBase):
    thoracic = models.PositiveSmallIntegerField(default=12)
    lumbar = models.PositiveSmallIntegerField(default=5)
    lowest_rib = models.CharField(max_length=4)
    lowest_mobile = models.CharField(max_length=4)
    source = models.CharField(max_length=20, choices=AnatomySource.choices)

    class Meta:
        ordering = ["case", "recorded_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(thoracic__gte=11, thoracic__lte=13), name="anatomy_thoracic_range"
            ),
            models.CheckConstraint(condition=models.Q(lumbar__gte=4, lumbar__lte=6), name="anatomy_lumbar_range"),
        ]

    def __str__(self) -> str:
        return f"Anatomy T{self.thoracic}/L{self.lumbar} (case {self.case_id})"


class Reference(models.TextChoices):
    SACRUM = "sacrum", "Sacrum"
    C2 = "c2", "C2"
    LAST_RIB = "last_rib", "Last rib"


class LocalizationPhase(models.TextChoices):
    PRE_INCISION = "pre_incision", "Before incision"
    AFTER_EXPOSURE = "after_exposure", "After exposure"
    BEFORE_IRREVERSIBLE = "before_irreversible", "Before the irreversible step"


class Localization(EvidenceBase):
    """One read of the level image. ``superseded_at`` is set when the plan changes (its
    confirmation depended on the old plan) or when it is withdrawn."""

    phase = models.CharField(max_length=24, choices=LocalizationPhase.choices)
    reference = models.CharField(max_length=10, choices=Reference.choices)
    count = models.PositiveSmallIntegerField()
    label = models.CharField(max_length=20)
    # Where the marker or needle is on the image, when the view shows it (contract v2, rule 3).
    side = models.CharField(max_length=5, blank=True, default="")
    marker_in_place = models.BooleanField()
    durable_mark_placed = models.BooleanField(default=False)
    read_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    plan_version = models.ForeignKey(PlanVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    confirmed_signature = models.OneToOneField(
        "Signature", on_delete=models.PROTECT, null=True, blank=True, related_name="confirmed_localization"
    )

    class Meta:
        ordering = ["case", "recorded_at", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(count__gte=1), name="localization_count_positive"),
            models.CheckConstraint(condition=models.Q(side__in=["", "left", "right"]), name="localization_side_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} count {self.count} = {self.label} (case {self.case_id})"


# ------------------------------------------------------------------------------------------------
# Verdicts, checklist runs, signatures, near misses
# ------------------------------------------------------------------------------------------------


class LevelVerdict(models.Model):
    """A level-check verdict the workflow acted on, with the exact input it was computed from."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="verdicts")
    computed_at = models.DateTimeField()
    stage = models.CharField(max_length=20)
    verdict = models.CharField(max_length=12, choices=Verdict.choices)
    findings = models.JSONField()
    request = models.JSONField()
    evidence_version = models.PositiveIntegerField()
    trigger = models.CharField(max_length=60)
    triggered_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["case", "computed_at", "id"]

    def __str__(self) -> str:
        return f"{self.verdict} at {self.stage} (case {self.case_id})"


class ChecklistRun(models.Model):
    case = models.OneToOneField(Case, on_delete=models.PROTECT, related_name="checklist_run")
    template_code = models.CharField(max_length=60)
    template_version = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    started_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")

    def __str__(self) -> str:
        return f"{self.template_code} v{self.template_version} for case {self.case_id}"


class StepAttestation(models.Model):
    """One role's attestation of one checklist step. Voided (never deleted) when the plan changes."""

    run = models.ForeignKey(ChecklistRun, on_delete=models.PROTECT, related_name="attestations")
    step_code = models.CharField(max_length=80)
    phase = models.CharField(max_length=20)
    role = models.CharField(max_length=20)
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    attested_at = models.DateTimeField()
    evidence_version = models.PositiveIntegerField()
    plan_version = models.ForeignKey(PlanVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    voided_at = models.DateTimeField(null=True, blank=True)
    voided_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["run", "attested_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "step_code", "role"],
                condition=models.Q(voided_at__isnull=True),
                name="one_live_attestation_per_step_and_role",
            )
        ]

    def __str__(self) -> str:
        return f"{self.step_code} by {self.role} (run {self.run_id})"


class SignatureMeaning(models.TextChoices):
    APPROVED_PLAN = "approved plan", "Approved plan"
    CONFIRMED_LEVEL = "confirmed level", "Confirmed level"
    WRONG_LEVEL_STATEMENT = "wrong-level statement", "Wrong-level event statement"


class Signature(models.Model):
    """An e-signature (21 CFR 11.50/11.70): who, printed name, when, meaning, and the hash of the
    exact content signed. A signature whose content no longer hashes the same is invalid."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="signatures")
    signer = models.ForeignKey(User, on_delete=models.PROTECT, related_name="signatures")
    printed_name = models.CharField(max_length=200)
    signer_role = models.CharField(max_length=20)
    meaning = models.CharField(max_length=40, choices=SignatureMeaning.choices)
    signed_at = models.DateTimeField()
    subject_type = models.CharField(max_length=40)
    subject_id = models.PositiveBigIntegerField()
    content_hash = models.CharField(max_length=64)
    content = models.JSONField(help_text="The canonical content that was signed.")
    # HMAC-SHA256 under the audit key of who signed what, when, with which meaning and the content
    # hash (audit.signature_binding): a signature re-hashed in the database no longer verifies.
    mac = models.CharField(max_length=64, blank=True, db_default="")
    mac_key_id = models.CharField(max_length=16, blank=True, db_default="")

    class Meta:
        ordering = ["case", "signed_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["subject_type", "subject_id", "meaning"], name="one_signature_per_subject")
        ]

    def __str__(self) -> str:
        return f"{self.printed_name}: {self.meaning} at {self.signed_at:%Y-%m-%d %H:%M}"


class SigningFailure(models.Model):
    """Consecutive failed signing attempts of a user (21 CFR 11.300); cleared by a good signature."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="signing_failures")
    at = models.DateTimeField()
    case = models.ForeignKey(Case, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    cleared_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"failed signing by user {self.user_id} at {self.at:%Y-%m-%d %H:%M:%S}"


class NearMiss(models.Model):
    """A stop that was later resolved by new evidence: a wrong-level error caught in time."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="near_misses")
    codes = models.JSONField(help_text="Stop finding codes, e.g. ['CONSENT_MISMATCH'].")
    kind = models.CharField(max_length=20, help_text="consent, marking, imaging or count.")
    findings = models.JSONField()
    stop_verdict = models.ForeignKey(LevelVerdict, on_delete=models.PROTECT, related_name="+")
    resolving_verdict = models.ForeignKey(LevelVerdict, on_delete=models.PROTECT, related_name="+")
    caught_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    caught_at = models.DateTimeField()
    resolved_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    resolved_at = models.DateTimeField()
    resolution = models.CharField(max_length=300)
    learning_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-resolved_at", "id"]

    def __str__(self) -> str:
        return f"Near miss {self.kind} (case {self.case_id})"


class AdverseEvent(models.Model):
    """A wrong-level treatment, recorded as treated at sign-out: never a near miss. The surgeon's
    statement is e-signed; quality officers and administrators are alerted when it is recorded."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="adverse_events")
    kind = models.CharField(max_length=20, default="wrong_level")
    planned_levels = models.CharField(max_length=200)
    treated_levels = models.CharField(max_length=200)
    statement = models.TextField()
    signature = models.OneToOneField(Signature, on_delete=models.PROTECT, related_name="+")
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()
    alerted = models.JSONField(default=list, help_text="Usernames alerted at once (quality officers, admins).")

    class Meta:
        ordering = ["-recorded_at", "id"]

    def __str__(self) -> str:
        return f"Wrong-level event (case {self.case_id}): planned {self.planned_levels}, treated {self.treated_levels}"


# ------------------------------------------------------------------------------------------------
# Audit trail
# ------------------------------------------------------------------------------------------------


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

    class Meta:
        db_table = "checklist_audit_event"
        ordering = ["chain", "seq"]
        constraints = [models.UniqueConstraint(fields=["chain", "seq"], name="audit_event_chain_seq_unique")]
        indexes = [models.Index(fields=["at"]), models.Index(fields=["case", "seq"])]

    def __str__(self) -> str:
        return f"{self.chain}#{self.seq} {self.action}"


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


# ------------------------------------------------------------------------------------------------
# Reminders and notifications (the outbox)
# ------------------------------------------------------------------------------------------------


class ReminderRule(models.Model):
    """When to remind whom about what. Defaults come from checklist.reminder_rules; the timing,
    recipients and on/off switch are editable in the admin."""

    code = models.CharField(max_length=60, unique=True)
    description = models.CharField(max_length=300)
    anchor = models.CharField(max_length=30, help_text="What the offset counts from.")
    offset_minutes = models.IntegerField(help_text="Minutes after the anchor (negative = before).")
    condition = models.CharField(max_length=40, help_text="What must still be true for the reminder to go out.")
    recipients = models.JSONField(help_text="Recipient groups, e.g. ['surgeon', 'charge_nurse'].")
    escalation = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class ReminderState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


class Reminder(models.Model):
    """One reminder to one person, written or cancelled in the same transaction as the change
    that makes it due or moot; the beat sweep claims due rows and delivers them."""

    rule = models.ForeignKey(ReminderRule, on_delete=models.PROTECT, related_name="reminders")
    case = models.ForeignKey(Case, on_delete=models.PROTECT, null=True, blank=True, related_name="reminders")
    recipient = models.ForeignKey(User, on_delete=models.PROTECT, related_name="reminders")
    occurrence = models.CharField(max_length=60, help_text="Which occurrence of the rule (anchor time or stop id).")
    dedupe_key = models.CharField(max_length=200, unique=True)
    due_at = models.DateTimeField()
    state = models.CharField(max_length=12, choices=ReminderState.choices, default=ReminderState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)

    class Meta:
        db_table = "checklist_reminder"
        ordering = ["due_at", "id"]
        indexes = [
            # The sweep's query: pending rows that are due, oldest first.
            models.Index(fields=["due_at"], condition=models.Q(state="pending"), name="reminder_pending_due_idx"),
            models.Index(fields=["case", "state"], name="reminder_case_state_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} → {self.recipient_id} at {self.due_at:%Y-%m-%d %H:%M}"


class Notification(models.Model):
    """An in-app notification (the bell)."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="notifications")
    reminder = models.OneToOneField(
        Reminder, on_delete=models.PROTECT, null=True, blank=True, related_name="notification"
    )
    case = models.ForeignKey(Case, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    title = models.CharField(max_length=200)
    body = models.TextField()
    link = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_unread_idx")]

    def __str__(self) -> str:
        return self.title


class NotificationPreference(models.Model):
    """Per-user channels. In-app notifications are always on; e-mail and paging are choices."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="notification_preference")
    email = models.BooleanField(default=True)
    webhook = models.BooleanField(default=False, help_text="Also page through the hospital's paging webhook.")
    pager_id = models.CharField(max_length=60, blank=True)

    def __str__(self) -> str:
        return f"preferences of {self.user_id}"


class DeliveryChannel(models.TextChoices):
    EMAIL = "email", "E-mail"
    WEBHOOK = "webhook", "Webhook"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    ATTEMPTING = "attempting", "Send attempted"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Delivery(models.Model):
    """One external send (an e-mail or a webhook POST) waiting in the outbox. Written in the
    transaction that delivers the in-app notification (or that locks signing); sent later, outside
    any transaction, by ``deliveries_send``. "Send attempted" is committed before the network is
    touched and a row marked sent is never sent again."""

    reminder = models.ForeignKey(Reminder, on_delete=models.PROTECT, null=True, blank=True, related_name="deliveries")
    channel = models.CharField(max_length=12, choices=DeliveryChannel.choices)
    key = models.CharField(max_length=200, help_text="Idempotency key the receiver sees (one send per channel).")
    to = models.JSONField(default=list, blank=True, help_text="E-mail addresses (the webhook URL is configured).")
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    html = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=12, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField()
    attempted_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        db_table = "checklist_delivery"
        ordering = ["next_attempt_at", "id"]
        verbose_name_plural = "deliveries"
        constraints = [models.UniqueConstraint(fields=["channel", "key"], name="delivery_channel_key_unique")]
        indexes = [
            models.Index(
                fields=["channel", "next_attempt_at"],
                condition=models.Q(state__in=["pending", "attempting"]),
                name="delivery_due_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.key} ({self.state})"
