"""Roles as data: each role (and each designation) is a Django group a user is a member of.

What a role may do is decided in one place, the matrix of ``checklist.access.policies``; the groups
carry no Django permissions (migration 0018 removed the rows nothing read). ``roles_sync`` creates
the groups after every ``migrate``.
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

# Designations held on top of a role (charge nurse: escalations go to them).
CHARGE_NURSE: Final = "charge_nurse"
DESIGNATIONS: Final[tuple[str, ...]] = (CHARGE_NURSE,)


def primary_role(group_names: set[str] | frozenset[str]) -> str | None:
    """The role a user acts under: the first of ROLES they hold."""
    for role in ROLES:
        if role in group_names:
            return role
    return None
