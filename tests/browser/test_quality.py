"""The quality workspace in a real browser: the MRN search never puts the MRN in the address bar,
and the audit page has no serious accessibility violations."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import axe_violations, screenshot
from tests.support.workflow import Team, case_schedule, evidence_record

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_searching_the_audit_trail_by_mrn_keeps_the_mrn_out_of_the_url(new_device, team: Team) -> None:
    wanted = case_schedule(team)
    evidence_record(team, wanted)
    other = case_schedule(team)
    evidence_record(team, other)
    mrn = wanted.patient.mrn

    officer = new_device(team.quality.username, bypass_csp=True)
    officer.goto("/quality/audit/")
    assert axe_violations(officer) == [], "audit page"
    officer.fill("#id_mrn", mrn.lower())
    officer.get_by_role("button", name="Search").click()
    expect(officer).to_have_url(f"{officer.url.split('?')[0]}?patient={wanted.patient_id}")
    assert mrn.lower() not in officer.url.lower()
    expect(officer.locator("#id_mrn")).to_have_value(mrn)  # what was searched stays in the box
    events = officer.get_by_test_id("events")
    expect(events).to_contain_text(f"Case {wanted.pk}")
    expect(events).not_to_contain_text(f"Case {other.pk}")
    screenshot(officer, "quality-audit-mrn-search")

    officer.fill("#id_mrn", "NO-SUCH-MRN")
    officer.get_by_role("button", name="Search").click()
    expect(officer.locator("body")).to_contain_text("No patient has this MRN.")
    assert "NO-SUCH-MRN" not in officer.url
