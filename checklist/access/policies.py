"""Who may do what: the role x action matrix and the case scope rules.

Roles come from checklist.access.roles. Scope: nurses, anesthesia and radiographers act on the cases of
their rooms (anesthesia also on cases they are assigned to); surgeons on cases where they are the
surgeon or a designated co-surgeon; quality officers and admins read every case. Quality officers
change nothing clinical; admins configure and schedule but never attest or sign.
"""

from __future__ import annotations

from typing import Final

from django.db.models import Q, QuerySet

from checklist.access import roles
from checklist.models import Case, User
from core.errors import ForbiddenError

N, S, A, R, Q_, AD = (
    roles.NURSE,
    roles.SURGEON,
    roles.ANESTHESIA,
    roles.RADIOGRAPHER,
    roles.QUALITY_OFFICER,
    roles.ADMIN,
)

# action -> roles allowed (before the case scope is applied)
MATRIX: Final[dict[str, frozenset[str]]] = {
    "case.view": frozenset({N, S, A, R, Q_, AD}),
    "case.schedule": frozenset({N, AD}),
    "case.patient_in_room": frozenset({N}),
    "plan.revise": frozenset({S}),
    "plan.sign": frozenset({S}),
    "consent.record": frozenset({N, S}),
    "marking.record": frozenset({N, S}),
    "imaging.record": frozenset({N, S, R}),
    "anatomy.record": frozenset({N, S, R}),
    "localization.record": frozenset({N, S, R}),
    "localization.mark_durable": frozenset({N, S}),
    "localization.confirm": frozenset({S}),
    "step.attest": frozenset({N, S, A, R}),
    "time_out.complete": frozenset({N, S}),
    "treated_levels.record": frozenset({N, S}),
    "sign_out.complete": frozenset({N, S}),
    "audit.view": frozenset({Q_, AD}),
    "near_miss.view": frozenset({Q_, AD}),
}
ACTIONS: Final[tuple[str, ...]] = tuple(MATRIX)
READ_EVERYTHING: Final[frozenset[str]] = frozenset({Q_, AD})
ROOM_SCOPED: Final[frozenset[str]] = frozenset({N, A, R})

NOT_ALLOWED = "Your role ({role}) may not {action}."
NOT_YOUR_CASE = "This case is not in your rooms or on your list."


def user_roles(user: User) -> frozenset[str]:
    if not user.is_authenticated:
        return frozenset()
    return user.group_names


def in_scope(user: User, case: Case, role: str) -> bool:
    if role in READ_EVERYTHING:
        return True
    if role == S:
        return case.surgeon_id == user.pk or case.co_surgeons.filter(pk=user.pk).exists()
    if role == A and case.anesthesia_id == user.pk:
        return True
    if role in ROOM_SCOPED:
        return case.room_id in user.room_ids
    return False


def can(user: User, action: str, case: Case | None = None) -> bool:
    held = user_roles(user)
    for role in roles.ROLES:
        if role in held and role in MATRIX[action] and (case is None or in_scope(user, case, role)):
            return True
    return False


def require(user: User, action: str, case: Case | None = None) -> str:
    """Return the role the user acts under, or raise 403 with a reason."""
    held = user_roles(user)
    allowed_roles = [r for r in roles.ROLES if r in held and r in MATRIX[action]]
    if not allowed_roles:
        role = roles.ROLE_LABELS.get(user.role or "", "no role")
        raise ForbiddenError(NOT_ALLOWED.format(role=role, action=action.replace(".", " ").replace("_", " ")))
    if case is not None:
        for role in allowed_roles:
            if in_scope(user, case, role):
                return role
        raise ForbiddenError(NOT_YOUR_CASE)
    return allowed_roles[0]


def visible_cases(user: User) -> QuerySet[Case]:
    """Every case ``user`` may see."""
    held = user_roles(user)
    if held & READ_EVERYTHING:
        return Case.objects.all()
    condition = Q(pk__in=[])
    if S in held:
        condition |= Q(surgeon=user) | Q(co_surgeons=user)
    if A in held:
        condition |= Q(anesthesia=user)
    if held & ROOM_SCOPED:
        condition |= Q(room__staff=user)
    return Case.objects.filter(condition).distinct()


def has_role(user: User, role: str) -> bool:
    """Whether ``user`` holds ``role`` (a role of ``roles.ROLES`` or a designation such as
    ``roles.CHARGE_NURSE``). The one place that reads group membership for a decision."""
    return role in user_roles(user)


def users_with_roles(*held: str, active_only: bool = True) -> QuerySet[User]:
    """The users holding any of ``held`` (roles or designations), active ones only by default."""
    users = User.objects.filter(groups__name__in=held)
    return users.filter(is_active=True) if active_only else users
