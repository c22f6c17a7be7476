"""Issue 12, the target and the truth always in view: the sticky target header stays on screen
in every form and dialog (level image, confirm level, levels treated) at tablet and phone sizes,
with no sideways scrolling, also once a level image exists."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from checklist import services
from checklist.models import Case
from tests.browser.conftest import axe_violations, screenshot
from tests.support.factories import TEST_PASSWORD
from tests.support.workflow import (
    Team,
    case_schedule,
    case_through_time_out,
    evidence_record,
    phase_attest,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.slow]

VIEWPORTS = [{"width": 1024, "height": 768}, {"width": 768, "height": 1024}, {"width": 390, "height": 844}]


def _overflow(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth"))


def _header_in_view_at(page: Page, selector: str) -> None:
    """Scroll the control into view: the target header must still be on screen, not covering it."""
    control = page.locator(selector)
    control.scroll_into_view_if_needed()
    header = page.get_by_test_id("target")
    expect(header).to_be_in_viewport()
    box, head = control.bounding_box(), page.locator(".target-header").bounding_box()
    assert box is not None and head is not None
    assert box["y"] >= head["y"] + head["height"] - 1 or box["y"] + box["height"] <= head["y"], (
        f"{selector} is hidden under the target header"
    )


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=["landscape", "portrait", "phone"])
def test_the_target_stays_in_view_in_every_form_without_sideways_scrolling(new_device, team: Team, viewport) -> None:
    case = case_schedule(team)
    evidence_record(team, case)
    case = case_through_time_out(team, case)
    localization = services.localization_record(
        actor=team.radiographer, case=case, phase="pre_incision", reference="sacrum", count=4, label="L2",
        marker_in_place=True, read_by=team.surgeon,
    )  # fmt: skip
    services.localization_mark_durable(actor=team.nurse, case=case, localization_id=localization.pk)
    phase_attest(team, case, "localization")

    surgeon = new_device(team.surgeon.username, viewport=viewport)
    surgeon.goto(f"/cases/{case.pk}/")
    assert _overflow(surgeon) <= 0, f"the case page with a level image scrolls sideways at {viewport}"
    surgeon.get_by_text("Record a level image").click()
    _header_in_view_at(surgeon, "[data-testid=save-localization]")
    assert _overflow(surgeon) <= 0
    surgeon.get_by_text("Confirm the level (surgeon)").click()
    _header_in_view_at(surgeon, "[data-testid=confirm-level]")
    assert _overflow(surgeon) <= 0
    if viewport["width"] == 390:
        screenshot(surgeon, "issue12-phone-confirm-level")

    services.localization_confirm(actor=team.surgeon, case=case, password=TEST_PASSWORD, username="surgeon")
    nurse = new_device(team.nurse.username, viewport=viewport, bypass_csp=True)
    nurse.goto(f"/cases/{case.pk}/")
    nurse.get_by_text("Record the levels treated").click()
    _header_in_view_at(nurse, "button:has-text('Save levels treated')")
    assert _overflow(nurse) <= 0
    assert axe_violations(nurse) == []
    assert Case.objects.get(pk=case.pk).localization_passed_at is not None
