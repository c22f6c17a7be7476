"""Every state change, one function each (``<noun>_<verb>(*, actor, ...)``).

Each runs in one transaction, validates before writing, writes the state and its audit event
together, and leaves side effects to ``transaction.on_commit``. Views, API classes, the admin,
tasks and commands call these; nothing else writes models. Every state change of the services
and reminders packages is exported here, so the write-path guard
(tests/checklist/services/test_audit_write_path.py) watches each one; the other public functions
of those packages are helpers run inside these transactions, or reads, and the guard lists why.
"""

from checklist.reminders.delivery import deliveries_send
from checklist.reminders.digest import daily_digest_create
from checklist.reminders.notifications import notification_mark_read, notification_preference_set
from checklist.reminders.sync import reminder_rules_sync, reminders_sweep, system_reminder_create
from checklist.services.accounts import user_password_admin_set, user_password_change_own
from checklist.services.adverse_events import adverse_event_record
from checklist.services.audit_timestamps import audit_seal_and_stamp, audit_timestamps_take
from checklist.services.audit_verification import (
    audit_verification_execute,
    audit_verification_nightly,
    audit_verification_report_send,
    audit_verification_start,
)
from checklist.services.case_writes import reminders_resync_open_cases
from checklist.services.cases import (
    case_cancel,
    case_patient_in_room,
    case_reschedule,
    case_schedule,
    offline_verdict_reconcile,
    patient_gsrn_record,
    patient_merge,
    patient_update,
    room_ensure,
    verdict_record,
)
from checklist.services.checklist import phase_attest_mine, sign_out_complete, step_attest, time_out_complete
from checklist.services.configuration import reminder_rule_change, room_admin_save, user_admin_save
from checklist.services.downtime import steps_back_enter
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
from checklist.services.idempotency import (
    idempotency_key_claim,
    idempotency_key_complete,
    idempotency_key_release,
    idempotency_keys_expired_purge,
)
from checklist.services.identity import identity_scan_record
from checklist.services.near_misses import near_miss_annotate
from checklist.services.record_access import (
    access_case_open,
    access_downtime_sheets,
    access_export,
    access_sign_in,
    access_sign_in_fail,
    access_sign_out,
)
from checklist.services.signatures import localization_confirm, plan_sign, signing_unlock
from checklist.services.tokens import token_create, token_revoke, tokens_expired_purge, tokens_revoke_all
from checklist.services.users import heartbeat_record, roles_sync, user_create, user_ensure

__all__ = [
    "access_case_open",
    "access_downtime_sheets",
    "access_export",
    "access_sign_in",
    "access_sign_in_fail",
    "access_sign_out",
    "adverse_event_record",
    "anatomy_record",
    "audit_seal_and_stamp",
    "audit_timestamps_take",
    "audit_verification_execute",
    "audit_verification_nightly",
    "audit_verification_report_send",
    "audit_verification_start",
    "case_cancel",
    "case_patient_in_room",
    "case_reschedule",
    "case_schedule",
    "consent_record",
    "daily_digest_create",
    "deliveries_send",
    "heartbeat_record",
    "idempotency_key_claim",
    "idempotency_key_complete",
    "idempotency_key_release",
    "idempotency_keys_expired_purge",
    "identity_scan_record",
    "imaging_record",
    "localization_confirm",
    "localization_mark_durable",
    "localization_record",
    "marking_record",
    "near_miss_annotate",
    "notification_mark_read",
    "notification_preference_set",
    "offline_verdict_reconcile",
    "patient_gsrn_record",
    "patient_merge",
    "patient_update",
    "phase_attest_mine",
    "plan_revise",
    "plan_sign",
    "reminder_rule_change",
    "reminder_rules_sync",
    "reminders_resync_open_cases",
    "reminders_sweep",
    "roles_sync",
    "room_admin_save",
    "room_ensure",
    "sign_out_complete",
    "signing_unlock",
    "step_attest",
    "steps_back_enter",
    "system_reminder_create",
    "time_out_complete",
    "token_create",
    "token_revoke",
    "tokens_expired_purge",
    "tokens_revoke_all",
    "treated_levels_record",
    "user_admin_save",
    "user_create",
    "user_ensure",
    "user_password_admin_set",
    "user_password_change_own",
    "verdict_record",
]
