"""Scheduling with an MRN that belongs to another patient (issue 14, item 6): only someone who may
already see that patient is told so; to anyone else the answer does not confirm the MRN exists."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from checklist.services.cases import IDENTIFIERS_REFUSED, MRN_TAKEN
from tests.security.conftest import World
from tests.support.api_workflow import token_client

pytestmark = pytest.mark.django_db


def _schedule(world: World, user, team, **patient: object):
    body = {
        "mrn": world.case.patient.mrn,
        "family_name": "Someone",
        "given_name": "Else",
        "date_of_birth": "1970-01-01",
        "room": team.room.name,
        "scheduled_start": (timezone.now() + dt.timedelta(hours=3)).isoformat(),
        "surgeon": team.surgeon.username,
        "procedure": "selective_nerve_root_block",
        **patient,
    }
    return token_client(user).post("/api/v1/cases/", body, format="json")


def test_the_mrn_answer_reveals_nothing_outside_the_patients_rooms(world: World) -> None:
    mrn = world.case.patient.mrn
    outsider = _schedule(world, world.other.nurse, world.other)  # OR 2's nurse, the patient is in OR 1
    assert outsider.status_code == 400
    assert outsider.json()["errors"]["mrn"] == [IDENTIFIERS_REFUSED]
    text = outsider.content.decode()
    for leak in (mrn, "belongs", world.case.patient.family_name, "different name"):
        assert leak not in text, leak
    insider = _schedule(world, world.team.nurse, world.team)
    assert insider.status_code == 400
    assert insider.json()["errors"]["mrn"] == [MRN_TAKEN.format(mrn=mrn)]
