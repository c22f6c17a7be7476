"""The append-only, hash-chained audit trail: append, verify, seal.

Each case has its own chain (``case-<id>``) and everything else goes to the ``system`` chain, so
appends in different rooms never wait for each other. An event's hash is the SHA-256 of its
canonical JSON, which includes the previous event's hash. A seal records the head of every chain
and is chained to the previous seal, so deleting the tail of a chain (or a whole chain) is detected
even though each remaining event still hashes correctly. Database triggers (migration 0004) refuse
UPDATE and DELETE on both tables.

The hashes are public arithmetic, so every event, seal and signature also carries an HMAC under the
audit key (``AUDIT_KEY``, which the database never holds): a row inserted or rewritten by anyone
who does not hold the key, even with every hash computed correctly, is named by ``verify``.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, cast

from django.conf import settings
from django.db import connection, transaction
from django.db.models import BigIntegerField, F, Q, Sum, Value, When
from django.db.models import Case as DbCase
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.utils.crypto import salted_hmac

from checklist import reconcile, timestamps
from checklist.models import AuditChainHead, AuditEvent, AuditSeal, Case, User

GENESIS_HASH = "0" * 64
SYSTEM_CHAIN = "system"


def case_chain(case_id: int) -> str:
    return f"case-{case_id}"


# --- request context (set by middleware, tasks and commands; read by append) --------------------


@dataclass(frozen=True)
class AuditContext:
    request_id: str = ""
    client: str = ""


_EMPTY_CONTEXT = AuditContext()
_context: contextvars.ContextVar[AuditContext | None] = contextvars.ContextVar("audit_context", default=None)


@contextmanager
def audit_context(*, request_id: str = "", client: str = "") -> Iterator[None]:
    token = _context.set(AuditContext(request_id=request_id[:64], client=client[:200]))
    try:
        yield
    finally:
        _context.reset(token)


# --- canonical form ------------------------------------------------------------------------------


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> bytes:
    """Stable bytes for hashing: sorted keys, no whitespace, UTF-8 (the same bytes as
    ``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``)."""
    return _CANONICAL.encode(value).encode("utf-8")


def jsonable(value: Any) -> Any:
    """The JSON value exactly as it will be stored and read back, on SQLite and on PostgreSQL.

    Dates become ISO strings. Floats are brought to the form PostgreSQL's jsonb gives back (an
    integral float of 1e16 or more comes back as an integer, -0.0 as 0.0), so the hash computed
    at append time is the hash recomputed from the stored row. NaN and infinities are refused:
    they are not JSON.
    """
    if value is None:
        return None
    return json.loads(json.dumps(value, default=_json_default, allow_nan=False), parse_float=_parse_float)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _parse_float(text: str) -> float | int:
    number = float(text)
    if number == 0:
        return 0.0
    if abs(number) >= 1e16 and number.is_integer():
        return int(number)
    return number


def _timestamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


# The fields an event's hash covers, in the order ``verify`` reads them. ``id`` is not covered: an
# event is identified by (chain, seq), which is.
HASHED_FIELDS = (
    "chain",
    "seq",
    "at",
    "case_id",
    "actor_id",
    "actor_username",
    "actor_name",
    "actor_role",
    "action",
    "object_type",
    "object_id",
    "before",
    "after",
    "reason",
    "request_id",
    "client",
    "prev_hash",
)
_AT = HASHED_FIELDS.index("at")


def _payload(values: tuple[Any, ...] | list[Any]) -> dict[str, Any]:
    payload = dict(zip(HASHED_FIELDS, values, strict=True))
    payload["at"] = _timestamp(values[_AT])
    return payload


def event_payload(event: AuditEvent) -> dict[str, Any]:
    """What an event's hash covers: everything it says, and the previous event's hash."""
    return _payload([getattr(event, name) for name in HASHED_FIELDS])


def event_hash(event: AuditEvent) -> str:
    return hashlib.sha256(canonical_json(event_payload(event))).hexdigest()


def seal_payload(seal: AuditSeal) -> dict[str, Any]:
    return {
        "seq": seal.seq,
        "at": _timestamp(seal.at),
        "heads": seal.heads,
        "event_count": seal.event_count,
        "prev_hash": seal.prev_hash,
    }


def seal_hash(seal: AuditSeal) -> str:
    return hashlib.sha256(canonical_json(seal_payload(seal))).hexdigest()


SEAL_KEY_SALT = "rightlevel.audit.seal"
EVENT_KEY_SALT = "rightlevel.audit.event"
SIGNATURE_KEY_SALT = "rightlevel.audit.signature"


@dataclass(frozen=True)
class AuditKey:
    """The keys derived from one audit secret, one per purpose; ``key_id`` names the secret (a hash
    of its seal key, so seals keyed before AUDIT_KEY existed keep their key ids)."""

    key_id: str
    seal: bytes
    event: bytes
    signature: bytes


def _derive(salt: str, value: str, secret: str) -> bytes:
    return salted_hmac(salt, value, secret=secret, algorithm="sha256").digest()


@lru_cache(maxsize=8)
def _keyring(secrets: tuple[str, ...]) -> tuple[AuditKey, ...]:
    keys: dict[str, AuditKey] = {}
    for secret in secrets:
        seal_key = _derive(SEAL_KEY_SALT, "audit seal key", secret)
        key_id = hashlib.sha256(seal_key).hexdigest()[:16]
        event_key = _derive(EVENT_KEY_SALT, "audit event key", secret)
        signature_key = _derive(SIGNATURE_KEY_SALT, "signature key", secret)
        keys.setdefault(key_id, AuditKey(key_id, seal_key, event_key, signature_key))
    return tuple(keys.values())


def audit_keys() -> tuple[AuditKey, ...]:
    """The audit keys, the current one first: from AUDIT_KEY and then each of AUDIT_KEY_FALLBACKS,
    so rotating the key keeps old events, signatures and seals checkable as long as the old key
    stays among the fallbacks. Without AUDIT_KEY (development only) they come from SECRET_KEY and
    its fallbacks. The keys never reach the database."""
    if settings.AUDIT_KEY:
        secrets = (settings.AUDIT_KEY, *settings.AUDIT_KEY_FALLBACKS)
    else:
        secrets = (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS)
    return _keyring(tuple(secrets))


def audit_keys_by_id() -> dict[str, AuditKey]:
    return {key.key_id: key for key in audit_keys()}


def seal_keys() -> dict[str, bytes]:
    """The keys seals are signed with, by key id, the current one first."""
    return {key.key_id: key.seal for key in audit_keys()}


def seal_mac(seal_hash_hex: str, key: bytes) -> str:
    """HMAC-SHA256 of a seal's hash. The hash covers the previous seal's hash, so the newest keyed
    seal vouches for every seal before it."""
    return hmac.new(key, seal_hash_hex.encode("ascii"), hashlib.sha256).hexdigest()


def event_mac(event_hash_hex: str, key: bytes) -> str:
    """HMAC-SHA256 of an event's hash, which covers everything the event says and the previous
    event's hash."""
    return hmac.digest(key, event_hash_hex.encode("ascii"), "sha256").hex()


