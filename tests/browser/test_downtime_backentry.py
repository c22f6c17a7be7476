"""Back-entry from the downtime paper in Chromium (issue 18): from the case page to the page, a row
refused with its reason on the row, then entered and shown on the case page as recorded from
downtime paper. No sideways scrolling on a tablet or a phone; no serious axe violations."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from checklist import services
from checklist.models import Case, StepAttestation
from checklist.selectors import checklist_status
from tests.browser.conftest import axe_violations, screenshot
from tests.support.workflow import Team, case_schedule, evidence_record

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _shot(page: Page, name: str) -> None:
    """The README's screenshots (RIGHTLEVEL_SCREENSHOTS=1), or a look during development
    (RIGHTLEVEL_SHOT_DIR: a directory outside the repository)."""
    screenshot(page, name)
    where = os.environ.get("RIGHTLEVEL_SHOT_DIR")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(where) / f"{name}.png"))


def _overflow(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth"))


@pytest.mark.parametrize(
    "viewport", [{"width": 1024, "height": 768}, {"width": 390, "height": 844}], ids=["tablet", "phone"]
)
def test_a_nurse_back_enters_the_paper_from_the_case_page(new_device, team: Team, viewport) -> None:
    start = timezone.now() - dt.timedelta(hours=3)
    case = case_schedule(team, scheduled_start=start)
    evidence_record(team, case)
    services.case_patient_in_room(actor=team.nurse, case=case)
    step = next(
        s for s in checklist_status(Case.objects.get(pk=case.pk)) if s.phase == "sign_in" and "nurse" in s.roles
    )
    key = f"{step.code}__nurse"
    paper = timezone.localtime(timezone.now() - dt.timedelta(minutes=30))
    nurse = new_device(team.nurse.username, viewport=viewport, bypass_csp=True)  # axe is injected
    nurse.goto(f"/cases/{case.pk}/")
    nurse.get_by_test_id("downtime-backentry-link").click()
    expect(nurse.get_by_test_id("backentry-form")).to_be_visible()
    assert _overflow(nurse) <= 0, f"the back-entry page scrolls sideways at {viewport}"
    nurse.fill("input[name=paper_date]", paper.date().isoformat())
    # Only the initials: refused on the row, nothing recorded.
    nurse.select_option(f"select[name='{key}-attested_by']", str(team.nurse.pk))
    nurse.get_by_test_id("backentry-submit").click()
    row = nurse.get_by_test_id(f"backentry-row-{key}")
    expect(row).to_contain_text("Give the time written beside the initials.")
    _shot(nurse, f"downtime-backentry-error-{viewport['width']}")
    assert axe_violations(nurse) == []
    assert not StepAttestation.objects.filter(run__case=case).exists()
    nurse.fill(f"input[name='{key}-time']", paper.strftime("%H:%M"))
    nurse.get_by_test_id("backentry-submit").click()
    expect(nurse.get_by_test_id("paper-attestation").first).to_contain_text("recorded from downtime paper")
    expect(nurse.get_by_test_id("paper-attestation").first).to_contain_text(f"paper {paper:%H:%M}")
    _shot(nurse, f"downtime-backentry-case-page-{viewport['width']}")
    attestation = StepAttestation.objects.get(run__case=case, step_code=step.code, role="nurse")
    assert attestation.recorded_from_paper and timezone.localtime(attestation.paper_time).strftime(
        "%H:%M"
    ) == paper.strftime("%H:%M")


def test_a_quality_officer_reads_the_marker_in_the_trail_and_the_dashboard(new_device, team: Team) -> None:
    from checklist.services.downtime import PaperEntry

    case = case_schedule(team, scheduled_start=timezone.now() - dt.timedelta(hours=3))
    evidence_record(team, case)
    services.case_patient_in_room(actor=team.nurse, case=case)
    paper = timezone.now() - dt.timedelta(minutes=50)
    entries = [
        PaperEntry(step_code=s.code, role=r, attested_by=team.by_role(r), paper_time=paper + dt.timedelta(minutes=i))
        for i, (s, r) in enumerate(
            (s, r) for s in checklist_status(Case.objects.get(pk=case.pk)) if s.phase == "sign_in" for r in s.roles
        )
    ]
    services.steps_back_enter(actor=team.nurse, case=case.pk, entries=entries)
    quality = new_device(team.quality.username, bypass_csp=True)
    quality.goto(f"/cases/{case.pk}/downtime-entry/")
    expect(quality.get_by_test_id("backentry-read-only")).to_be_visible()
    expect(quality.get_by_test_id("paper-recorded")).to_contain_text(f"{timezone.localtime(paper):%H:%M}")
    assert quality.get_by_test_id("backentry-form").count() == 0
    _shot(quality, "downtime-backentry-read-only")
    quality.goto(f"/quality/cases/{case.pk}/")
    expect(quality.get_by_test_id("event-paper-marker").first).to_contain_text("recorded from downtime paper")
    quality.get_by_test_id("event-paper-marker").first.scroll_into_view_if_needed()
    _shot(quality, "downtime-backentry-trail")
    quality.goto("/quality/")
    figure = quality.get_by_test_id("downtime-figure")
    expect(figure).to_contain_text(f"{len(entries)} step attestations")
    figure.scroll_into_view_if_needed()
    _shot(quality, "downtime-backentry-dashboard")
    assert axe_violations(quality) == []
