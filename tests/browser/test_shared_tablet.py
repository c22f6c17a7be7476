"""A shared tablet in a real browser (issue 14, item 5): the stop-screen acknowledgement belongs to
the person who made it, not to the device, and nothing of the last person's case stays behind."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from checklist.access import roles
from tests.browser.conftest import login
from tests.support.factories import UserFactory
from tests.support.workflow import Team, case_schedule, evidence_record

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_the_next_person_on_the_tablet_sees_the_stop_screen_again(new_device, team: Team) -> None:
    second = UserFactory(username="nurse_b", roles=[roles.NURSE], full_name="Nora Nurse")
    team.room.staff.add(second)
    case = case_schedule(team)
    evidence_record(team, case, consent_side="right")  # a stop: consent and plan disagree
    tablet = new_device(team.nurse.username)
    tablet.goto(f"/cases/{case.pk}/")
    overlay = tablet.locator("#stop-overlay")
    expect(overlay).to_be_visible()
    tablet.get_by_test_id("stop-ack").click()
    expect(overlay).to_be_hidden()
    tablet.reload()
    expect(tablet.locator("#stop-overlay")).to_be_hidden()  # acknowledged by this nurse
    assert case.patient.family_name.lower() not in tablet.title().lower()

    tablet.get_by_role("button", name="Switch user").click()
    expect(tablet.locator("input[name=username]")).to_be_visible()
    login(tablet, second.username)
    tablet.goto(f"/cases/{case.pk}/")
    expect(tablet.locator("#stop-overlay")).to_be_visible()  # the same tab, another person: read it aloud
    tablet.get_by_test_id("stop-ack").click()

    tablet.get_by_role("button", name="Switch user").click()
    expect(tablet.locator("input[name=username]")).to_be_visible()
    tablet.go_back()  # the last person's case page is not shown from the browser's cache
    expect(tablet.locator("input[name=username]")).to_be_visible()
    login(tablet, team.nurse.username)
    tablet.goto(f"/cases/{case.pk}/")
    expect(tablet.locator("#stop-overlay")).to_be_hidden()  # her own acknowledgement still stands