def event_genuine(event: AuditEvent) -> bool:
    """True if ``event`` still hashes to its stored hash and carries a valid MAC under a key this
    server holds: it was written by RightLevel and has not been changed since."""
    key = audit_keys_by_id().get(event.mac_key_id or "")
    if key is None or not event.mac or event_hash(event) != event.event_hash:
        return False
    return hmac.compare_digest(event_mac(event.event_hash, key.event), event.mac)


def token_binding(digest: str, key: AuditKey | None = None) -> str:
    """A keyed MAC of an API token's digest, recorded in its ``token.created`` event: a token row
    inserted behind the application's back has no genuine event carrying it, so it is refused."""
    key = key or audit_keys()[0]
    return hmac.digest(key.event, b"api-token:" + digest.encode("ascii"), "sha256").hex()


def signature_binding(signature: Any) -> bytes:
    """What a signature's MAC covers: the case, who signed (id, printed name, role), the meaning,
    the time, what was signed and the hash of the exact content signed."""
    return canonical_json(
        {
            "case_id": signature.case_id,
            "signer_id": signature.signer_id,
            "printed_name": signature.printed_name,
            "signer_role": signature.signer_role,
            "meaning": signature.meaning,
            "signed_at": _timestamp(signature.signed_at),
            "subject_type": signature.subject_type,
            "subject_id": signature.subject_id,
            "content_hash": signature.content_hash,
        }
    )


def signature_key(signature: Any) -> None:
    """Set the signature's MAC with the current audit key (before it is saved)."""
    key = audit_keys()[0]
    signature.mac_key_id = key.key_id
    signature.mac = hmac.digest(key.signature, signature_binding(signature), "sha256").hex()


