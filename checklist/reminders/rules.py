"""Default reminder and escalation rules, as data. ``reminder_rules_sync`` writes them to the
ReminderRule table after every migrate (creating missing rules, never overwriting edits made in
the admin)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# Anchors: what a rule's offset counts from.
SCHEDULED_START: Final = "scheduled_start"
PATIENT_IN_ROOM: Final = "patient_in_room"
TIME_OUT_COMPLETED: Final = "time_out_completed"
PROCEDURE_ENDED: Final = "procedure_ended"
STOP_OPENED: Final = "stop_opened"
SYSTEM: Final = "system"  # not tied to a case (nightly audit result, daily digest)

# Conditions: what must still be true when the reminder falls due (re-checked at delivery).
PLAN_UNSIGNED: Final = "plan_unsigned"
CONSENT_MISSING_OR_MISMATCH: Final = "consent_missing_or_mismatch"
ANATOMY_OR_IMAGING_MISSING: Final = "anatomy_or_imaging_missing"
TIME_OUT_INCOMPLETE: Final = "time_out_incomplete"
LOCALIZATION_NOT_PASSED: Final = "localization_not_passed"
SIGN_OUT_NOT_DONE: Final = "sign_out_not_done"
STOP_UNRESOLVED: Final = "stop_unresolved"
ALWAYS: Final = "always"

# Recipient groups.
SURGEON: Final = "surgeon"
CHARGE_NURSE: Final = "charge_nurse"
ROOM_NURSE: Final = "room_nurse"
ROOM_RADIOGRAPHER: Final = "room_radiographer"
QUALITY_OFFICER: Final = "quality_officer"
RECIPIENT_GROUPS: Final = (SURGEON, CHARGE_NURSE, ROOM_NURSE, ROOM_RADIOGRAPHER, QUALITY_OFFICER)

AUDIT_NIGHTLY: Final = "audit_nightly_result"
DAILY_DIGEST: Final = "quality_daily_digest"


@dataclass(frozen=True)
class RuleSpec:
    code: str
    description: str
    anchor: str
    offset_minutes: int
    condition: str
    recipients: tuple[str, ...]
    escalation: bool = False


DEFAULT_RULES: Final[tuple[RuleSpec, ...]] = (
    RuleSpec("plan_unsigned_24h", "Plan not signed 24 h before the scheduled start",
             SCHEDULED_START, -24 * 60, PLAN_UNSIGNED, (SURGEON,)),
    RuleSpec("plan_unsigned_2h", "Plan still not signed 2 h before the scheduled start",
             SCHEDULED_START, -2 * 60, PLAN_UNSIGNED, (SURGEON, CHARGE_NURSE), escalation=True),
    RuleSpec("consent_12h", "Consent not recorded, or not matching the plan, 12 h before the start",
             SCHEDULED_START, -12 * 60, CONSENT_MISSING_OR_MISMATCH, (ROOM_NURSE, SURGEON)),
    RuleSpec("anatomy_imaging_12h", "Anatomy or pre-op imaging not recorded 12 h before the start",
             SCHEDULED_START, -12 * 60, ANATOMY_OR_IMAGING_MISSING, (ROOM_RADIOGRAPHER, ROOM_NURSE)),
    RuleSpec("time_out_overdue", "Patient in the room but the time-out not complete after 15 minutes",
             PATIENT_IN_ROOM, 15, TIME_OUT_INCOMPLETE, (ROOM_NURSE, SURGEON)),
    RuleSpec("localization_overdue", "Localization not passed 30 minutes after the time-out",
             TIME_OUT_COMPLETED, 30, LOCALIZATION_NOT_PASSED, (SURGEON,)),
    RuleSpec("sign_out_overdue", "Sign-out not done 30 minutes after the procedure ended",
             PROCEDURE_ENDED, 30, SIGN_OUT_NOT_DONE, (ROOM_NURSE,)),
    RuleSpec("stop_unresolved", "A level-check stop unresolved for 10 minutes",
             STOP_OPENED, 10, STOP_UNRESOLVED, (CHARGE_NURSE, QUALITY_OFFICER), escalation=True),
    RuleSpec(AUDIT_NIGHTLY, "Nightly audit verification and seal, with the result",
             SYSTEM, 0, ALWAYS, (QUALITY_OFFICER,)),
    RuleSpec(DAILY_DIGEST, "Daily digest: yesterday's near misses and incomplete checklists",
             SYSTEM, 0, ALWAYS, (QUALITY_OFFICER,)),
)  # fmt: skip
