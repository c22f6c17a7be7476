"""Every state change, one function each (``<noun>_<verb>(*, actor, ...)``).

Each runs in one transaction, validates before writing, writes the state and its audit event
together, and leaves side effects to ``transaction.on_commit``. Views, API classes, tasks and
commands call these; nothing else writes models.
"""

from checklist.services.adverse_events import adverse_event_record
from checklist.services.cases import case_patient_in_room, case_schedule, room_ensure, verdict_record
from checklist.services.checklist import sign_out_complete, step_attest, time_out_complete
from checklist.services.evidence import (
    anatomy_record,
    consent_record,
    imaging_record,
    localization_mark_durable,
    localization_record,
    marking_record,
    plan_revise,
    treated_levels_record,
)
from checklist.services.signatures import localization_confirm, plan_sign, signing_unlock
from checklist.services.users import heartbeat_record, roles_sync, user_create, user_ensure

__all__ = [
    "adverse_event_record",
    "anatomy_record",
    "case_patient_in_room",
    "case_schedule",
    "consent_record",
    "heartbeat_record",
    "imaging_record",
    "localization_confirm",
    "localization_mark_durable",
    "localization_record",
    "marking_record",
    "plan_revise",
    "plan_sign",
    "roles_sync",
    "room_ensure",
    "sign_out_complete",
    "signing_unlock",
    "step_attest",
    "time_out_complete",
    "treated_levels_record",
    "user_create",
    "user_ensure",
    "verdict_record",
]