def signature_mac_valid(signature: Any) -> bool:
    """True if the signature carries a MAC made with a key this server holds over what it says now."""
    key = audit_keys_by_id().get(signature.mac_key_id or "")
    if key is None or not signature.mac:
        return False
    expected = hmac.digest(key.signature, signature_binding(signature), "sha256").hex()
    return hmac.compare_digest(expected, signature.mac)


# --- append --------------------------------------------------------------------------------------


def chain_head_create(chain: str) -> None:
    """Create the head row of a new chain (inside the transaction that creates its case)."""
    AuditChainHead.objects.get_or_create(chain=chain)


def append(
    *,
    action: str,
    actor: User | None,
    case: Case | None = None,
    obj: Any = None,
    object_type: str = "",
    object_id: str | int = "",
    before: Any = None,
    after: Any = None,
    reason: str = "",
) -> AuditEvent:
    """Append one event to the case's chain (or the system chain). Must run inside the
    transaction that makes the change it records, so both commit or neither does."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit.append must run inside the transaction that makes the change")
    chain = case_chain(case.pk) if case is not None else SYSTEM_CHAIN
    head = AuditChainHead.objects.select_for_update().filter(chain=chain).first()
    if head is None:
        chain_head_create(chain)
        head = AuditChainHead.objects.select_for_update().get(chain=chain)
    context = _context.get() or _EMPTY_CONTEXT
    if obj is not None:
        object_type = object_type or type(obj).__name__
        object_id = object_id or getattr(obj, "pk", "") or ""
    event = AuditEvent(
        chain=chain,
        seq=head.last_seq + 1,
        case=case,
        at=timezone.now(),
        actor=actor,
        actor_username=actor.username if actor else "",
        actor_name=actor.full_name if actor else "",
        actor_role=(actor.role or "") if actor else "",
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before=jsonable(before),
        after=jsonable(after),
        reason=reason,
        request_id=context.request_id,
        client=context.client,
        prev_hash=head.last_hash,
    )
    event.event_hash = event_hash(event)
    key = audit_keys()[0]
    event.mac_key_id = key.key_id
    event.mac = event_mac(event.event_hash, key.event)
    event.save(force_insert=True)
    head.last_seq = event.seq
    head.last_hash = event.event_hash
    head.save(update_fields=["last_seq", "last_hash"])
    return event


# --- verify --------------------------------------------------------------------------------------

SEALS = "seals"
SEALED_ACTION = "audit.sealed"


@dataclass
class Problem:
    """One thing wrong with the trail. ``seq`` and ``event_id`` name the event where it shows
    (None when the event is gone); ``action`` is that event's action when it is still there."""

    chain: str
    seq: int | None
    event_id: int | None
    message: str
    action: str = ""

    def describe(self) -> str:
        if self.chain == SEALS:
            where = f"seal #{self.seq}" + (f" (id {self.event_id})" if self.event_id is not None else "")
        else:
            where = f"chain {self.chain}" + (f", event #{self.seq}" if self.seq is not None else "")
            details = [f"id {self.event_id}"] if self.event_id is not None else []
            if self.action:
                details.append(f"action {self.action}")
            where += f" ({', '.join(details)})" if details else ""
        return f"{where}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "chain": self.chain,
            "seq": self.seq,
            "event_id": self.event_id,
            "action": self.action or None,
            "message": self.message,
            "description": self.describe(),
        }


@dataclass
class TimestampSummary:
    """What ``verify`` found about the seals' RFC 3161 time-stamps."""

    enabled: bool = False  # TSA_URL is set
    stamped: int = 0  # tokens checked (valid or not)
    valid: int = 0  # tokens that verified against the TSA certificate for their seal's hash
    pending: int = 0  # seals that still wait for a token
    newest_seq: int | None = None  # the newest seal whose token verified
    newest_gen_time: datetime | None = None
    last_error: str = ""

    def describe(self) -> str:
        if not self.enabled and not self.stamped:
            return "time-stamping is off (TSA_URL is empty): no seal is time-stamped"
        parts = [f"{self.valid} of {self.stamped} time-stamp(s) verified"]
        if self.newest_seq is not None and self.newest_gen_time is not None:
            parts.append(f"newest time-stamped seal #{self.newest_seq} at {_timestamp(self.newest_gen_time)[:19]}Z")
        else:
            parts.append("no seal is time-stamped yet")
        if self.enabled:
            parts.append(f"{self.pending} seal(s) pending")
        else:
            parts.append("time-stamping is now off (TSA_URL is empty)")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "stamped": self.stamped,
            "valid": self.valid,
            "pending": self.pending,
            "newest_seal": self.newest_seq,
            "newest_gen_time": _timestamp(self.newest_gen_time) if self.newest_gen_time else None,
            "last_error": self.last_error or None,
        }


