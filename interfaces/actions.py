"""The audit actions the interface writes: members of the one catalogue (checklist/audit/catalogue.py)."""

from __future__ import annotations

from typing import Final

from checklist.audit.catalogue import AuditAction

MESSAGE_APPLIED: Final = AuditAction.HL7_MESSAGE_APPLIED
APPOINTMENT_NEEDS_REVIEW: Final = AuditAction.HL7_APPOINTMENT_NEEDS_REVIEW
APPOINTMENT_REPROCESSED: Final = AuditAction.HL7_APPOINTMENT_REPROCESSED
CASE_RESCHEDULED: Final = AuditAction.CASE_RESCHEDULED
CASE_CANCELLED: Final = AuditAction.CASE_CANCELLED
PATIENT_UPDATED: Final = AuditAction.PATIENT_UPDATED
PATIENT_MERGED: Final = AuditAction.PATIENT_MERGED
MAPPING_SAVED: Final = AuditAction.HL7_MAPPING_SAVED
MAPPING_DELETED: Final = AuditAction.HL7_MAPPING_DELETED
RAW_PURGED: Final = AuditAction.HL7_RAW_PURGED
RECORD_SENT: Final = AuditAction.HL7_RECORD_SENT
RECORD_SEND_FAILED: Final = AuditAction.HL7_RECORD_SEND_FAILED

ALL: Final[tuple[AuditAction, ...]] = (
    MESSAGE_APPLIED,
    APPOINTMENT_NEEDS_REVIEW,
    APPOINTMENT_REPROCESSED,
    CASE_RESCHEDULED,
    CASE_CANCELLED,
    PATIENT_UPDATED,
    PATIENT_MERGED,
    MAPPING_SAVED,
    MAPPING_DELETED,
    RAW_PURGED,
    RECORD_SENT,
    RECORD_SEND_FAILED,
)
