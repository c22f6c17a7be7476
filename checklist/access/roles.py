"""Roles as data: each role is a Django group carrying the permissions listed here.

The data migration ``0002_role_groups`` creates the groups; ``roles_sync`` keeps them in step when
this table changes (it runs after every ``migrate``).
"""

from __future__ import annotations

from typing import Final

NURSE: Final = "nurse"
SURGEON: Final = "surgeon"
ANESTHESIA: Final = "anesthesia"
RADIOGRAPHER: Final = "radiographer"
QUALITY_OFFICER: Final = "quality_officer"
ADMIN: Final = "admin"

# Order matters: a user in several groups is shown (and audited) with the first role listed.
ROLES: Final[tuple[str, ...]] = (SURGEON, ANESTHESIA, NURSE, RADIOGRAPHER, QUALITY_OFFICER, ADMIN)

ROLE_LABELS: Final[dict[str, str]] = {
    NURSE: "OR nurse",
    SURGEON: "Surgeon",
    ANESTHESIA: "Anesthesia",
    RADIOGRAPHER: "Radiographer",
    QUALITY_OFFICER: "Quality officer",
    ADMIN: "Administrator",
}

# Designations held on top of a role (groups without permissions of their own).
CHARGE_NURSE: Final = "charge_nurse"
DESIGNATIONS: Final[tuple[str, ...]] = (CHARGE_NURSE,)

# Custom permissions, declared on checklist.User's Meta (codename, description).
PERMISSIONS: Final[tuple[tuple[str, str], ...]] = (
    ("view_case_record", "Can view cases, their evidence and checklists"),
    ("schedule_case", "Can schedule and edit cases"),
    ("edit_plan", "Can write and revise a surgical plan"),
    ("sign_plan", "Can e-sign a surgical plan"),
    ("record_evidence", "Can record consent, marking, imaging and anatomy"),
    ("record_localization", "Can record an intraoperative level localization"),
    ("confirm_localization", "Can confirm a localization as the operating surgeon"),
    ("attest_step", "Can attest a checklist step"),
    ("view_audit", "Can read audit trails, near misses and compliance figures"),
    ("export_records", "Can export records (CSV, PDF, FHIR)"),
    ("configure_system", "Can configure templates, rules and users"),
)

ROLE_PERMISSIONS: Final[dict[str, tuple[str, ...]]] = {
    NURSE: ("view_case_record", "schedule_case", "record_evidence", "record_localization", "attest_step"),
    SURGEON: (
        "view_case_record",
        "edit_plan",
        "sign_plan",
        "record_evidence",
        "record_localization",
        "confirm_localization",
        "attest_step",
    ),
    ANESTHESIA: ("view_case_record", "attest_step"),
    RADIOGRAPHER: ("view_case_record", "record_evidence", "record_localization", "attest_step"),
    QUALITY_OFFICER: ("view_case_record", "view_audit", "export_records"),
    # Admins configure; they cannot attest clinical steps or sign.
    ADMIN: ("view_case_record", "schedule_case", "view_audit", "export_records", "configure_system"),
}


def primary_role(group_names: set[str] | frozenset[str]) -> str | None:
    """The role a user acts under: the first of ROLES they hold."""
    for role in ROLES:
        if role in group_names:
            return role
    return None
