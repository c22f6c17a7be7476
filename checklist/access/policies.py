"""Who may do what: the role x action matrix and the case scope rules.

Roles come from checklist.access.roles. Scope (``CASE_SCOPE``, one table): nurses, anesthesia and
radiographers act on the cases of their rooms (anesthesia also on cases they are assigned to);
surgeons on cases where they are the surgeon or a designated co-surgeon; quality officers and
admins read every case. Quality officers change nothing clinical; admins configure and schedule
but never attest or sign.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any, Final

from django.db.models import Exists, F, OuterRef, Q, QuerySet

from checklist.access import roles
from checklist.models import Case, Room, User
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
    # The wristband scan at sign-in: the circulating nurse's attestation of patient identity.
    "identity.scan": frozenset({N}),
    # Entering what the team did on the downtime paper (issue 18): the circulating nurse.
    "downtime.back_enter": frozenset({N}),
    "time_out.complete": frozenset({N, S}),
    "treated_levels.record": frozenset({N, S}),
    "sign_out.complete": frozenset({N, S}),
    "audit.view": frozenset({Q_, AD}),
    "near_miss.view": frozenset({Q_, AD}),
}
ACTIONS: Final[tuple[str, ...]] = tuple(MATRIX)


class CaseTie(StrEnum):
    """How a person is tied to a case, which is what lets a role see it."""

    EVERY_CASE = "every case"
    SURGEON_OR_CO_SURGEON = "the case's surgeon or a co-surgeon"
    ASSIGNED_ANESTHESIA = "the case's assigned anesthesia"
    ROOM_STAFF = "staff of the case's room"


# role -> the ties through which it sees a case: the one statement of the scope rule. The
# per-case check (``in_scope``), the queryset (``visible_cases``) and the status poll's SQL
# (``selectors.cases.case_status_visible``) are each built from this table, tie by tie.
CASE_SCOPE: Final[dict[str, frozenset[CaseTie]]] = {
    N: frozenset({CaseTie.ROOM_STAFF}),
    S: frozenset({CaseTie.SURGEON_OR_CO_SURGEON}),
    A: frozenset({CaseTie.ASSIGNED_ANESTHESIA, CaseTie.ROOM_STAFF}),
    R: frozenset({CaseTie.ROOM_STAFF}),
    Q_: frozenset({CaseTie.EVERY_CASE}),
    AD: frozenset({CaseTie.EVERY_CASE}),
}


def roles_tied_by(tie: CaseTie) -> tuple[str, ...]:
    """The roles that see a case through ``tie``, in a stable order."""
    return tuple(sorted(role for role, ties in CASE_SCOPE.items() if tie in ties))


NOT_ALLOWED = "Your role ({role}) may not {action}."
NOT_YOUR_CASE = "This case is not in your rooms or on your list."


def user_roles(user: User) -> frozenset[str]:
    if not user.is_authenticated:
        return frozenset()
    return user.group_names


def _tie_holds(tie: CaseTie, user: User, case: Case) -> bool:
    if tie is CaseTie.EVERY_CASE:
        return True
    if tie is CaseTie.SURGEON_OR_CO_SURGEON:
        return case.surgeon_id == user.pk or case.co_surgeons.filter(pk=user.pk).exists()
    if tie is CaseTie.ASSIGNED_ANESTHESIA:
        return case.anesthesia_id == user.pk
    return case.room_id in user.room_ids  # CaseTie.ROOM_STAFF


def tie_condition(tie: CaseTie, user: User) -> Q:
    """The cases tied to ``user`` through ``tie``, as a condition on ``Case``."""
    if tie is CaseTie.EVERY_CASE:
        return Q()
    if tie is CaseTie.SURGEON_OR_CO_SURGEON:
        return Q(surgeon=user) | Q(co_surgeons=user)
    if tie is CaseTie.ASSIGNED_ANESTHESIA:
        return Q(anesthesia=user)
    return Q(room__staff=user)  # CaseTie.ROOM_STAFF


def in_scope(user: User, case: Case, role: str) -> bool:
    return any(_tie_holds(tie, user, case) for tie in sorted(CASE_SCOPE.get(role, ())))


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
    ties = {tie for role in user_roles(user) for tie in CASE_SCOPE.get(role, ())}
    if CaseTie.EVERY_CASE in ties:
        return Case.objects.all()
    condition = Q(pk__in=[])
    for tie in sorted(ties):
        condition |= tie_condition(tie, user)
    return Case.objects.filter(condition).distinct()


def has_role(user: User, role: str) -> bool:
    """Whether ``user`` holds ``role`` (a role of ``roles.ROLES`` or a designation such as
    ``roles.CHARGE_NURSE``). The one place that reads group membership for a decision."""
    return role in user_roles(user)


def users_by_username(usernames: Iterable[str]) -> dict[str, User]:
    """The users with these usernames (active or not), each with its roles read in the same query."""
    found: dict[str, User] = {}
    held: dict[str, set[str]] = {}
    rows = User.objects.filter(username__in=sorted(set(usernames))).annotate(held_role=F("groups__name"))
    for row in rows:
        found.setdefault(row.username, row)
        if row.held_role:
            held.setdefault(row.username, set()).add(row.held_role)
    for username, user in found.items():
        user.roles_known(frozenset(held.get(username, ())))
    return found


def role_holders(*held: str, room_id: int | None) -> QuerySet[Any]:
    """The active users holding any of ``held``, one row per user and role held (``held_role``),
    each marked ``in_room`` when on the staff of ``room_id``: every recipient group of a reminder
    in one query."""
    in_room = Room.staff.through.objects.filter(room_id=room_id or 0, user_id=OuterRef("pk"))
    return (
        User.objects.filter(is_active=True)
        .annotate(held_role=F("groups__name"), in_room=Exists(in_room))
        .filter(held_role__in=sorted(set(held)))
        .order_by("pk")
    )


def users_with_roles(*held: str, active_only: bool = True) -> QuerySet[User]:
    """The users holding any of ``held`` (roles or designations), active ones only by default."""
    users = User.objects.filter(groups__name__in=held)
    return users.filter(is_active=True) if active_only else users
