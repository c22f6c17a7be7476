"""Two tablets send two patients into one room at the same moment: one goes in, the other is
refused naming it (issue 12, item 5). PostgreSQL: the room row lock serializes the two."""

from __future__ import annotations

import pytest

from checklist.access import roles
from checklist.models import Case
from tests.checklist.api.test_api_concurrency import race
from tests.support.factories import UserFactory
from tests.support.workflow import case_schedule, evidence_record, team_create

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_patients_sent_into_one_room_at_once_only_one_goes_in() -> None:
    team = team_create()
    second_nurse = UserFactory(username="nurse_b", roles=[roles.NURSE], full_name="Nurse B")
    team.room.staff.add(second_nurse)
    second_nurse.access_forget()
    first, second = case_schedule(team), case_schedule(team)
    for case in (first, second):
        evidence_record(team, case)
    versions = {c.pk: Case.objects.get(pk=c.pk).evidence_version for c in (first, second)}
    results = race(
        [
            (team.nurse, f"/api/v1/cases/{first.pk}/in-room/", {"expected_version": versions[first.pk]}),
            (second_nurse, f"/api/v1/cases/{second.pk}/in-room/", {"expected_version": versions[second.pk]}),
        ]
    )
    statuses = sorted(status for status, _ in results)
    assert statuses[0] < 300 and statuses[1] == 400, results
    in_room = Case.objects.filter(pk__in=[first.pk, second.pk], patient_in_room_at__isnull=False)
    assert in_room.count() == 1
    refused = next(body for status, body in results if status == 400)
    assert f"case {in_room.get().pk}" in refused["detail"]
