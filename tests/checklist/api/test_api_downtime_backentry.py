"""POST /api/v1/cases/{id}/downtime-entries/ (issue 18): the downtime paper's boxes over the API,
through the same service as the tablet page: 201 with the attestations marked as from paper, 400
naming the entry, 403 for a quality officer."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from checklist import services
from checklist.models import Case, StepAttestation
from checklist.selectors import checklist_status
from tests.support.api_workflow import API
from tests.support.workflow import Team, case_schedule, evidence_record

pytestmark = pytest.mark.django_db


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _case(team: Team) -> Case:
    case = case_schedule(team, scheduled_start=timezone.now() - dt.timedelta(hours=3))
    evidence_record(team, case)
    services.case_patient_in_room(actor=team.nurse, case=case)
    return Case.objects.get(pk=case.pk)


def _entry(case: Case, team: Team, paper_time: str) -> dict[str, str]:
    step = next(s for s in checklist_status(case) if s.phase == "sign_in" and "nurse" in s.roles)
    return {"step": step.code, "role": "nurse", "attested_by": team.nurse.username, "paper_time": paper_time}


def test_entries_are_attested_from_paper(team: Team) -> None:
    case = _case(team)
    paper = (timezone.now() - dt.timedelta(minutes=20)).replace(microsecond=0)
    body = {"expected_version": case.evidence_version, "entries": [_entry(case, team, paper.isoformat())]}
    response = _client(team.nurse).post(f"{API}/cases/{case.pk}/downtime-entries/", body, format="json")
    assert response.status_code == 201, response.content
    (attestation,) = response.json()["attestations"]
    assert attestation["recorded_from_paper"] is True
    assert dt.datetime.fromisoformat(attestation["paper_time"]) == paper
    assert StepAttestation.objects.get(pk=attestation["id"]).entered_by == team.nurse


@pytest.mark.parametrize(
    ("paper_time", "field", "words"),
    [
        ("half past eight", "entries", "HH:MM"),
        ((timezone.now() - dt.timedelta(days=3)).isoformat(), "entries.0-time", "before the case's day"),
    ],
)
def test_a_bad_paper_time_is_a_400_naming_it(team: Team, paper_time: str, field: str, words: str) -> None:
    case = _case(team)
    body = {"expected_version": case.evidence_version, "entries": [_entry(case, team, paper_time)]}
    response = _client(team.nurse).post(f"{API}/cases/{case.pk}/downtime-entries/", body, format="json")
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert words in str(errors[field])
    assert not StepAttestation.objects.filter(run__case=case).exists()


def test_a_quality_officer_is_refused(team: Team) -> None:
    case = _case(team)
    paper = (timezone.now() - dt.timedelta(minutes=20)).isoformat()
    body = {"expected_version": case.evidence_version, "entries": [_entry(case, team, paper)]}
    response = _client(team.quality).post(f"{API}/cases/{case.pk}/downtime-entries/", body, format="json")
    assert response.status_code == 403