@dataclass
class VerifyReport:
    events: int = 0
    chains: int = 0
    seals: int = 0
    problems: list[Problem] = field(default_factory=list)
    timestamps: TimestampSummary = field(default_factory=TimestampSummary)
    # "full", or "incremental from seal #n": events before the chain heads that time-stamped seal
    # recorded were verified by an earlier run and are not read again.
    scope: str = "full"
    start_seal: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def summary(self) -> str:
        scope = "" if self.start_seal is None else f" (incremental: events since seal #{self.start_seal})"
        if self.ok:
            return (
                f"Audit trail intact{scope}: {self.events} events in {self.chains} chains, {self.seals} seals "
                f"verified. Time-stamps: {self.timestamps.describe()}."
            )
        return (
            f"Audit trail BROKEN{scope}: {len(self.problems)} problem(s) in {self.events} events, "
            f"{self.chains} chains, {self.seals} seals. Time-stamps: {self.timestamps.describe()}."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "chains": self.chains,
            "seals": self.seals,
            "problem_count": len(self.problems),
            "first_problem": self.first_problem.to_dict() if self.first_problem else None,
            "problems": [p.to_dict() for p in self.problems],
            "timestamps": self.timestamps.to_dict(),
            "scope": self.scope,
            "start_seal": self.start_seal,
        }


def chain_sort_key(chain: str) -> tuple[int, int, str]:
    """The order problems are reported in: the system chain, cases by id, anything else, seals."""
    if chain == SYSTEM_CHAIN:
        return (0, 0, "")
    if chain.startswith("case-") and chain[5:].isdigit():
        return (1, int(chain[5:]), "")
    if chain == SEALS:
        return (3, 0, "")
    return (2, 0, chain)


PROGRESS_EVERY = 1000


