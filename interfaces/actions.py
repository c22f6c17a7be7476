"""Audit action names written by the interfaces app (one place, to fold into the catalogue later)."""

from __future__ import annotations

from typing import Final

MESSAGE_APPLIED: Final = "hl7.message_applied"
APPOINTMENT_NEEDS_REVIEW: Final = "hl7.appointment_needs_review"
APPOINTMENT_REPROCESSED: Final = "hl7.appointment_reprocessed"
CASE_RESCHEDULED: Final = "hl7.case_rescheduled"
CASE_CANCELLED: Final = "hl7.case_cancelled"
PATIENT_UPDATED: Final = "hl7.patient_updated"
PATIENT_MERGED: Final = "hl7.patient_merged"
MAPPING_SAVED: Final = "hl7.service_code_mapping_saved"
MAPPING_DELETED: Final = "hl7.service_code_mapping_deleted"
RAW_PURGED: Final = "hl7.raw_messages_purged"
RECORD_SENT: Final = "hl7.record_sent"
RECORD_SEND_FAILED: Final = "hl7.record_send_failed"

ALL: Final[tuple[str, ...]] = (
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
