"""Appending to the hash chains: one chain per case (``case-<id>``) and the ``system`` chain."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.utils import timezone

from checklist.audit.canonical import event_hash, jsonable
from checklist.audit.catalogue import AuditAction
from checklist.audit.keys import audit_keys, event_mac
from checklist.models import AuditChainHead, AuditEvent, Case, User
from core.request_context import _EMPTY_CONTEXT, _context

SYSTEM_CHAIN = "system"


def case_chain(case_id: int) -> str:
    return f"case-{case_id}"


def chain_head_create(chain: str) -> None:
    """Create the head row of a new chain (inside the transaction that creates its case)."""
    AuditChainHead.objects.get_or_create(chain=chain)


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


SEALS = "seals"


SEALED_ACTION = AuditAction.AUDIT_SEALED


def chain_sort_key(chain: str) -> tuple[int, int, str]:
    """The order problems are reported in: the system chain, cases by id, anything else, seals."""
    if chain == SYSTEM_CHAIN:
        return (0, 0, "")
    if chain.startswith("case-") and chain[5:].isdigit():
        return (1, int(chain[5:]), "")
    if chain == SEALS:
        return (3, 0, "")
    return (2, 0, chain)


def event_count() -> int:
    return AuditEvent.objects.count()