def verify(
    *,
    progress: Callable[[int], None] | None = None,
    chunk_size: int = 5000,
    reconcile_records: bool = True,
    since_seal: int | None = None,
) -> VerifyReport:
    """Recompute every chain and seal; report every problem, the first broken event first.

    Safe while the application keeps appending, without a lock or a long transaction: the seals,
    the chain heads and the list of cases are read before the events, so every event they
    promise must be there; events appended later only make the trail longer. ``progress`` is
    called with the number of events checked since its last call. ``reconcile_records`` also
    compares every clinical row with what its latest audit event says (checklist/reconcile.py).

    ``since_seal`` (incremental, the nightly run): the number of a time-stamped seal an earlier
    intact run covered. The seal chain and every time-stamp are still checked in full; each chain
    is read from the head the seals up to that one recorded (that event's hash must still be the
    sealed one, which the token pins), so the cost grows with the events since, not the trail.
    Events before those heads are not read again, and the records are not reconciled: the full
    run does both (docs/audit.md, "Incremental verification").
    """
    report = VerifyReport()
    seal_hashes: dict[int, str] = {}
    seal_rows: list[tuple[int, int, datetime, str]] = []
    starts: dict[str, int] = {}  # incremental: chain -> the sequence number it is read from
    sealed = _verify_seals(report, seal_hashes, seal_rows=seal_rows, starts=starts, since_seal=since_seal)
    if since_seal is not None:
        report.scope, report.start_seal, reconcile_records = f"incremental from seal #{since_seal}", since_seal, False
        sealed = {(c, seq): h for (c, seq), h in sealed.items() if seq >= starts.get(c, 0)}
    _verify_timestamps(report, seal_rows, since_seal=since_seal)
    seals_announced: set[int] = set()
    heads = list(AuditChainHead.objects.exclude(last_seq=0).values_list("chain", "last_seq", "last_hash"))
    case_ids = set(Case.objects.values_list("id", flat=True))
    record_limits = reconcile.id_limits() if reconcile_records else None
    collector = reconcile.Collector()
    collect = collector.add if reconcile_records else None

    problems = report.problems
    chain = ""
    expected_seq = 1
    prev = GENESIS_HASH
    hashes: dict[tuple[str, int], str] = {}  # sealed and head positions -> the hash found there
    wanted = set(sealed) | {(c, seq) for c, seq, _ in heads}
    chain_ends: dict[str, int] = {}
    pending = 0
    sha256 = hashlib.sha256
    hmac_digest, compare = hmac.digest, hmac.compare_digest
    event_keys = {key.key_id: key.event for key in audit_keys()}
    rows = AuditEvent.objects.order_by("chain", "seq").values_list(
        "id", *HASHED_FIELDS, "event_hash", "mac", "mac_key_id"
    )
    if since_seal is not None:  # incremental: each chain from its sealed head (see _rows_from)
        rows = cast(Any, _RowsFrom(rows, starts, heads))
    for row in rows.iterator(chunk_size=chunk_size):
        event_id, values, stored, mac, mac_key_id = row[0], row[1:-3], row[-3], row[-2], row[-1]
        event_chain, seq, case_id, action, prev_hash = values[0], values[1], values[3], values[8], values[16]
        if event_chain != chain:
            chain, expected_seq, prev = event_chain, 1, GENESIS_HASH
            if chain in starts:  # incremental: from the sealed head, whose hash its seal pins
                expected_seq, prev = starts[chain], prev_hash
        report.events += 1
        if progress is not None:
            pending += 1
            if pending == PROGRESS_EVERY:
                progress(pending)
                pending = 0
        if event_chain != (SYSTEM_CHAIN if case_id is None else f"case-{case_id}"):
            problems.append(Problem(chain, seq, event_id, f"filed in the wrong chain (case id {case_id})", action))
        if seq != expected_seq:
            what = (
                f"event #{expected_seq} is missing"
                if seq > expected_seq
                else f"a duplicate or reordered event (expected #{expected_seq})"
            )
            problems.append(Problem(chain, seq, event_id, f"sequence broken: {what}", action))
        if prev_hash != prev:
            problems.append(
                Problem(
                    chain,
                    seq,
                    event_id,
                    "link to the previous event broken (an event was removed, inserted or reordered)",
                    action,
                )
            )
        recomputed = sha256(canonical_json(_payload(values))).hexdigest()
        if recomputed != stored:
            problems.append(
                Problem(
                    chain,
                    seq,
                    event_id,
                    f"content altered: stored hash {stored[:12]}… but the content hashes to {recomputed[:12]}…",
                    action,
                )
            )
        mac_key = event_keys.get(mac_key_id)
        if not mac:
            problems.append(Problem(chain, seq, event_id, EVENT_UNKEYED, action))
        elif mac_key is None:
            problems.append(Problem(chain, seq, event_id, EVENT_KEY_UNKNOWN.format(key_id=mac_key_id), action))
        elif not compare(hmac_digest(mac_key, stored.encode("ascii"), "sha256").hex(), mac):
            problems.append(Problem(chain, seq, event_id, EVENT_MAC_INVALID, action))
        if collect is not None:
            collect(values[9], values[10], values[12], chain, seq, event_id, action)
        if action == SEALED_ACTION and chain == SYSTEM_CHAIN:
            _check_seal_event(problems, values, event_id, seal_hashes, seals_announced)
        if (chain, seq) in wanted:
            hashes[(chain, seq)] = stored
            if sealed.get((chain, seq), stored) != stored:
                problems.append(Problem(chain, seq, event_id, "hash differs from the one recorded in a seal", action))
        expected_seq = seq + 1
        prev = stored
        chain_ends[chain] = seq
    if progress is not None and pending:
        progress(pending)
    report.chains = len(chain_ends)

    for (sealed_chain, seq), _ in sorted(sealed.items(), key=lambda item: (chain_sort_key(item[0][0]), item[0][1])):
        if (sealed_chain, seq) not in hashes:
            end = chain_ends.get(sealed_chain)
            what = "deleted" if end is None else f"truncated (it now ends at event #{end})"
            problems.append(
                Problem(
                    sealed_chain, seq, None, f"sealed event #{seq} is missing: the chain was {what} after it was sealed"
                )
            )
    for head_chain, last_seq, last_hash in heads:
        found = hashes.get((head_chain, last_seq))
        if found is None:
            problems.append(
                Problem(head_chain, last_seq, None, f"the chain head says event #{last_seq} exists; it is missing")
            )
        elif found != last_hash:
            problems.append(
                Problem(head_chain, last_seq, None, f"event #{last_seq} differs from the chain head's hash")
            )
    for seal_seq in sorted(set(seal_hashes) - seals_announced):
        if since_seal is not None and seal_seq < since_seal:
            continue  # announced before the start point, verified by an earlier run
        problems.append(
            Problem(
                SYSTEM_CHAIN,
                None,
                None,
                f"the {SEALED_ACTION} event of seal #{seal_seq} is missing: the system chain was truncated",
            )
        )
    for case_id in sorted(case_ids):
        if case_chain(case_id) not in chain_ends:
            problems.append(Problem(case_chain(case_id), None, None, f"case {case_id} has no audit trail at all"))

    if record_limits is not None:
        for difference in [*reconcile.differences(collector, limits=record_limits), *reconcile.untrailed_tokens()]:
            problems.append(
                Problem(difference.chain, difference.seq, difference.event_id, difference.message, difference.action)
            )

    problems.sort(key=lambda problem: chain_sort_key(problem.chain))  # stable: event order kept per chain
    return report


