"""Which cases a user may see has one statement, the table ``policies.CASE_SCOPE`` (role -> the ties
through which it sees a case). ``policies.can`` (one case), ``policies.visible_cases`` (a queryset)
and the status endpoint's hand-written SQL (``selectors.case_status_visible``, kept for its speed)
are each built from it, tie by tie, and held here to the same answers for every combination of one
or two roles and every way a person is tied to a case."""

from __future__ import annotations

from itertools import combinations

import pytest

from checklist.access import policies, roles
from checklist.access.policies import can, visible_cases
from checklist.models import Case, Room, User
from checklist.selectors import case_status_visible
from tests.support.factories import UserFactory
from tests.support.workflow import Team, case_schedule

RELATIONS = ("none", "surgeon", "co_surgeon", "anesthesia", "room_staff")
ROLE_SETS = [(), *combinations(roles.ROLES, 1), *combinations(roles.ROLES, 2)]


def _tie(case: Case, user: User, relation: str, other_room: Room) -> None:
    Case.objects.filter(pk=case.pk).update(surgeon=case.surgeon_id, anesthesia=None, room=other_room)
    case.co_surgeons.clear()
    other_room.staff.remove(user)
    if relation == "surgeon":
        Case.objects.filter(pk=case.pk).update(surgeon=user)
    elif relation == "co_surgeon":
        case.co_surgeons.add(user)
    elif relation == "anesthesia":
        Case.objects.filter(pk=case.pk).update(anesthesia=user)
    elif relation == "room_staff":
        other_room.staff.add(user)


@pytest.mark.django_db
def test_the_status_sql_and_the_orm_answer_as_the_one_rule(team: Team) -> None:
    case = case_schedule(team)
    other_room = Room.objects.create(name="OR scope")
    disagreements = []
    for number, held in enumerate(ROLE_SETS):
        user = UserFactory(username=f"scope{number}", roles=list(held))
        for relation in RELATIONS:
            _tie(case, user, relation, other_room)
            fresh_user = User.objects.get(pk=user.pk)
            fresh_case = Case.objects.get(pk=case.pk)
            answers = (
                can(fresh_user, "case.view", fresh_case),
                visible_cases(fresh_user).filter(pk=case.pk).exists(),
                case_status_visible(user=fresh_user, case_id=case.pk) is not None,
            )
            if len(set(answers)) != 1:
                disagreements.append((held, relation, answers))
    assert disagreements == []


def test_every_role_has_its_ties_in_the_one_scope_table() -> None:
    assert set(policies.CASE_SCOPE) == set(roles.ROLES)
    assert all(policies.CASE_SCOPE[role] for role in roles.ROLES)


@pytest.mark.django_db
def test_the_check_above_sees_both_answers(team: Team) -> None:
    case = case_schedule(team)
    assert case_status_visible(user=team.nurse, case_id=case.pk) is not None
    outsider = UserFactory(username="scope-outsider", roles=[roles.NURSE])
    assert case_status_visible(user=outsider, case_id=case.pk) is None
    assert not visible_cases(outsider).filter(pk=case.pk).exists()
