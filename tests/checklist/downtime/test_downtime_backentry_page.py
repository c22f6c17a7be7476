"""The "Back-enter from downtime paper" page (issue 18): reachable from the case page, a row per
step and role still to attest; errors come back on the rows (400, never a 500); a quality officer
reads it and cannot enter; the case page and the trail show what came from paper."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from checklist import services
from checklist.models import Case, StepAttestation
from checklist.selectors import checklist_status
from tests.support.workflow import Team, case_schedule, evidence_record

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _case(team: Team) -> Case:
    case = case_schedule(team, scheduled_start=timezone.now() - dt.timedelta(hours=3))
    evidence_record(team, case)
    services.case_patient_in_room(actor=team.nurse, case=case)
    return Case.objects.get(pk=case.pk)


def _nurse_sign_in_step(case: Case) -> str:
    return next(s.code for s in checklist_status(case) if s.phase == "sign_in" and "nurse" in s.roles)


def _post(client: Client, case: Case, rows: dict[str, tuple[object, dt.datetime | None]], **extra: object):
    paper_day = next((t for _, t in rows.values() if t is not None), timezone.now())
    data: dict[str, object] = {
        "expected_version": case.evidence_version,
        "paper_date": timezone.localtime(paper_day).date().isoformat(),
        **extra,
    }
    for key, (who, at) in rows.items():
        data[f"{key}-attested_by"] = getattr(who, "pk", "") if who else ""
        data[f"{key}-time"] = timezone.localtime(at).strftime("%H:%M") if at else ""
    return client.post(reverse("downtime-backentry", args=[case.pk]), data)


def _minutes_ago(n: int) -> dt.datetime:
    return timezone.now() - dt.timedelta(minutes=n)


def test_the_case_page_links_to_the_page_and_the_page_lists_the_steps_to_enter(team: Team) -> None:
    case = _case(team)
    page = _client(team.nurse).get(reverse("case-detail", args=[case.pk])).content.decode()
    assert reverse("downtime-backentry", args=[case.pk]) in page and "Back-enter from downtime paper" in page
    response = _client(team.nurse).get(reverse("downtime-backentry", args=[case.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    code = _nurse_sign_in_step(case)
    assert f'name="{code}__nurse-attested_by"' in body and f'name="{code}__nurse-time"' in body
    assert 'type="time"' in body and 'data-testid="backentry-form"' in body


@pytest.fixture
def midday() -> Iterator[None]:
    """Noon today, local time: a paper time minutes ago, or a time minutes ahead, stays on the
    case's day whatever the hour the suite runs at."""
    noon = timezone.localtime().replace(hour=12, minute=0, second=0, microsecond=0)
    with time_machine.travel(noon, tick=True):
        yield


def test_an_entry_is_recorded_and_shown_on_the_case_page_and_the_trail(midday: None, team: Team) -> None:
    case = _case(team)
    code = _nurse_sign_in_step(case)
    at = _minutes_ago(40).replace(second=0, microsecond=0)
    response = _post(_client(team.nurse), case, {f"{code}__nurse": (team.nurse, at)})
    assert response.status_code == 302
    row = StepAttestation.objects.get(run__case=case, step_code=code, role="nurse")
    assert row.recorded_from_paper and row.paper_time == at and row.entered_by == team.nurse
    page = _client(team.nurse).get(reverse("case-detail", args=[case.pk])).content.decode()
    assert "recorded from downtime paper" in page
    assert f"paper {timezone.localtime(at):%H:%M}, entered {timezone.localtime(row.attested_at):%H:%M}" in page
    trail = _client(team.quality).get(reverse("quality-case", args=[case.pk])).content.decode()
    assert 'data-testid="event-paper-marker"' in trail and f"{timezone.localtime(at):%Y-%m-%d %H:%M}" in trail
    audit = _client(team.quality).get(reverse("quality-audit")).content.decode()
    assert 'data-testid="event-paper-marker"' in audit


def test_form_errors_come_back_on_the_rows_not_a_500(midday: None, team: Team) -> None:
    case = _case(team)
    code = _nurse_sign_in_step(case)
    client = _client(team.nurse)
    # Only the initials, no time: the row says what is missing.
    response = _post(client, case, {f"{code}__nurse": (team.nurse, None)})
    assert response.status_code == 400
    assert "Give the time written beside the initials." in response.content.decode()
    # A time in the future: the service's reason on the row.
    response = _post(client, case, {f"{code}__nurse": (team.nurse, timezone.now() + dt.timedelta(minutes=30))})
    assert response.status_code == 400
    assert "later than now" in response.content.decode()
    # Nothing filled in at all.
    response = _post(client, case, {f"{code}__nurse": (None, None)})
    assert response.status_code == 400 and "Nothing was entered" in response.content.decode()
    assert not StepAttestation.objects.filter(run__case=case).exists()


def test_a_stopped_case_refuses_the_entry_with_the_reason(team: Team) -> None:
    case = case_schedule(team, scheduled_start=timezone.now() - dt.timedelta(hours=3))
    evidence_record(team, case, consent_side="right")  # the consent disagrees: a stop
    services.case_patient_in_room(actor=team.nurse, case=case)
    case = Case.objects.get(pk=case.pk)
    assert case.verdict == "stop"
    code = _nurse_sign_in_step(case)
    response = _post(_client(team.nurse), case, {f"{code}__nurse": (team.nurse, _minutes_ago(10))})
    assert response.status_code == 400
    body = response.content.decode()
    assert "STOPPED" in body and 'data-testid="backentry-stopped"' in body
    assert not StepAttestation.objects.filter(run__case=case).exists()


def test_a_quality_officer_reads_the_page_and_is_refused_an_entry(team: Team) -> None:
    case = _case(team)
    client = _client(team.quality)
    page = client.get(reverse("case-detail", args=[case.pk])).content.decode()
    assert "Back-enter from downtime paper" not in page
    response = client.get(reverse("downtime-backentry", args=[case.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="backentry-read-only"' in body
    assert 'data-testid="backentry-form"' not in body and "-attested_by" not in body
    code = _nurse_sign_in_step(case)
    response = _post(client, case, {f"{code}__nurse": (team.nurse, _minutes_ago(10))})
    assert response.status_code == 403
    assert not StepAttestation.objects.filter(run__case=case).exists()


def test_a_nurse_of_another_room_does_not_see_the_case(team: Team) -> None:
    from tests.support.workflow import team_create

    other = team_create("OR 9", suffix="9")
    case = _case(team)
    assert _client(other.nurse).get(reverse("downtime-backentry", args=[case.pk])).status_code == 404
