"""Every read the pages, the API and the reports need, by domain: ``cases``, ``checklist``,
``signatures``, ``incidents``, ``health`` and ``tablet`` (the tablet's pages). The reads of
the first five are re-exported here; selectors never write and never import services.
"""

from __future__ import annotations

from checklist.selectors.cases import (
    CASE_RELATED,
    ROOM_OCCUPANCY_HOURS,
    STATUS_FIELDS,
    WRONG_LEVEL_CODE,
    case_audit_events,
    case_detail,
    case_in_room,
    case_list,
    case_row_get,
    case_rows,
    case_status,
    case_status_visible,
    case_visible_get,
    verdict_display,
    wrong_level_acknowledged,
    wrong_level_stop_only,
)
from checklist.selectors.checklist import (
    StepStatus,
    case_conditions,
    checklist_status,
    checklist_template,
    phase_complete,
)
from checklist.selectors.health import (
    ComponentStatus,
    ReminderBacklog,
    broker_status,
    database_status,
    reminder_backlog,
    worker_last_heartbeat,
)
from checklist.selectors.incidents import (
    case_near_misses,
    near_misses_all,
)
from checklist.selectors.signatures import (
    case_signatures,
    signature_states,
    signing_failures_in_a_row,
    signing_unlockers,
)

__all__ = [
    "CASE_RELATED",
    "ROOM_OCCUPANCY_HOURS",
    "STATUS_FIELDS",
    "WRONG_LEVEL_CODE",
    "ComponentStatus",
    "ReminderBacklog",
    "StepStatus",
    "broker_status",
    "case_audit_events",
    "case_conditions",
    "case_detail",
    "case_in_room",
    "case_list",
    "case_near_misses",
    "case_row_get",
    "case_rows",
    "case_signatures",
    "case_status",
    "case_status_visible",
    "case_visible_get",
    "checklist_status",
    "checklist_template",
    "database_status",
    "near_misses_all",
    "phase_complete",
    "reminder_backlog",
    "signature_states",
    "signing_failures_in_a_row",
    "signing_unlockers",
    "verdict_display",
    "worker_last_heartbeat",
    "wrong_level_acknowledged",
    "wrong_level_stop_only",
]
