"""The tablet UI in a real browser: a whole L2 case by several people at once, the stop screen,
a stale write, the inactivity logoff, accessibility. Screenshots for the README on request."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from checklist import audit, services
from checklist.models import Case, CaseState, IdentityScan
from tests.browser.conftest import axe_violations, login, screenshot
from tests.support.factories import TEST_PASSWORD
from tests.support.workflow import Team, case_schedule, evidence_record

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.slow]
LIVE_SYNC_SECONDS = 5


def device(new_device, team: Team, role: str, **kwargs) -> Page:
    page = new_device(team.by_role(role).username, **kwargs) if role != "quality" else new_device(team.quality.username)
    return page


def open_case(page: Page, case: Case) -> None:
    page.goto(f"/cases/{case.pk}/")
    expect(page.get_by_test_id("target")).to_be_visible()


def attest_my_phase(page: Page, phase: str, role: str) -> None:
    button = page.get_by_test_id(f"attest-phase-{phase}-{role}")
    expect(button).to_be_visible()
    button.click()
    expect(page.locator(".messages")).to_contain_text("Attested")


def scan_wristband(page: Page, barcode: str) -> None:
    """What a keyboard-wedge scanner does: type the barcode into the focused field, then Enter."""
    field = page.get_by_test_id("wristband-barcode")
    expect(field).to_be_visible()
    field.focus()
    page.keyboard.type(barcode)
    page.keyboard.press("Enter")


def test_a_whole_l2_case_by_four_devices_with_live_sync(new_device, team: Team) -> None:
    case = case_schedule(team)
    evidence_record(team, case)
    nurse = device(new_device, team, "nurse")
    surgeon = device(new_device, team, "surgeon", viewport={"width": 390, "height": 844})  # the surgeon's phone
    anesthesia = device(new_device, team, "anesthesia")
    radiographer = device(new_device, team, "radiographer")
    for page in (nurse, surgeon, anesthesia, radiographer):
        open_case(page, case)
        expect(page.get_by_test_id("target")).to_have_text("LEFT L2 NERVE ROOT (L2-L3 FORAMEN)")
    screenshot(nurse, "case-ready-for-sign-in")

    nurse.get_by_test_id("in-room").click()
    expect(nurse.locator(".target-meta")).to_contain_text("Sign in")
    # Live sync: the other devices see the new state without reloading.
    expect(surgeon.locator(".target-meta")).to_contain_text("Sign in", timeout=LIVE_SYNC_SECONDS * 1000)
    expect(anesthesia.locator(".target-meta")).to_contain_text("Sign in", timeout=LIVE_SYNC_SECONDS * 1000)

    nurse.reload()
    scan_wristband(nurse, case.patient.mrn)
    expect(nurse.locator(".messages")).to_contain_text("Wristband matches")
    for page, role in ((nurse, "nurse"), (anesthesia, "anesthesia"), (radiographer, "radiographer")):
        page.reload()
        if page.get_by_test_id(f"attest-phase-sign_in-{role}").count():
            attest_my_phase(page, "sign_in", role)
    for page, role in (
        (surgeon, "surgeon"),
        (anesthesia, "anesthesia"),
        (nurse, "nurse"),
        (radiographer, "radiographer"),
    ):
        page.reload()
        if page.get_by_test_id(f"attest-phase-time_out-{role}").count():
            attest_my_phase(page, "time_out", role)
    screenshot(nurse, "time-out-attested")
    nurse.reload()
    nurse.get_by_test_id("time-out-complete").click()
    expect(nurse.locator(".target-meta")).to_contain_text("Localization")

    # Localization: the radiographer records the image; the expected count is on screen.
    expect(radiographer.get_by_test_id("expected-counts")).to_contain_text("count 4 from the sacrum")
    radiographer.reload()
    radiographer.get_by_text("Record a level image").click()
    radiographer.locator("label[for=id_localization-phase_0]").click()
    radiographer.locator("label[for=id_localization-reference_0]").click()
    radiographer.fill("#id_localization-count", "4")
    radiographer.fill("#id_localization-label", "l2")
    expect(radiographer.locator("#id_localization-label-preview")).to_contain_text("Reads as L2")
    # Or tap it: the picker offers this patient's levels and fills the same field.
    radiographer.locator(".level-pick[data-target=id_localization-label][data-level=L3]").click()
    expect(radiographer.locator("#id_localization-label")).to_have_value("L3")
    radiographer.locator(".level-pick[data-target=id_localization-label][data-level=L2]").click()
    expect(radiographer.locator("#id_localization-label")).to_have_value("L2")
    expect(radiographer.locator("#id_localization-label-preview")).to_contain_text("Reads as L2")
    radiographer.locator("label[for=id_localization-marker_in_place_0]").click()
    radiographer.locator("label[for=id_localization-side_0]").click()  # the marker is on the left
    radiographer.check("#id_localization-durable_mark_placed")
    radiographer.get_by_test_id("save-localization").click()
    expect(radiographer.locator(".messages")).to_contain_text("count 4 from the sacrum = L2")
    screenshot(radiographer, "localization-recorded")

    for page, role in (
        (surgeon, "surgeon"),
        (radiographer, "radiographer"),
        (nurse, "nurse"),
        (anesthesia, "anesthesia"),
    ):
        page.reload()
        if page.get_by_test_id(f"attest-phase-localization-{role}").count():
            attest_my_phase(page, "localization", role)
    surgeon.reload()
    surgeon.get_by_text("Confirm the level (surgeon)").click()
    surgeon.fill("#id_confirm-username", team.surgeon.username)
    surgeon.fill("#id_confirm-password", TEST_PASSWORD)
    surgeon.get_by_test_id("confirm-level").click()
    expect(surgeon.locator(".messages")).to_contain_text("Level confirmed by")
    expect(nurse.locator(".target-meta")).to_contain_text("Sign out", timeout=LIVE_SYNC_SECONDS * 1000)

    nurse.reload()
    nurse.get_by_text("Record the levels treated").click()
    nurse.fill("#id_treated-levels", "L2")
    nurse.get_by_role("button", name="Save levels treated").click()
    # Wait for the save's own navigation to finish: a reload in the middle of it detaches the page.
    expect(nurse.locator(".messages")).to_contain_text("Levels treated recorded.")
    for page, role in ((nurse, "nurse"), (surgeon, "surgeon"), (anesthesia, "anesthesia")):
        page.reload()
        if page.get_by_test_id(f"attest-phase-sign_out-{role}").count():
            attest_my_phase(page, "sign_out", role)
    nurse.reload()
    nurse.get_by_test_id("sign-out-complete").click()
    expect(nurse.locator(".messages")).to_contain_text("Sign-out complete")
    expect(surgeon.locator(".target-meta")).to_contain_text("Completed", timeout=LIVE_SYNC_SECONDS * 1000)
    screenshot(nurse, "case-completed")

    case.refresh_from_db()
    assert case.state == CaseState.COMPLETED
    assert audit.verify().ok


def test_a_consent_side_mismatch_stops_until_a_corrected_consent_agrees(new_device, team: Team) -> None:
    case = case_schedule(team)
    evidence_record(team, case, consent_side="right")
    nurse = device(new_device, team, "nurse")
    open_case(nurse, case)
    overlay = nurse.locator("#stop-overlay")
    expect(overlay).to_be_visible()
    expect(overlay).to_contain_text("Consent says RIGHT, plan says LEFT.")
    screenshot(nurse, "stop-screen")
    nurse.get_by_test_id("stop-ack").click()
    expect(overlay).to_be_hidden()
    expect(nurse.get_by_test_id("verdict")).to_contain_text("STOP")
    # No step can be attested while stopped: the attest buttons are gone and the server refuses.
    expect(nurse.locator("[data-testid^=attest-phase]")).to_have_count(0)

    nurse.get_by_text("Record consent").click()
    # The form starts empty: everything is entered again from the signed paper.
    nurse.select_option("#id_consent-procedure", case.procedure)
    nurse.fill("#id_consent-levels", "L2")
    nurse.locator("label[for=id_consent-side_0]").click()  # Left
    nurse.fill("#id_consent-witness", "Second Witness")
    nurse.get_by_test_id("save-consent").click()
    expect(nurse.get_by_test_id("verdict")).to_contain_text("PASS")
    expect(nurse.locator("#stop-overlay")).to_have_count(0)
    expect(nurse.locator("body")).to_contain_text("Near misses caught")


def test_a_stale_write_shows_a_clear_conflict_message(new_device, team: Team) -> None:
    case = case_schedule(team)
    nurse = device(new_device, team, "nurse")
    open_case(nurse, case)
    nurse.get_by_text("Record vertebral anatomy").click()
    # Meanwhile, on another device, the radiographer records the anatomy.
    services.anatomy_record(actor=team.radiographer, case=case.pk, thoracic=12, lumbar=6)
    nurse.locator("label[for=id_anatomy-thoracic_1]").click()
    nurse.locator("label[for=id_anatomy-lumbar_1]").click()
    nurse.locator("label[for=id_anatomy-source_0]").click()
    nurse.get_by_role("button", name="Save anatomy").click()
    error = nurse.get_by_test_id("action-error")
    expect(error).to_contain_text("Changed on another device")
    expect(error).to_contain_text("changed on another device since you loaded it")
    # The page now shows the other device's record, and the nurse's form is kept to resubmit.
    expect(nurse.locator("#evidence")).to_contain_text("12 thoracic, 6 lumbar")


def test_inactivity_logs_out_with_a_visible_countdown(new_device, team: Team, settings) -> None:
    settings.RIGHTLEVEL_INACTIVITY_TIMEOUT_SECONDS = 4
    nurse = device(new_device, team, "nurse")
    expect(nurse.locator("#session-countdown")).to_contain_text(re.compile(r"Auto sign-out in 0:0[0-4]"))
    expect(nurse).to_have_url(re.compile(r"/login/\?timeout=1"), timeout=10_000)
    expect(nurse.locator("body")).to_contain_text("signed out after a period without activity")


@pytest.mark.parametrize(
    "viewport",
    [{"width": 768, "height": 1024}, {"width": 1024, "height": 768}, {"width": 390, "height": 844}],
    ids=["portrait", "landscape", "phone"],
)
def test_no_horizontal_scrolling_and_large_touch_targets(new_device, team: Team, viewport) -> None:
    case = case_schedule(team)
    evidence_record(team, case)
    page = device(new_device, team, "nurse", viewport=viewport)
    for path in ("/cases/", f"/cases/{case.pk}/"):
        page.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at {viewport}"
        small = page.evaluate(
            """() => [...document.querySelectorAll('button, a.btn, .choice span, summary')]
                 .filter(e => e.offsetParent !== null)
                 .map(e => e.getBoundingClientRect())
                 .filter(r => r.width < 44 || r.height < 44).length"""
        )
        assert small == 0, f"{small} touch targets under 44x44 px on {path}"


def test_main_pages_have_no_serious_accessibility_violations(new_device, team: Team) -> None:
    passing = case_schedule(team)
    evidence_record(team, passing)
    stopped = case_schedule(team)
    evidence_record(team, stopped, consent_side="right")
    anonymous = new_device(team.nurse.username, bypass_csp=True)
    anonymous.context.clear_cookies()
    anonymous.goto("/login/")
    assert axe_violations(anonymous) == [], "login page"
    screenshot(anonymous, "login")
    login(anonymous, team.nurse.username, TEST_PASSWORD)
    for path, name in (
        ("/cases/", "case-list"),
        (f"/cases/{passing.pk}/", "case-pass"),
        (f"/cases/{stopped.pk}/", "case-stop"),
    ):
        anonymous.goto(path)
        assert axe_violations(anonymous) == [], path
        screenshot(anonymous, name)


def test_the_wristband_scan_attests_identity_and_another_patients_is_a_stop_read_aloud(new_device, team: Team) -> None:
    other = case_schedule(team, mrn="RL-7002", family_name="Lindqvist", given_name="Bo")
    case = case_schedule(team, mrn="RL-7001", family_name="Okafor", given_name="Ada")
    evidence_record(team, case)
    services.case_patient_in_room(actor=team.nurse, case=case.pk)
    nurse = device(new_device, team, "nurse")
    open_case(nurse, case)
    # The field has the focus: a wedge scanner can type into it straight away.
    expect(nurse.get_by_test_id("wristband-barcode")).to_be_focused()
    scan_wristband(nurse, other.patient.mrn)
    overlay = nurse.locator("#stop-overlay")
    expect(overlay).to_be_visible()
    expect(overlay).to_contain_text("Wrong patient or wrong wristband")
    expect(overlay).to_contain_text("LINDQVIST, Bo")
    expect(overlay).to_contain_text("OKAFOR, Ada")
    screenshot(nurse, "wristband-wrong-patient")
    nurse.get_by_test_id("stop-ack").click()
    nurse.get_by_test_id("wristband-scan").scroll_into_view_if_needed()
    screenshot(nurse, "wristband-scan-form")
    scan_wristband(nurse, "RL-7001")
    expect(nurse.locator(".messages")).to_contain_text("patient identity attested")
    expect(nurse.locator(".messages")).not_to_contain_text("STOP")  # nothing stale from the wrong scan
    expect(nurse.locator("#stop-overlay")).to_have_count(0)
    step = nurse.locator("li.step", has_text="Wristband scanned")
    expect(step).to_contain_text(f"nurse: {team.nurse.full_name}")
    assert IdentityScan.objects.filter(case=case).count() == 2


def test_keyboard_only_attestation(new_device, team: Team) -> None:
    case = case_schedule(team)
    evidence_record(team, case)
    services.case_patient_in_room(actor=team.nurse, case=case.pk)
    nurse = device(new_device, team, "nurse")
    open_case(nurse, case)
    button = nurse.get_by_test_id("attest-phase-sign_in-nurse")
    expect(button).to_be_enabled()  # a new attest button is inert for a moment (no stray taps)
    button.focus()
    nurse.keyboard.press("Enter")
    expect(nurse.locator(".messages")).to_contain_text("Attested")
