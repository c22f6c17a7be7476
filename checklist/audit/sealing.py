"""Sealing: a seal records the head of every chain and is chained to the previous seal."""

from __future__ import annotations

from django.db import transaction
from django.db.models import BigIntegerField, F, Sum, Value, When
from django.db.models import Case as DbCase
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from checklist.audit import chain as audit_chain
from checklist.audit.canonical import GENESIS_HASH, seal_hash
from checklist.audit.chain import SEALED_ACTION, SYSTEM_CHAIN, chain_head_create
from checklist.audit.keys import audit_keys, seal_mac
from checklist.models import AuditChainHead, AuditSeal, User

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
    audit_chain.append(
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
