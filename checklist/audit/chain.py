"""Appending to the hash chains: one chain per case (``case-<id>``) and the ``system`` chain."""

from __future__ import annotations

import hashlib
import threading
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from checklist.audit.canonical import GENESIS_HASH, event_bytes, jsonable
from checklist.audit.catalogue import AuditAction
from checklist.audit.keys import audit_keys, event_mac
from checklist.models import AuditChainHead, AuditEvent, Case, User
from core.request_context import _EMPTY_CONTEXT, _context

SYSTEM_CHAIN = "system"


def case_chain(case_id: int) -> str:
    return f"case-{case_id}"


# The head each chain was left at by this thread's last append (or creation): a hint that saves
# re-reading the head row for the next append in the same transaction. Never trusted: the append
# moves the head with a compare-and-set UPDATE, which also takes the row lock, and reads the row
# (SELECT ... FOR UPDATE) as before when the hint is stale (a rolled-back savepoint, another writer).
_heads = threading.local()
HEAD_HINTS_MAX = 256


def _head_hints() -> dict[str, tuple[int, str]]:
    hints: dict[str, tuple[int, str]] | None = getattr(_heads, "hints", None)
    if hints is None or len(hints) > HEAD_HINTS_MAX:
        hints = _heads.hints = {}
    return hints


def _head_hint_keep(chain: str, last_seq: int, last_hash: str) -> None:
    hints = _head_hints()
    hints[chain] = (last_seq, last_hash)
    # Once committed, another writer may move the head at any time: drop the hint then.
    transaction.on_commit(lambda: hints.pop(chain, None))


def chain_head_create(chain: str, *, new: bool = False) -> None:
    """Create the head row of a chain if it has none (inside the transaction that creates its
    case). ``new``: the chain cannot exist yet (its case was just inserted), so one INSERT that
    does nothing on a conflict does, and the next append needs no read of the head."""
    if new:
        AuditChainHead.objects.bulk_create([AuditChainHead(chain=chain)], ignore_conflicts=True)
        _head_hint_keep(chain, 0, GENESIS_HASH)
        return
    AuditChainHead.objects.get_or_create(chain=chain)


def _head_move(chain: str, expected: tuple[int, str], seq: int, event_hash_hex: str) -> bool:
    """Move the head from ``expected`` to (seq, hash) if it is still there, locking its row."""
    last_seq, last_hash = expected
    moved = AuditChainHead.objects.filter(chain=chain, last_seq=last_seq, last_hash=last_hash).update(
        last_seq=seq, last_hash=event_hash_hex
    )
    return moved == 1


def append(
    *,
    action: AuditAction,
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

    def build(last_seq: int, last_hash: str) -> AuditEvent:
        return _event_build(
            chain, last_seq, last_hash, action=action, actor=actor, case=case, obj=obj, object_type=object_type,
            object_id=object_id, before=before, after=after, reason=reason,
        )  # fmt: skip

    hint = _head_hints().get(chain)
    if hint is not None:
        event = build(*hint)
        if _head_move(chain, hint, event.seq, event.event_hash):
            event.save(force_insert=True)
            _head_hint_keep(chain, event.seq, event.event_hash)
            return event
    head = AuditChainHead.objects.select_for_update().filter(chain=chain).first()
    if head is None:
        chain_head_create(chain)
        head = AuditChainHead.objects.select_for_update().get(chain=chain)
    event = build(head.last_seq, head.last_hash)
    event.save(force_insert=True)
    head.last_seq = event.seq
    head.last_hash = event.event_hash
    head.save(update_fields=["last_seq", "last_hash"])
    _head_hint_keep(chain, event.seq, event.event_hash)
    return event


def _event_build(
    chain: str,
    last_seq: int,
    last_hash: str,
    *,
    action: AuditAction,
    actor: User | None,
    case: Case | None,
    obj: Any,
    object_type: str,
    object_id: str | int,
    before: Any,
    after: Any,
    reason: str,
) -> AuditEvent:
    """The next event of ``chain`` after (last_seq, last_hash), hashed and keyed, not saved."""
    context = _context.get() or _EMPTY_CONTEXT
    if obj is not None:
        object_type = object_type or type(obj).__name__
        object_id = object_id or getattr(obj, "pk", "") or ""
    event = AuditEvent(
        chain=chain,
        seq=last_seq + 1,
        case=case,
        at=timezone.now(),
        acted_at=context.acted_at,
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
        prev_hash=last_hash,
    )
    event.canonical = event_bytes(event)
    event.event_hash = hashlib.sha256(event.canonical).hexdigest()
    key = audit_keys()[0]
    event.mac_key_id = key.key_id
    event.mac = event_mac(event.event_hash, key.event)
    return event


SEALS = "seals"

SCHEMA = "database"  # the chain name of problems with the database's schema itself (verify)


SEALED_ACTION = AuditAction.AUDIT_SEALED


def chain_sort_key(chain: str) -> tuple[int, int, str]:
    """The order problems are reported in: the schema, the system chain, cases by id, anything
    else, seals."""
    if chain == SCHEMA:
        return (-1, 0, "")
    if chain == SYSTEM_CHAIN:
        return (0, 0, "")
    if chain.startswith("case-") and chain[5:].isdigit():
        return (1, int(chain[5:]), "")
    if chain == SEALS:
        return (3, 0, "")
    return (2, 0, chain)


def event_count() -> int:
    return AuditEvent.objects.count()