INCREMENTAL_BATCH = 500


@dataclass
class _RowsFrom:
    """Incremental verification's events, with the queryset's ``iterator``: grouped by chain and
    in order within each, every chain a seal up to the start recorded from its sealed head on,
    and every chain no such seal recorded (those the chain heads list) in full. Batched so that no
    query names too many chains."""

    rows: Any
    starts: dict[str, int]
    heads: list[tuple[str, int, str]]

    def iterator(self, chunk_size: int) -> Iterator[Any]:
        sealed_chains = sorted(self.starts)
        for start in range(0, len(sealed_chains), INCREMENTAL_BATCH):
            condition = Q()
            for chain in sealed_chains[start : start + INCREMENTAL_BATCH]:
                condition |= Q(chain=chain, seq__gte=self.starts[chain])
            yield from self.rows.filter(condition).iterator(chunk_size=chunk_size)
        new_chains = sorted({chain for chain, _, _ in self.heads} - set(self.starts))
        for start in range(0, len(new_chains), INCREMENTAL_BATCH):
            batch = new_chains[start : start + INCREMENTAL_BATCH]
            yield from self.rows.filter(chain__in=batch).iterator(chunk_size=chunk_size)


def _verify_timestamps(
    report: VerifyReport, seal_rows: list[tuple[int, int, datetime, str]], *, since_seal: int | None = None
) -> None:
    """Check every seal's RFC 3161 token against the TSA certificate and the seal's hash, and that
    every seal that should be time-stamped by now is (checklist/timestamps.py). Incremental runs
    check the seals from ``since_seal`` on: its token pins the (fully checked) seal chain before it."""
    from checklist.models import AuditSealTimestamp, AuditTimestampStatus

    summary = report.timestamps
    summary.enabled = timestamps.enabled()
    status = AuditTimestampStatus.objects.filter(pk=1).first()
    summary.last_error = status.last_error if status is not None and status.failures else ""
    by_seal = {seq: (pk, at, seal_hash_hex) for seq, pk, at, seal_hash_hex in seal_rows}
    rows = AuditSealTimestamp.objects.order_by("seal_seq")
    if since_seal is not None:
        rows = rows.filter(seal_seq__gte=since_seal)
        seal_rows = [row for row in seal_rows if row[0] >= since_seal]
    stamps = list(rows.values_list("id", "seal_id", "seal_seq", "seal_hash", "token", "gen_time"))
    chain = None
    if stamps:
        try:
            chain = timestamps.trust()
        except (OSError, ValueError) as exc:
            report.problems.append(Problem(SEALS, stamps[-1][2], None, f"TSA_CERTIFICATE unreadable ({exc})"))
            return
        if chain is None:
            report.problems.append(Problem(SEALS, stamps[-1][2], None, timestamps.NOT_CONFIGURED))
            return
    within = timestamps.stamp_within()
    stamped: set[int] = set()
    for _, seal_id, seal_seq, stamped_hash, token, gen_time in stamps:
        summary.stamped += 1
        stamped.add(seal_seq)
        seal = by_seal.get(seal_seq)
        if seal is None or seal[0] != seal_id:
            report.problems.append(
                Problem(SEALS, seal_seq, seal_id, "is time-stamped but missing (a time-stamped seal was deleted)")
            )
            continue
        assert chain is not None
        problem = timestamps.token_problem(token, seal[2], chain)
        if problem is None and stamped_hash != seal[2]:
            problem = "the time-stamp row names another hash than the seal (rewritten)"
        if problem is None and timestamps.token_gen_time(token) != gen_time:
            problem = "the time-stamp row's time differs from the token's genTime (rewritten)"
        if problem is not None:
            report.problems.append(Problem(SEALS, seal_seq, seal_id, problem))
            continue
        summary.valid += 1
        summary.newest_seq, summary.newest_gen_time = seal_seq, gen_time
        if gen_time - seal[1] > within:
            delay = str(gen_time - seal[1]).split(".")[0]
            report.problems.append(
                Problem(SEALS, seal_seq, seal_id, timestamps.STAMP_LATE.format(delay=delay, hours=within / HOUR))
            )
        elif gen_time < seal[1] - timestamps.CLOCK_SKEW:
            report.problems.append(
                Problem(
                    SEALS,
                    seal_seq,
                    seal_id,
                    timestamps.STAMP_EARLY.format(gen_time=_timestamp(gen_time), at=_timestamp(seal[1])),
                )
            )
    if not summary.enabled:
        return
    since = timestamps.required_from()
    overdue = timezone.now() - within
    for seq, pk, at, _ in seal_rows:
        if seq in stamped or (since is not None and at < since):
            continue
        summary.pending += 1
        if at < overdue:
            report.problems.append(
                Problem(SEALS, seq, pk, timestamps.STAMP_MISSING.format(at=_timestamp(at)[:19], hours=within / HOUR))
            )
    if summary.newest_gen_time is not None and summary.newest_gen_time < overdue:
        report.problems.append(
            Problem(
                SEALS,
                summary.newest_seq,
                None,
                timestamps.NOTHING_STAMPED_SINCE.format(
                    gen_time=_timestamp(summary.newest_gen_time)[:19], seq=summary.newest_seq
                ),
            )
        )


