"""Add-on cases from the tablet (issue 12): nurses in their rooms and administrators, with the
API's validation and the same service."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from checklist.models import AuditEvent, Case
from tests.support.workflow import Team, team_create

pytestmark = pytest.mark.django_db


def _post(user, **overrides: str) -> tuple[int, str]:
    client = Client()
    client.force_login(user)
    start = (timezone.localtime() + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    data = {
        "mrn": "ADD-001", "family_name": "Addon", "given_name": "Ann", "date_of_birth": "1970-01-02",
        "room": "OR 1", "scheduled_start": start, "procedure": "discectomy", "surgeon": "surgeon", "anesthesia": "",
    }  # fmt: skip
    data.update(overrides)
    response = client.post("/cases/new/", data)
    return response.status_code, response.content.decode() if response.status_code != 302 else response["Location"]


def test_a_nurse_schedules_an_add_on_case_in_their_room(team: Team) -> None:
    status, location = _post(team.nurse)
    assert status == 302
    case = Case.objects.get(patient__mrn="ADD-001")
    assert location == f"/cases/{case.pk}/"
    assert (case.room, case.surgeon, case.procedure) == (team.room, team.surgeon, "discectomy")
    assert AuditEvent.objects.filter(case=case, action="case.scheduled", actor=team.nurse).exists()


def test_the_tablet_refuses_what_the_api_refuses(team: Team) -> None:
    _post(team.nurse)
    status, html = _post(team.nurse, given_name="Other")  # a known MRN with another name
    assert status == 400 and "belongs to a patient with a different name" in html
    tomorrow = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    status, html = _post(team.nurse, mrn="ADD-002", date_of_birth=tomorrow)
    assert status == 400 and "The date of birth cannot be in the future." in html
    status, html = _post(team.nurse, mrn="ADD-003", surgeon="anesthesia")
    assert status == 400
    assert Case.objects.count() == 1


def test_a_nurse_cannot_schedule_in_another_room_an_administrator_can(team: Team) -> None:
    other = team_create(room_name="OR 2", suffix="2")
    status, _ = _post(team.nurse, room="OR 2", mrn="ADD-004")
    assert status == 400  # OR 2 is not offered to this nurse
    assert not Case.objects.filter(patient__mrn="ADD-004").exists()
    status, _ = _post(team.admin, room="OR 2", mrn="ADD-004", surgeon=other.surgeon.username)
    assert status == 302
    assert Case.objects.get(patient__mrn="ADD-004").room == other.room


def test_people_who_do_not_schedule_get_no_form(team: Team) -> None:
    for user in (team.surgeon, team.quality):
        client = Client()
        client.force_login(user)
        assert client.get("/cases/new/").status_code == 403
        assert "/cases/new/" not in client.get("/cases/").content.decode()
