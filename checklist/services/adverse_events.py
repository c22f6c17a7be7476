"""Wrong-level events: levels treated that differ from the plan are recorded as treated.

A mismatch at sign-out is an adverse event, never a near miss: the surgeon signs a statement
(password again, like every signature), the quality officers and the administrators are alerted
at once (in-app notification now, e-mail after commit), and the case can then be signed out; it
closes as "completed with a wrong-level event".
"""

from __future__ import annotations

import logging

from django.db import transaction

from checklist import audit
from checklist.access import roles
from checklist.access.policies import require, users_with_roles
from checklist.audit.catalogue import AuditAction
from checklist.level_check import current_evidence
from checklist.models import AdverseEvent, Case, DeliveryChannel, Notification, SignatureMeaning, User
from checklist.reminders.delivery import delivery_enqueue
from checklist.selectors import wrong_level_stop_only
from checklist.services.case_writes import case_lock, now, rule_error
from checklist.services.cases import case_state_commit
from checklist.services.signatures import _signature_create, _signer_authenticate, _signer_still_unlocked

logger = logging.getLogger(__name__)

STATEMENT_MIN_CHARS = 10
NO_MISMATCH = "The levels treated agree with the plan: there is no wrong-level event to record."
ALREADY_RECORDED = "A wrong-level event is already recorded for the levels treated ({treated})."
STATEMENT_TOO_SHORT = "Write the statement: what was treated, and how it happened (at least 10 characters)."


def _alert_recipients() -> list[User]:
    return list(users_with_roles(roles.QUALITY_OFFICER, roles.ADMIN).distinct().order_by("username"))


def adverse_event_record(
    *,
    actor: User,
    case: Case | int,
    statement: str,
    password: str,
    username: str | None = None,
    first_in_session: bool = True,
    expected_version: int | None = None,
) -> AdverseEvent:
    """The surgeon records the wrong-level event with a signed statement; alerts go out at once."""
    case_obj = Case.objects.select_related("room").get(pk=case.pk if isinstance(case, Case) else case)
    # The people who may sign the plan (the case's surgeon and co-surgeons) sign the statement.
    require(actor, "plan.sign", case_obj)
    statement = statement.strip()
    if len(statement) < STATEMENT_MIN_CHARS:
        raise rule_error(STATEMENT_TOO_SHORT, field="statement")
    # The signer's row is locked before the case's and held to the end (one lock order, no race).
    with transaction.atomic():
        signer, refusal = _signer_authenticate(
            actor=actor,
            case=case_obj,
            meaning=SignatureMeaning.WRONG_LEVEL_STATEMENT,
            password=password,
            username=username,
            first_in_session=first_in_session,
        )
        if refusal is None:
            event = _adverse_event_write(
                actor=actor, case=case_obj, statement=statement, expected_version=expected_version
            )
            _signer_still_unlocked(signer)
            return event
    raise refusal


def _adverse_event_write(*, actor: User, case: Case, statement: str, expected_version: int | None) -> AdverseEvent:
    locked = case_lock(case, expected_version=expected_version)
    if not locked.treated_levels or not wrong_level_stop_only(locked):
        raise rule_error(NO_MISMATCH)
    if AdverseEvent.objects.filter(case=locked, treated_levels=locked.treated_levels).exists():
        raise rule_error(ALREADY_RECORDED.format(treated=locked.treated_levels))
    plan = current_evidence(locked).plan
    planned = plan.levels if plan is not None else ""
    content = {
        "case": locked.pk,
        "patient_mrn": locked.patient.mrn,
        "planned_levels": planned,
        "planned_side": plan.side if plan is not None else "",
        "treated_levels": locked.treated_levels,
        "statement": statement,
    }
    signature = _signature_create(
        actor=actor, case=locked, meaning=SignatureMeaning.WRONG_LEVEL_STATEMENT, subject=locked, content=content
    )
    recipients = _alert_recipients()
    event = AdverseEvent.objects.create(
        case=locked,
        planned_levels=planned,
        treated_levels=locked.treated_levels,
        statement=statement,
        signature=signature,
        recorded_by=actor,
        recorded_at=signature.signed_at,
        alerted=[u.username for u in recipients],
    )
    title = f"Wrong-level event: {locked.room.name}, case {locked.pk}"
    body = f"Planned {planned}; treated {locked.treated_levels}. Statement by {actor.full_name}: {statement}"
    link = f"/cases/{locked.pk}/"
    Notification.objects.bulk_create(
        [Notification(user=u, case=locked, title=title, body=body, link=link, created_at=now()) for u in recipients]
    )
    audit.append(
        action=AuditAction.ADVERSE_EVENT_RECORDED,
        actor=actor,
        case=locked,
        obj=event,
        after={
            "kind": event.kind,
            "planned_levels": planned,
            "treated_levels": event.treated_levels,
            "statement": statement,
            "signature": signature.pk,
            "alerted": event.alerted,
        },
    )
    emails = [u.email for u in recipients if u.email]
    if emails:
        # Through the outbox (its own timeout, retries, never sent twice), never inline in a request.
        delivery_enqueue(
            channel=DeliveryChannel.EMAIL,
            key=f"wrong-level-event:{event.pk}",
            to=emails,
            subject=f"RightLevel: {title}",
            body=body,
        )
    else:
        logger.warning("Wrong-level event recorded; no quality officer or administrator has an e-mail address")
    case_state_commit(locked, actor=actor, before_state=locked.state)
    return event