HOUR = timedelta(hours=1)


def _check_seal_event(
    problems: list[Problem],
    values: tuple[Any, ...],
    event_id: int,
    seal_hashes: dict[int, str],
    announced: set[int],
) -> None:
    """Each seal writes an event to the system chain naming it; the two must agree."""
    after = values[HASHED_FIELDS.index("after")]
    seq = values[1]
    try:
        seal_seq, recorded = int(after["seal"]), str(after["seal_hash"])
    except (TypeError, KeyError, ValueError):
        problems.append(Problem(SYSTEM_CHAIN, seq, event_id, "does not name the seal it records", SEALED_ACTION))
        return
    announced.add(seal_seq)
    if seal_seq not in seal_hashes:
        problems.append(
            Problem(SYSTEM_CHAIN, seq, event_id, f"records seal #{seal_seq}, which is missing", SEALED_ACTION)
        )
    elif seal_hashes[seal_seq] != recorded:
        problems.append(
            Problem(SYSTEM_CHAIN, seq, event_id, f"records a different hash for seal #{seal_seq}", SEALED_ACTION)
        )


EVENT_UNKEYED = (
    "carries no MAC: written without the server's audit key (a row inserted directly into the "
    "database, or an event from before keyed events)"
)
EVENT_MAC_INVALID = "event MAC invalid: the event was written or rewritten without the server's audit key"
EVENT_KEY_UNKNOWN = (
    "keyed with key {key_id}, which this server does not hold (was AUDIT_KEY changed without "
    "keeping the old one in AUDIT_KEY_FALLBACKS?)"
)
SEAL_MAC_INVALID = "seal MAC invalid: the seal was written or rewritten without the server's key"
SEAL_KEY_UNKNOWN = (
    "signed with key {key_id}, which this server does not hold (was AUDIT_KEY changed without "
    "keeping the old one in AUDIT_KEY_FALLBACKS?)"
)
SEAL_UNKEYED = (
    "carries no MAC and no keyed seal follows it (a seal taken before keyed seals, or a MAC "
    "removed): take a new seal with manage.py seal_audit"
)


