"""Checklist models, by domain. Nothing outside the services writes them.

Every model is re-exported here: ``from checklist.models import Case`` is the way to import one.
"""

from __future__ import annotations

from checklist.models.audit import (
    AuditChainHead,
    AuditEvent,
    AuditSeal,
    AuditSealTimestamp,
    AuditTimestampStatus,
    AuditVerificationRun,
)
from checklist.models.cases import (
    CLOSED_STATES,
    Case,
    CaseState,
    LevelVerdict,
    Patient,
    Procedure,
    Room,
    Side,
    Verdict,
)
from checklist.models.checklist import (
    DOWNTIME_PAPER,
    ChecklistRun,
    StepAttestation,
)
from checklist.models.evidence import (
    AnatomyRecord,
    AnatomySource,
    Consent,
    EvidenceBase,
    Localization,
    LocalizationPhase,
    MarkingRegion,
    Modality,
    PlanVersion,
    PreopImaging,
    Reference,
    SiteMarking,
)
from checklist.models.health import (
    WorkerHeartbeat,
)
from checklist.models.idempotency import (
    IdempotencyKey,
)
from checklist.models.identity import (
    IdentityScan,
    ScanInput,
)
from checklist.models.incidents import (
    AdverseEvent,
    NearMiss,
)
from checklist.models.people import (
    User,
)
from checklist.models.reminders import (
    Delivery,
    DeliveryChannel,
    DeliveryState,
    Notification,
    NotificationPreference,
    Reminder,
    ReminderRule,
    ReminderState,
)
from checklist.models.signatures import (
    Signature,
    SignatureMeaning,
    SigningFailure,
)

__all__ = [
    "CLOSED_STATES",
    "DOWNTIME_PAPER",
    "AdverseEvent",
    "AnatomyRecord",
    "AnatomySource",
    "AuditChainHead",
    "AuditEvent",
    "AuditSeal",
    "AuditSealTimestamp",
    "AuditTimestampStatus",
    "AuditVerificationRun",
    "Case",
    "CaseState",
    "ChecklistRun",
    "Consent",
    "Delivery",
    "DeliveryChannel",
    "DeliveryState",
    "EvidenceBase",
    "IdempotencyKey",
    "IdentityScan",
    "LevelVerdict",
    "Localization",
    "LocalizationPhase",
    "MarkingRegion",
    "Modality",
    "NearMiss",
    "Notification",
    "NotificationPreference",
    "Patient",
    "PlanVersion",
    "PreopImaging",
    "Procedure",
    "Reference",
    "Reminder",
    "ReminderRule",
    "ReminderState",
    "Room",
    "ScanInput",
    "Side",
    "Signature",
    "SignatureMeaning",
    "SigningFailure",
    "SiteMarking",
    "StepAttestation",
    "User",
    "Verdict",
    "WorkerHeartbeat",
]
