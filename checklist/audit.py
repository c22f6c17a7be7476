"""The append-only, hash-chained audit trail: append, verify, seal.

Each case has its own chain (``case-<id>``) and everything else goes to the ``system`` chain, so
appends in different rooms never wait for each other. An event's hash is the SHA-256 of its
canonical JSON, which includes the previous event's hash. A seal records the head of every chain
and is chained to the previous seal, so deleting the tail of a chain (or a whole chain) is detected
even though each remaining event still hashes correctly. Database triggers (migration 0004) refuse
UPDATE and DELETE on both tables.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

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


def canonical_json(value: Any) -> bytes:
    """Stable bytes for hashing: sorted keys, no whitespace, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def jsonable(value: Any) -> Any:
    """The JSON value exactly as it will be stored and read back (dates become ISO strings)."""
    if value is None:
        return None
    return json.loads(json.dumps(value, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _timestamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def event_payload(event: AuditEvent) -> dict[str, Any]:
    return {
        "chain": event.chain,
        "seq": event.seq,
        "at": _timestamp(event.at),
        "case_id": event.case_id,
        "actor_id": event.actor_id,
        "actor_username": event.actor_username,
        "actor_name": event.actor_name,
        "actor_role": event.actor_role,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "before": event.before,
        "after": event.after,
        "reason": event.reason,
        "request_id": event.request_id,
        "client": event.client,
        "prev_hash": event.prev_hash,
    }


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
    event.save(force_insert=True)
    head.last_seq = event.seq
    head.last_hash = event.event_hash
    head.save(update_fields=["last_seq", "last_hash"])
    return event


# --- verify --------------------------------------------------------------------------------------


@dataclass
class Problem:
    chain: str
    seq: int | None
    event_id: int | None
    message: str

    def describe(self) -> str:
        where = f"chain {self.chain}" + (f", event #{self.seq}" if self.seq is not None else "")
        where += f" (id {self.event_id})" if self.event_id is not None else ""
        return f"{where}: {self.message}"


@dataclass
class VerifyReport:
    events: int = 0
    chains: int = 0
    seals: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None


def verify(*, progress: Callable[[int], None] | None = None, chunk_size: int = 5000) -> VerifyReport:
    """Recompute every chain and seal. Reports every problem found, first broken event first."""
    report = VerifyReport()
    sealed: dict[tuple[str, int], str] = {}
    _verify_seals(report, sealed)

    chain = ""
    expected_seq = 1
    prev = GENESIS_HASH
    last_seen: dict[str, tuple[int, str]] = {}
    for event in AuditEvent.objects.order_by("chain", "seq").iterator(chunk_size=chunk_size):
        if event.chain != chain:
            chain, expected_seq, prev = event.chain, 1, GENESIS_HASH
            report.chains += 1
        report.events += 1
        if progress is not None:
            progress(1)
        if event.seq != expected_seq:
            missing = f"event #{expected_seq}" if event.seq > expected_seq else "a duplicate or reordered event"
            report.problems.append(Problem(chain, event.seq, event.pk, f"sequence broken: {missing} is missing"))
        if event.prev_hash != prev:
            report.problems.append(
                Problem(
                    chain,
                    event.seq,
                    event.pk,
                    "previous-hash link broken (an event was removed, inserted or reordered)",
                )
            )
        recomputed = event_hash(event)
        if recomputed != event.event_hash:
            report.problems.append(
                Problem(
                    chain,
                    event.seq,
                    event.pk,
                    f"content altered: hash {event.event_hash[:12]}… recomputes as {recomputed[:12]}…",
                )
            )
        sealed_hash = sealed.pop((chain, event.seq), None)
        if sealed_hash is not None and sealed_hash != event.event_hash:
            report.problems.append(Problem(chain, event.seq, event.pk, "differs from the hash recorded in a seal"))
        expected_seq = event.seq + 1
        prev = event.event_hash
        last_seen[chain] = (event.seq, event.event_hash)

    for (sealed_chain, seq), _hash in sorted(sealed.items()):
        report.problems.append(
            Problem(sealed_chain, seq, None, "sealed event is missing: the chain was truncated or deleted")
        )
    for head in AuditChainHead.objects.exclude(last_seq=0).order_by("chain"):
        if last_seen.get(head.chain) != (head.last_seq, head.last_hash):
            seen = last_seen.get(head.chain, (0, ""))[0]
            report.problems.append(
                Problem(
                    head.chain,
                    head.last_seq,
                    None,
                    f"chain head says event #{head.last_seq}, the trail ends at #{seen}",
                )
            )
    return report


def _verify_seals(report: VerifyReport, sealed: dict[tuple[str, int], str]) -> None:
    prev = GENESIS_HASH
    expected = 1
    for seal in AuditSeal.objects.order_by("seq").iterator():
        report.seals += 1
        if seal.seq != expected:
            report.problems.append(Problem("seals", seal.seq, seal.pk, f"seal #{expected} is missing"))
        if seal.prev_hash != prev:
            report.problems.append(Problem("seals", seal.seq, seal.pk, "seal chain link broken"))
        if seal_hash(seal) != seal.seal_hash:
            report.problems.append(Problem("seals", seal.seq, seal.pk, "seal content altered"))
        for chain, (seq, head_hash) in seal.heads.items():
            sealed[(chain, int(seq))] = head_hash
        prev = seal.seal_hash
        expected = seal.seq + 1


def event_count() -> int:
    return AuditEvent.objects.count()


# --- seal ----------------------------------------------------------------------------------------


@transaction.atomic
def seal(*, actor: User | None = None) -> AuditSeal:
    """Record the head of every chain in a new seal chained to the previous one, and audit it."""
    last = AuditSeal.objects.select_for_update().order_by("-seq").first()
    heads = {
        head.chain: [head.last_seq, head.last_hash]
        for head in AuditChainHead.objects.exclude(last_seq=0).order_by("chain")
    }
    total = AuditEvent.objects.aggregate(n=Count("id"))["n"]
    new = AuditSeal(
        seq=(last.seq + 1) if last else 1,
        at=timezone.now(),
        heads=heads,
        event_count=total,
        prev_hash=last.seal_hash if last else GENESIS_HASH,
    )
    new.seal_hash = seal_hash(new)
    new.save(force_insert=True)
    append(
        action="audit.sealed",
        actor=actor,
        obj=new,
        after={"seal": new.seq, "chains": len(heads), "events": total, "seal_hash": new.seal_hash},
    )
    return new
