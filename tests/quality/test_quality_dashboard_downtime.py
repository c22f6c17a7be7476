"""The dashboard's figure of its own for downtime back-entry (issue 18): cases and step attestations
recorded from downtime paper, in the range and week by week (the week of the paper's time)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from checklist import services
from checklist.models import Case
from checklist.selectors import checklist_status
from checklist.services.downtime import PaperEntry
from quality.forms import CaseFilterForm
from quality.selectors import CaseFilter, compliance
from tests.support.workflow import Team, case_schedule, evidence_record, phase_attest, team_create

pytestmark = pytest.mark.django_db

D0 = dt.datetime(2026, 3, 9, 8, 0, tzinfo=dt.UTC)  # a Monday
RANGE = {"date_from": "2026-02-23", "date_to": "2026-03-15"}


def _where(**data: str) -> CaseFilter:
    form = CaseFilterForm({**RANGE, **data})
    assert form.is_valid(), form.errors
    return CaseFilter.from_form(form)


def _case_at(team: Team, start: dt.datetime, *, paper: bool) -> int:
    """A case started at ``start``: its sign-in done on paper an hour in and entered two hours in
    (``paper``), or attested live. Returns how many attestations came from paper."""
    with time_machine.travel(start - dt.timedelta(hours=1), tick=False) as traveller:
        case = case_schedule(team, scheduled_start=start)
        evidence_record(team, case)
        traveller.move_to(start)
        services.case_patient_in_room(actor=team.nurse, case=case)
        if not paper:
            return 0 * phase_attest(team, case, "sign_in")
        traveller.move_to(start + dt.timedelta(hours=2))
        entries = [
            PaperEntry(
                step_code=step.code,
                role=role,
                attested_by=team.by_role(role),
                paper_time=start + dt.timedelta(hours=1, minutes=i),
            )
            for i, (step, role) in enumerate(
                (s, r) for s in checklist_status(Case.objects.get(pk=case.pk)) if s.phase == "sign_in" for r in s.roles
            )
        ]
        return len(services.steps_back_enter(actor=team.nurse, case=case.pk, entries=entries))


@pytest.fixture
def downtime_data() -> dict[str, int]:
    team = team_create()
    return {
        "week1": _case_at(team, D0 - dt.timedelta(days=7), paper=True),
        "week2_a": _case_at(team, D0, paper=True),
        "week2_b": _case_at(team, D0 + dt.timedelta(days=1), paper=True),
        "live": _case_at(team, D0 + dt.timedelta(days=2), paper=False),
        "outside": _case_at(team, D0 + dt.timedelta(days=14), paper=True),
    }


def test_the_figure_counts_cases_and_attestations_from_paper_by_week(downtime_data) -> None:
    counts = downtime_data
    figures = compliance(_where()).downtime
    assert figures is not None
    assert counts["week1"] > 0 and counts["live"] == 0
    assert figures.cases == 3  # the live case and the one outside the range are not counted
    assert figures.attestations == counts["week1"] + counts["week2_a"] + counts["week2_b"]
    assert figures.by_week == [
        {"label": "2026-03-02", "cases": 1, "attestations": counts["week1"]},
        {"label": "2026-03-09", "cases": 2, "attestations": counts["week2_a"] + counts["week2_b"]},
    ]
    # The filters narrow it like every other figure.
    assert compliance(_where(date_from="2026-03-09")).downtime.cases == 2  # type: ignore[union-attr]


def test_the_dashboard_shows_the_figure(client, downtime_data) -> None:
    from checklist.models import User

    client.force_login(User.objects.get(username="quality"))
    response = client.get(reverse("quality-dashboard"), RANGE)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="downtime-figure"' in body and "Recorded from downtime paper" in body
    total = downtime_data["week1"] + downtime_data["week2_a"] + downtime_data["week2_b"]
    assert f"<strong>{total}</strong> step attestations" in " ".join(body.split())
    assert "2026-03-02" in body and "2026-03-09" in body
