"""Helpers shared by the services: locking a case, version checks, state bumps."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from checklist.models import CLOSED_STATES, Case
from checklist.reminders.sync import reminders_sync
from core.errors import ApplicationError, ConflictError

STALE = (
    "This case changed on another device since you loaded it (you had version {given}, it is now "
    "{current}). Review the current state and try again."
)
CASE_CLOSED = "This case is {state}: nothing more can be recorded."


# Read with the locked case: what nearly every service consults next.
LOCK_RELATED = ("room", "patient", "surgeon", "checklist_run", "latest_verdict")


def reminder_inputs(case: Case) -> tuple[Any, ...]:
    """Every field of the case that the reminder rules read (anchors, conditions, recipients).
    When none of them changed, a write cannot change which reminders the case needs."""
    return (
        case.state,
        case.verdict,
        case.latest_verdict_id,
        case.open_stop_verdict_id,
        case.scheduled_start,
        case.patient_in_room_at,
        case.time_out_completed_at,
        case.localization_passed_at,
        case.procedure_ended_at,
        case.signed_out_at,
        case.room_id,
        case.surgeon_id,
    )


def case_lock(case: Case | int, *, expected_version: int | None = None, allow_closed: bool = False) -> Case:
    """Lock the case row for this transaction (serializes writes within one case only) and check
    that the caller saw the current evidence. ``expected_version`` is the case's
    ``evidence_version`` as the device displayed it; None skips the check (system actions)."""
    case_id = case.pk if isinstance(case, Case) else case
    # Only the case row is locked (of=self): its room, patient and surgeon stay free for other cases.
    locked = Case.objects.select_for_update(of=("self",)).select_related(*LOCK_RELATED).get(pk=case_id)
    locked.reminder_inputs_at_lock = reminder_inputs(locked)
    if not allow_closed and locked.state in CLOSED_STATES:
        raise ApplicationError(
            CASE_CLOSED.format(state=locked.get_state_display().lower()),
            errors={"non_field_errors": [CASE_CLOSED.format(state=locked.get_state_display().lower())]},
        )
    if expected_version is not None and expected_version != locked.evidence_version:
        raise ConflictError(
            STALE.format(given=expected_version, current=locked.evidence_version),
            extra={"current": case_state_summary(locked)},
        )
    return locked


def case_state_summary(case: Case) -> dict[str, Any]:
    return {
        "id": case.pk,
        "version": case.version,
        "evidence_version": case.evidence_version,
        "state": case.state,
        "verdict": case.verdict,
    }


def case_touch(case: Case, *, evidence: bool = False, fields: tuple[str, ...] = ()) -> None:
    """Bump the case's version (and evidence version) and save the listed fields with it."""
    case.version += 1
    update = ["version", *fields]
    if evidence:
        case.evidence_version += 1
        update.append("evidence_version")
    case.save(update_fields=sorted(set(update)))
    # Reminders are written and cancelled in the same transaction as the change (the outbox),
    # unless nothing they depend on changed since the case was locked (an attestation, say).
    if case.reminder_inputs_at_lock == reminder_inputs(case):
        return
    reminders_sync(case)
    case.reminder_inputs_at_lock = reminder_inputs(case)


def reminders_resync_open_cases() -> int:
    """After a reminder rule changes (timing, recipients, switched on or off): bring the pending
    reminders of every case still open in line with the rules, one case transaction at a time.
    Returns the number of cases reconciled."""
    open_ids = list(Case.objects.exclude(state__in=CLOSED_STATES).order_by("pk").values_list("pk", flat=True))
    for case_id in open_ids:
        with transaction.atomic():
            reminders_sync(case_lock(case_id, allow_closed=True))
    return len(open_ids)


def now() -> Any:
    return timezone.now()


def rule_error(message: str, field: str = "non_field_errors") -> ApplicationError:
    return ApplicationError(message, errors={field: [message]})
