"""The catalogue of audit actions: every ``action`` the trail records, in one place.

``audit.append`` takes an ``AuditAction``; the value (``"<noun>.<past tense>"``) is what is
stored, hashed and exported, so a value never changes once events carry it. Reads compare
against the members too (a StrEnum equals its value). ``tests/checklist/audit/test_catalogue.py``
holds every ``action=`` in the code to a member.
"""

from __future__ import annotations

from enum import StrEnum


class AuditAction(StrEnum):
    # Cases, rooms and patients
    CASE_SCHEDULED = "case.scheduled"
    CASE_PATIENT_IN_ROOM = "case.patient_in_room"
    CASE_STATE_CHANGED = "case.state_changed"
    CASE_RESCHEDULED = "case.rescheduled"
    CASE_CANCELLED = "case.cancelled"
    PATIENT_REGISTERED = "patient.registered"
    PATIENT_UPDATED = "patient.updated"
    PATIENT_MERGED = "patient.merged"
    ROOM_CREATED = "room.created"
    ROOM_UPDATED = "room.updated"
    ROOM_STAFF_ADDED = "room.staff_added"
    # Evidence, each from its own source
    PLAN_CREATED = "plan.created"
    PLAN_REVISED = "plan.revised"
    CONSENT_RECORDED = "consent.recorded"
    MARKING_RECORDED = "marking.recorded"
    IMAGING_RECORDED = "imaging.recorded"
    ANATOMY_RECORDED = "anatomy.recorded"
    ANATOMY_CHANGED_AFTER_COUNT = "anatomy.changed_after_count"
    LOCALIZATION_RECORDED = "localization.recorded"
    LOCALIZATION_SUPERSEDED = "localization.superseded"
    LOCALIZATION_WITHDRAWN = "localization.withdrawn"
    LOCALIZATION_PASSED = "localization.passed"
    LOCALIZATION_DURABLE_MARK_PLACED = "localization.durable_mark_placed"
    TREATED_LEVELS_RECORDED = "treated_levels.recorded"
    LEVEL_CHECK_VERDICT = "level_check.verdict"
    # A tablet judged the case offline (issue 18) and the server, on the same evidence, differs.
    OFFLINE_VERDICT_DIFFERED = "level_check.offline_verdict_differed"
    # Level images from the C-arm (imaging app)
    LEVEL_IMAGE_RECEIVED = "level_image.received"
    LEVEL_IMAGE_ASSIGNED = "level_image.assigned"
    LEVEL_IMAGE_READ = "level_image.read"
    LEVEL_IMAGE_SECOND_READ = "level_image.second_read"
    LEVEL_IMAGE_REPORT_STORED = "level_image.report_stored"
    # The checklist
    IDENTITY_SCANNED = "identity.scanned"
    STEP_ATTESTED = "step.attested"
    STEP_VOIDED = "step.voided"
    TIME_OUT_COMPLETED = "time_out.completed"
    SIGN_OUT_COMPLETED = "sign_out.completed"
    # Signatures
    SIGNATURE_SIGNED = "signature.signed"
    SIGNATURE_FAILED = "signature.failed"
    SIGNATURE_LOCKED = "signature.locked"
    SIGNATURE_UNLOCKED = "signature.unlocked"
    # Safety events
    NEAR_MISS_RECORDED = "near_miss.recorded"
    NEAR_MISS_ANNOTATED = "near_miss.annotated"
    ADVERSE_EVENT_RECORDED = "adverse_event.recorded"
    # People, accounts and tokens
    USER_CREATED = "user.created"
    USER_UPDATED = "user.updated"
    USER_PASSWORD_SET = "user.password_set"  # noqa: S105 - action names, not secrets
    USER_PASSWORD_CHANGED = "user.password_changed"  # noqa: S105
    TOKEN_CREATED = "token.created"  # noqa: S105
    TOKEN_REVOKED = "token.revoked"  # noqa: S105
    # Access to the record (HIPAA 164.312(b))
    ACCESS_CASE_OPENED = "access.case_opened"
    ACCESS_EXPORTED = "access.exported"
    ACCESS_SIGNED_IN = "access.signed_in"
    ACCESS_SIGN_IN_FAILED = "access.sign_in_failed"
    ACCESS_SIGNED_OUT = "access.signed_out"
    # Reminders
    REMINDER_SENT = "reminder.sent"
    REMINDER_RULE_CHANGED = "reminder_rule.changed"
    NOTIFICATION_PREFERENCE_CHANGED = "notification_preference.changed"
    # The HL7 interface (interfaces/): messages applied, the mapping table, the record sent back
    HL7_MESSAGE_APPLIED = "hl7.message_applied"
    HL7_APPOINTMENT_NEEDS_REVIEW = "hl7.appointment_needs_review"
    HL7_APPOINTMENT_REPROCESSED = "hl7.appointment_reprocessed"
    HL7_APPOINTMENT_RESOLVED = "hl7.appointment_resolved"
    HL7_MESSAGE_REPROCESSED = "hl7.message_reprocessed"
    HL7_MAPPING_SAVED = "hl7.service_code_mapping_saved"
    HL7_MAPPING_DELETED = "hl7.service_code_mapping_deleted"
    HL7_RAW_PURGED = "hl7.raw_messages_purged"
    HL7_RECORD_SENT = "hl7.record_sent"
    HL7_RECORD_SEND_FAILED = "hl7.record_send_failed"
    # The trail itself
    AUDIT_SEALED = "audit.sealed"
    AUDIT_TIMESTAMPED = "audit.timestamped"
    AUDIT_VERIFICATION_REQUESTED = "audit.verification_requested"
    AUDIT_VERIFIED = "audit.verified"
    AUDIT_VERIFICATION_FAILED = "audit.verification_failed"


ACCESS_ACTIONS = frozenset(action for action in AuditAction if action.value.startswith("access."))