def _verify_seals(
    report: VerifyReport,
    seal_hashes: dict[int, str],
    *,
    seal_rows: list[tuple[int, int, datetime, str]] | None = None,
    starts: dict[str, int] | None = None,
    since_seal: int | None = None,
) -> dict[tuple[str, int], str]:
    """Check the seal chain; return every (chain, seq) -> hash the seals vouch for, and fill
    ``seal_hashes`` (seal seq -> seal hash), ``seal_rows`` (seq, id, time, hash of each seal) and
    ``starts`` (per chain, the newest head the seals up to ``since_seal`` recorded)."""
    sealed: dict[tuple[str, int], str] = {}
    prev = GENESIS_HASH
    expected = 1
    keys = seal_keys()
    unkeyed: AuditSeal | None = None  # the newest seal without a MAC, until a keyed seal follows it
    for seal in AuditSeal.objects.order_by("seq").iterator():
        report.seals += 1
        seal_hashes[seal.seq] = seal.seal_hash
        if seal_rows is not None:
            seal_rows.append((seal.seq, seal.pk, seal.at, seal.seal_hash))
        if seal.seq != expected:
            report.problems.append(Problem(SEALS, seal.seq, seal.pk, f"seal #{expected} is missing"))
        if seal.prev_hash != prev:
            report.problems.append(Problem(SEALS, seal.seq, seal.pk, "link to the previous seal broken"))
        if seal_hash(seal) != seal.seal_hash:
            report.problems.append(Problem(SEALS, seal.seq, seal.pk, "seal content altered"))
        if not seal.mac:
            unkeyed = seal
        else:
            unkeyed = None
            mac_key = keys.get(seal.mac_key_id)
            if mac_key is None:
                report.problems.append(
                    Problem(SEALS, seal.seq, seal.pk, SEAL_KEY_UNKNOWN.format(key_id=seal.mac_key_id))
                )
            elif not hmac.compare_digest(seal_mac(seal.seal_hash, mac_key), seal.mac):
                report.problems.append(Problem(SEALS, seal.seq, seal.pk, SEAL_MAC_INVALID))
        heads = seal.heads if isinstance(seal.heads, dict) else {}
        for chain, point in heads.items():
            try:
                key, head_hash = (chain, int(point[0])), str(point[1])
            except (TypeError, ValueError, IndexError):
                report.problems.append(Problem(SEALS, seal.seq, seal.pk, f"unreadable head for chain {chain}"))
                continue
            if starts is not None and since_seal is not None and seal.seq <= since_seal:
                starts[chain] = max(starts.get(chain, 0), key[1])
            if sealed.setdefault(key, head_hash) != head_hash:
                report.problems.append(
                    Problem(
                        SEALS,
                        seal.seq,
                        seal.pk,
                        f"records a different hash for chain {chain} event #{key[1]} than an earlier seal",
                    )
                )
        prev = seal.seal_hash
        expected = seal.seq + 1
    if unkeyed is not None:
        report.problems.append(Problem(SEALS, unkeyed.seq, unkeyed.pk, SEAL_UNKEYED))
    return sealed


def event_count() -> int:
    return AuditEvent.objects.count()


# --- seal ----------------------------------------------------------------------------------------


SEAL_MARK_BATCH = 500


@transaction.atomic
def seal(*, actor: User | None = None) -> AuditSeal:
    """Record the head of every chain that moved since the previous seal in a new seal chained to
    the previous one, and audit it.

    Seals are serialized by the system chain's head row (the seal's own event goes there), so two
    concurrent seals queue instead of colliding on the seal number. ``event_count`` is the number
    of events in every chain at sealing time (the sum of all heads). Which chains moved is read
    from each head's ``sealed_seq``, set once the seal has committed (in short transactions of
    their own, so the seal never holds case chain locks while it waits for the system chain).
    """
    chain_head_create(SYSTEM_CHAIN)
    AuditChainHead.objects.select_for_update().get(chain=SYSTEM_CHAIN)
    last = AuditSeal.objects.order_by("-seq").first()
    moved = list(
        AuditChainHead.objects.filter(last_seq__gt=F("sealed_seq"))
        .order_by("chain")
        .values_list("pk", "chain", "last_seq", "last_hash")
    )
    heads = {chain: [last_seq, last_hash] for _, chain, last_seq, last_hash in moved}
    new = AuditSeal(
        seq=(last.seq + 1) if last else 1,
        at=timezone.now(),
        heads=heads,
        event_count=AuditChainHead.objects.aggregate(total=Coalesce(Sum("last_seq"), 0))["total"],
        prev_hash=last.seal_hash if last else GENESIS_HASH,
    )
    new.seal_hash = seal_hash(new)
    key = audit_keys()[0]
    new.mac_key_id = key.key_id
    new.mac = seal_mac(new.seal_hash, key.seal)
    new.save(force_insert=True)
    append(
        action=SEALED_ACTION,
        actor=actor,
        obj=new,
        after={"seal": new.seq, "chains": len(heads), "events": new.event_count, "seal_hash": new.seal_hash},
    )
    marks = [(pk, last_seq) for pk, _, last_seq, _ in moved]
    transaction.on_commit(lambda: _heads_mark_sealed(marks))
    return new


def _heads_mark_sealed(marks: list[tuple[int, int]]) -> None:
    """After a seal commits: remember, per chain, the head it recorded (never lowering it)."""
    for start in range(0, len(marks), SEAL_MARK_BATCH):
        batch = marks[start : start + SEAL_MARK_BATCH]
        recorded = DbCase(*(When(pk=pk, then=Value(seq)) for pk, seq in batch), output_field=BigIntegerField())
        with transaction.atomic():
            AuditChainHead.objects.filter(pk__in=[pk for pk, _ in batch]).update(
                sealed_seq=Greatest(F("sealed_seq"), recorded)
            )
