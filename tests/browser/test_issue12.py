"""Issue 12 in Chromium: the tablet never manufactures agreement. Evidence is entered blind from
its own source, a double tap cannot attest the next phase, a wrong-level treatment is recorded
as an adverse event, one person holds one role per step, one patient is in a room at a time, and
the agreeing time-out stays within the tap budget."""

from __future__ import annotations

import re
import time

import pytest
from django.utils import timezone
from playwright.sync_api import Locator, Page, expect

from checklist import services
from checklist.access import roles
from checklist.models import AdverseEvent, Case, CaseState, NearMiss, StepAttestation
from checklist.selectors import checklist_status
from tests.browser.conftest import axe_violations, screenshot
from tests.support.factories import TEST_PASSWORD, UserFactory
from tests.support.workflow import (
    Team,
    case_schedule,
    case_through_time_out,
    evidence_record,
    phase_attest,
    team_create,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.slow]
LIVE = 6_000
TAP_BUDGET = 12


def open_case(page: Page, case: Case) -> None:
    page.goto(f"/cases/{case.pk}/")
    expect(page.get_by_test_id("target")).to_be_visible()


def evidence_without_consent(team: Team, case: Case) -> None:
    services.anatomy_record(actor=team.radiographer, case=case, thoracic=12, lumbar=5)
    plan = services.plan_revise(actor=team.surgeon, case=case, procedure=case.procedure, levels="L2", side="left")
    services.plan_sign(
        actor=team.surgeon, case=case, plan_number=plan.number, password=TEST_PASSWORD, username="surgeon"
    )
    services.marking_record(actor=team.nurse, case=case, region="lumbar", side="left", marked_by=team.surgeon)
    today = timezone.localdate()
    services.imaging_record(
        actor=team.nurse, case=case, modality="mri", study_date=today, levels="L2", reviewed_by=team.surgeon
    )


def expect_consent_form_empty(page: Page) -> None:
    expect(page.locator("#id_consent-procedure")).to_have_value("")
    expect(page.locator("#id_consent-levels")).to_have_value("")
    expect(page.locator("input[name=consent-side]:checked")).to_have_count(0)


def test_consent_entered_blind_then_a_mismatch_then_a_real_correction(new_device, team: Team) -> None:
    case = case_schedule(team)
    evidence_without_consent(team, case)
    nurse = new_device(team.nurse.username)
    open_case(nurse, case)
    # The target stays in the header; nothing of the plan is inside the form, nothing preselected.
    nurse.get_by_text("Record consent").click()
    expect_consent_form_empty(nurse)
    marking = nurse.locator("form[action$='/do/marking']")
    expect(marking.locator("input[type=radio]:checked")).to_have_count(0)
    anatomy = nurse.locator("form[action$='/do/anatomy']")
    expect(anatomy.locator("input[type=radio]:checked")).to_have_count(0)

    # The paper says RIGHT: typed as read.
    nurse.select_option("#id_consent-procedure", case.procedure)
    nurse.fill("#id_consent-levels", "L2")
    nurse.locator("label[for=id_consent-side_1]").click()  # Right
    nurse.fill("#id_consent-witness", "W. Itness")
    nurse.get_by_test_id("save-consent").click()
    overlay = nurse.locator("#stop-overlay")
    expect(overlay).to_contain_text("Consent says RIGHT, plan says LEFT.")
    screenshot(nurse, "issue12-consent-stop")
    nurse.get_by_test_id("stop-ack").click()
    readback = nurse.get_by_test_id("readback")
    expect(readback).to_contain_text("Consent saved")
    expect(readback.locator("tr", has_text="Side")).to_contain_text("right")
    expect(readback.locator("tr", has_text="Side")).to_contain_text("left")
    expect(readback.locator("tr", has_text="Side")).to_contain_text("DIFFERENT")
    screenshot(nurse, "issue12-consent-readback")

    # Reopened after the stop: empty again. Two taps on Save resolve nothing.
    nurse.get_by_text("Record consent").click()
    expect_consent_form_empty(nurse)
    nurse.get_by_test_id("save-consent").click()
    nurse.wait_for_timeout(300)
    if nurse.get_by_test_id("save-consent").is_visible():
        nurse.get_by_test_id("save-consent").click()
    expect(nurse.get_by_test_id("verdict")).to_contain_text("STOP")
    assert Case.objects.get(pk=case.pk).verdict == "stop"
    assert not NearMiss.objects.filter(case=case).exists()

    # The real correction: the surgeon and patient confirm LEFT on a corrected, signed consent.
    nurse.goto(f"/cases/{case.pk}/")
    if nurse.locator("#stop-overlay").is_visible():
        nurse.get_by_test_id("stop-ack").click()
    nurse.get_by_text("Record consent").click()
    nurse.select_option("#id_consent-procedure", case.procedure)
    nurse.fill("#id_consent-levels", "L2")
    nurse.locator("label[for=id_consent-side_0]").click()  # Left
    nurse.fill("#id_consent-witness", "Second Witness")
    nurse.get_by_test_id("save-consent").click()
    expect(nurse.get_by_test_id("verdict")).to_contain_text("PASS")
    expect(nurse.get_by_test_id("readback").locator("tr", has_text="Side")).to_contain_text("same")
    expect(nurse.locator("body")).to_contain_text("Near misses caught")
    assert NearMiss.objects.filter(case=case, kind="consent").count() == 1


def test_the_read_back_stays_when_another_device_changes_the_case(new_device, team: Team) -> None:
    case = case_schedule(team)
    evidence_without_consent(team, case)
    nurse = new_device(team.nurse.username)
    open_case(nurse, case)
    nurse.get_by_text("Record consent").click()
    nurse.select_option("#id_consent-procedure", case.procedure)
    nurse.fill("#id_consent-levels", "L2")
    nurse.locator("label[for=id_consent-side_0]").click()  # Left, as the plan
    nurse.fill("#id_consent-witness", "W. Itness")
    nurse.get_by_test_id("save-consent").click()
    readback = nurse.get_by_test_id("readback")
    expect(readback).to_contain_text("Consent saved")

    # Another device moves the case on: the page refreshes itself, the read-back is still there.
    services.case_patient_in_room(actor=team.nurse, case=case)
    expect(nurse.locator("#sync-notice")).to_be_visible(timeout=LIVE)
    expect(nurse.locator("#evidence")).to_contain_text("W. Itness")
    expect(readback).to_contain_text("Consent saved")
    expect(readback.locator("tr", has_text="Side")).to_contain_text("same")


def test_a_double_tap_on_sign_in_does_not_attest_the_time_out(new_device, team: Team) -> None:
    case = case_schedule(team)
    evidence_record(team, case)
    services.case_patient_in_room(actor=team.nurse, case=case)
    # Everyone else has attested the sign-in: the nurse's tap completes it and opens the time-out.
    for step in checklist_status(Case.objects.get(pk=case.pk)):
        if step.phase == "sign_in":
            for role in step.missing_roles:
                if role != "nurse":
                    services.step_attest(actor=team.by_role(role), case=case.pk, step_code=step.code, role=role)
    services.identity_scan_record(actor=team.nurse, case=case.pk, barcode=case.patient.mrn)  # the wristband
    nurse = new_device(team.nurse.username)
    open_case(nurse, case)
    button = nurse.get_by_test_id("attest-phase-sign_in-nurse")
    expect(button).to_be_enabled()
    box = button.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    started = time.monotonic()
    nurse.mouse.click(x, y)
    for at in (0.3, 1.0):  # the second and third taps of a nervous finger, 300 ms and 1 s later
        nurse.wait_for_timeout(max(0, int((at - (time.monotonic() - started)) * 1000)))
        nurse.mouse.click(x, y)
    expect(nurse.locator(".messages")).to_contain_text("Attested")
    time_out = nurse.get_by_test_id("attest-phase-time_out-nurse")
    expect(time_out).to_be_visible()
    assert not StepAttestation.objects.filter(run__case=case, phase="time_out").exists()
    screenshot(nurse, "issue12-after-double-tap")
    # The new button is inert for a moment, and the server refuses a tap that skips that guard.
    nurse.goto(f"/cases/{case.pk}/")
    nurse.evaluate(
        """() => { const b = document.querySelector('[data-testid=attest-phase-time_out-nurse]');
                   b.disabled = false; b.click(); }"""
    )
    expect(nurse.get_by_test_id("action-error")).to_contain_text("had only just appeared")
    assert not StepAttestation.objects.filter(run__case=case, phase="time_out").exists()
    # A deliberate tap, once the button has been on screen, attests the time-out steps.
    nurse.get_by_test_id("attest-phase-time_out-nurse").click()
    expect(nurse.locator(".messages")).to_contain_text("time-out step")
    assert StepAttestation.objects.filter(run__case=case, phase="time_out", user=team.nurse).exists()


def test_a_wrong_level_sign_out_is_an_adverse_event(new_device, team: Team) -> None:
    case = case_schedule(team)
    evidence_record(team, case)
    case = case_through_time_out(team, case)
    localization = services.localization_record(
        actor=team.radiographer, case=case, phase="pre_incision", reference="sacrum", count=4, label="L2",
        marker_in_place=True, read_by=team.surgeon,
    )  # fmt: skip
    services.localization_mark_durable(actor=team.nurse, case=case, localization_id=localization.pk)
    phase_attest(team, case, "localization")
    services.localization_confirm(actor=team.surgeon, case=case, password=TEST_PASSWORD, username="surgeon")

    nurse = new_device(team.nurse.username)
    surgeon = new_device(team.surgeon.username, viewport={"width": 390, "height": 844})
    quality = new_device(team.quality.username, bypass_csp=True)
    open_case(nurse, case)
    open_case(surgeon, case)
    nurse.get_by_text("Record the levels treated").click()
    nurse.fill("#id_treated-levels", "L3")
    nurse.get_by_role("button", name="Save levels treated").click()
    overlay = nurse.locator("#stop-overlay")
    expect(overlay).to_contain_text("wrong-level event")
    nurse.get_by_test_id("stop-ack").click()
    expect(nurse.get_by_test_id("wrong-level-waiting")).to_be_visible()
    # The surgeon's phone follows; the surgeon signs the statement.
    expect(surgeon.locator(".target-meta")).to_contain_text("Sign out", timeout=LIVE)
    surgeon.reload()
    if surgeon.locator("#stop-overlay").is_visible():
        surgeon.get_by_test_id("stop-ack").click()
    form = surgeon.locator("#adverse")
    expect(form).to_contain_text("differ from the signed plan")
    expect(surgeon.get_by_test_id("target")).to_be_in_viewport()
    surgeon.fill("#id_adverse-statement", "The L3 root was blocked instead of L2: the count was started one level low.")
    surgeon.fill("#id_adverse-username", team.surgeon.username)
    surgeon.fill("#id_adverse-password", TEST_PASSWORD)
    screenshot(surgeon, "issue12-wrong-level-statement")
    surgeon.get_by_test_id("record-wrong-level").click()
    expect(surgeon.locator(".messages")).to_contain_text("Wrong-level event recorded and signed")
    expect(surgeon.get_by_test_id("wrong-level-event")).to_contain_text("treated L3")

    # Quality is alerted at once: the bell, and the dashboard counts it apart from near misses.
    quality.goto("/notifications/")
    expect(quality.locator("body")).to_contain_text(f"Wrong-level event: OR 1, case {case.pk}")
    quality.goto("/quality/")
    expect(quality.get_by_test_id("wrong-level-events")).to_have_text("1")
    expect(quality.get_by_test_id("near-miss-total")).to_have_text("0")
    assert axe_violations(quality) == [], "dashboard with a wrong-level event"

    # Sign-out goes on and the case closes honestly.
    nurse.reload()
    for page, role in ((nurse, "nurse"), (surgeon, "surgeon")):
        page.reload()
        button = page.get_by_test_id(f"attest-phase-sign_out-{role}")
        if button.count():
            button.click()
            expect(page.locator(".messages")).to_contain_text("Attested")
    anesthesia = new_device(team.anesthesia.username)
    open_case(anesthesia, case)
    if anesthesia.get_by_test_id("attest-phase-sign_out-anesthesia").count():
        anesthesia.get_by_test_id("attest-phase-sign_out-anesthesia").click()
        expect(anesthesia.locator(".messages")).to_contain_text("Attested")
    nurse.reload()
    nurse.get_by_test_id("sign-out-complete").click()
    expect(nurse.locator(".messages")).to_contain_text("Sign-out complete")
    expect(nurse.locator(".target-meta")).to_contain_text("Completed with a wrong-level event")
    screenshot(nurse, "issue12-completed-with-wrong-level-event")
    closed = Case.objects.get(pk=case.pk)
    assert closed.state == CaseState.COMPLETED_WRONG_LEVEL
    assert AdverseEvent.objects.filter(case=case, treated_levels="L3").count() == 1
    assert not NearMiss.objects.filter(case=case).exists()


def test_one_person_holds_one_role_per_step(new_device, team: Team) -> None:
    both = UserFactory(username="twohats", roles=[roles.NURSE, roles.ANESTHESIA], full_name="Two Hats")
    team.room.staff.add(both)
    case = case_schedule(team, anesthesia=None)
    evidence_record(team, case)
    services.case_patient_in_room(actor=team.nurse, case=case)
    page = new_device(both.username)
    open_case(page, case)
    page.get_by_test_id("wristband-barcode").fill(case.patient.mrn)
    page.get_by_test_id("wristband-submit").click()
    expect(page.locator(".messages")).to_contain_text("patient identity attested")
    page.get_by_test_id("attest-phase-sign_in-nurse").click()
    expect(page.locator(".messages")).to_contain_text("Attested")
    shared = page.locator("li.step", has_text="Wristband scanned")
    expect(shared).to_contain_text("nurse: Two Hats")
    # No control offers the same person the anesthesia half of that step.
    expect(shared.get_by_role("button", name="Attest as anesthesia")).to_have_count(0)
    page.get_by_test_id("attest-phase-sign_in-anesthesia").click()
    expect(page.locator(".messages")).to_contain_text("Attested")
    expect(shared).to_contain_text("○ anesthesia")
    shared = StepAttestation.objects.filter(run__case=case, user=both, step_code="patient_identity_scanned")
    assert [a.role for a in shared] == ["nurse"]


def test_one_patient_in_the_room_and_the_list_shows_who_is_in_each_room(new_device, team: Team) -> None:
    now = timezone.now()  # today's list, whatever the hour the suite runs at
    first = case_schedule(team, family_name="First", scheduled_start=now)
    evidence_record(team, first)
    second = case_schedule(team, family_name="Second", scheduled_start=now)
    evidence_record(team, second)
    services.case_patient_in_room(actor=team.nurse, case=first)
    nurse = new_device(team.nurse.username)
    open_case(nurse, second)
    nurse.get_by_test_id("in-room").click()
    error = nurse.get_by_test_id("action-error")
    expect(error).to_contain_text(f"OR 1 already has a patient in the room: FIRST, Jane (case {first.pk}")
    expect(error).to_be_in_viewport()
    assert Case.objects.get(pk=second.pk).patient_in_room_at is None
    nurse.goto("/cases/")
    rooms_now = nurse.get_by_test_id("in-room-now")
    expect(rooms_now).to_contain_text("OR 1: FIRST, Jane")
    other = team_create(room_name="OR 2", suffix="2")
    elsewhere = case_schedule(other, family_name="Elsewhere", scheduled_start=now)
    services.room_ensure(actor=team.admin, name="OR 2", staff=[team.nurse])
    nurse.reload()
    nurse.select_option("#room-filter", label="OR 2")
    nurse.get_by_role("button", name="Filter").click()
    expect(nurse.locator(".case-list")).to_contain_text("ELSEWHERE")
    expect(nurse.locator(".case-list")).not_to_contain_text("SECOND")
    assert elsewhere.room.name == "OR 2"
    screenshot(nurse, "issue12-case-list-rooms")


def tap(counter: list[int], target: Locator) -> None:
    target.click()
    counter.append(1)


def test_the_agreeing_time_out_stays_within_the_tap_budget(new_device, team: Team, capsys) -> None:
    case = case_schedule(team)
    evidence_record(team, case)
    services.case_patient_in_room(actor=team.nurse, case=case)
    phase_attest(team, case, "sign_in")
    team_roles = ("surgeon", "anesthesia", "nurse", "radiographer")
    pages = {role: new_device(team.by_role(role).username) for role in team_roles}
    taps: list[int] = []
    started = time.monotonic()
    for role, page in pages.items():
        open_case(page, case)
        button = page.get_by_test_id(f"attest-phase-time_out-{role}")
        if button.count():
            tap(taps, button)
            expect(page.locator(".messages")).to_contain_text("Attested")
    nurse = pages["nurse"]
    nurse.reload()
    tap(taps, nurse.get_by_test_id("time-out-complete"))
    expect(nurse.locator(".messages")).to_contain_text("Time-out complete")
    elapsed = time.monotonic() - started
    assert Case.objects.get(pk=case.pk).time_out_completed_at is not None
    # A completed time-out offers no "Complete the time-out" any more.
    expect(nurse.get_by_test_id("time-out-complete")).to_have_count(0)
    with capsys.disabled():
        print(f"\nAgreeing time-out: {len(taps)} taps for the whole team (budget {TAP_BUDGET}), {elapsed:.1f} s")
    assert len(taps) <= TAP_BUDGET


def test_a_nurse_schedules_an_add_on_case_from_the_tablet(new_device, team: Team) -> None:
    nurse = new_device(team.nurse.username, bypass_csp=True)
    nurse.goto("/cases/")
    nurse.get_by_test_id("add-on").click()
    form = nurse.get_by_test_id("addon-form")
    expect(form).to_be_visible()
    assert axe_violations(nurse) == [], "add-on form"
    nurse.fill("#id_mrn", "ADD-100")
    nurse.fill("#id_family_name", "Addon")
    nurse.fill("#id_given_name", "Ann")
    nurse.fill("#id_date_of_birth", "2999-01-01")  # refused, as the API refuses it
    nurse.select_option("#id_procedure", "discectomy")
    nurse.select_option("#id_surgeon", team.surgeon.username)
    nurse.get_by_test_id("schedule-addon").click()
    expect(nurse.locator(".field-error-text")).to_contain_text("The date of birth cannot be in the future.")
    expect(nurse.locator(".field-error-text").first).to_be_in_viewport()
    nurse.fill("#id_date_of_birth", "1970-01-02")
    nurse.get_by_test_id("schedule-addon").click()
    expect(nurse.locator(".messages")).to_contain_text("Add-on case scheduled: ADDON, Ann")
    expect(nurse.get_by_test_id("target")).to_have_text("NO PLAN YET")
    screenshot(nurse, "issue12-add-on-scheduled")
    assert Case.objects.get(patient__mrn="ADD-100").room == team.room


def test_signing_errors_show_next_to_the_password_warn_before_the_lock_and_say_who_unlocks(
    new_device, team: Team
) -> None:
    case = case_schedule(team)
    services.anatomy_record(actor=team.radiographer, case=case, thoracic=12, lumbar=5)
    services.plan_revise(actor=team.surgeon, case=case, procedure=case.procedure, levels="L2", side="left")
    surgeon = new_device(team.surgeon.username, viewport={"width": 390, "height": 844})
    open_case(surgeon, case)

    def sign(password: str) -> None:
        if not surgeon.locator("#sign[open]").count():
            surgeon.locator("#sign summary").click()
        surgeon.fill("#id_sign-username", team.surgeon.username)
        surgeon.fill("#id_sign-password", password)
        surgeon.get_by_test_id("sign-plan").click()

    sign("wrong-1")
    error = surgeon.locator("#sign .field-error-text")
    expect(error).to_contain_text("did not match")
    expect(error).not_to_contain_text("One attempt left")
    expect(error).to_be_in_viewport()
    expect(error).to_have_attribute("role", "alert")
    sign("wrong-2")
    expect(error).to_contain_text("One attempt left")
    expect(error).to_be_in_viewport()
    expect(surgeon.get_by_test_id("target")).to_be_in_viewport()
    screenshot(surgeon, "issue12-one-attempt-left")
    sign("wrong-3")
    locked = surgeon.locator("#sign .error[role=alert]")
    expect(locked).to_contain_text("Signing is locked")
    expect(locked).to_contain_text(f"Who can unlock: {team.admin.full_name} (administrators)")
    expect(locked).to_be_in_viewport()
    surgeon.goto(f"/cases/{case.pk}/")
    expect(surgeon.get_by_test_id("signing-locked").first).to_contain_text(team.admin.full_name)
    # The unlock stays an audited administrator action.
    services.signing_unlock(actor=team.admin, user=team.surgeon, reason="Checked with the surgeon by phone.")
    surgeon.reload()
    expect(surgeon.get_by_test_id("signing-locked")).to_have_count(0)
    sign(TEST_PASSWORD)
    feedback = surgeon.locator(".messages")
    expect(feedback).to_contain_text("Signed by")
    expect(feedback).to_be_in_viewport()


def test_five_devices_follow_the_whole_page_without_losing_an_open_list_or_typing(new_device, team: Team) -> None:
    case = case_schedule(team)
    evidence_without_consent(team, case)
    nurse = new_device(team.nurse.username)
    surgeon = new_device(team.surgeon.username, viewport={"width": 390, "height": 844})
    anesthesia = new_device(team.anesthesia.username)
    radiographer = new_device(team.radiographer.username)
    quality = new_device(team.quality.username)
    devices = (nurse, surgeon, anesthesia, radiographer, quality)
    for page in devices:
        open_case(page, case)
    expect(surgeon.locator("#evidence")).to_contain_text(re.compile(r"Consent\s*Not recorded"))

    # The nurse records the consent: every device's evidence follows, no reload.
    nurse.get_by_text("Record consent").click()
    nurse.select_option("#id_consent-procedure", case.procedure)
    nurse.fill("#id_consent-levels", "L2")
    nurse.locator("label[for=id_consent-side_0]").click()
    nurse.fill("#id_consent-witness", "W. Itness")
    nurse.get_by_test_id("save-consent").click()
    expect(nurse.get_by_test_id("verdict")).to_contain_text("PASS")
    for page in (surgeon, anesthesia, radiographer, quality):
        expect(page.locator("#evidence")).to_contain_text("witness W. Itness", timeout=LIVE)
        expect(page.get_by_test_id("verdict")).to_contain_text("PASS")

    # The radiographer has opened a list and is typing a correction: both survive the refreshes.
    services.case_patient_in_room(actor=team.nurse, case=case)
    phase_attest(team, case, "sign_in")
    expect(radiographer.locator(".target-meta")).to_contain_text("Time-out", timeout=LIVE)
    radiographer.locator("#phase-sign_in summary").click()
    radiographer.get_by_text("Record vertebral anatomy").click()
    radiographer.locator("label[for=id_anatomy-lumbar_2]").click()
    radiographer.fill("#id_anatomy-lowest_mobile", "L6")
    expect(radiographer.locator("#localization")).to_contain_text("Level images are recorded after the time-out")

    phase_attest(team, case, "time_out")
    services.time_out_complete(actor=team.nurse, case=case.pk)
    for page in devices:
        expect(page.locator(".target-meta")).to_contain_text("Localization", timeout=LIVE)
    # The radiographer's page now offers the level image, and the rest is as it was left.
    expect(radiographer.locator("#localization")).not_to_contain_text("recorded after the time-out")
    expect(radiographer.get_by_text("Record a level image")).to_be_visible()
    expect(radiographer.locator("#phase-sign_in details.steps-fold")).to_have_attribute("open", "")
    expect(radiographer.locator("#id_anatomy-lowest_mobile")).to_have_value("L6")
    expect(radiographer.locator("#id_anatomy-lumbar_2")).to_be_checked()
    screenshot(radiographer, "issue12-live-refresh-kept-typing")


def test_typing_keeps_the_session_and_a_timed_out_user_returns_to_the_case_and_their_typing(
    new_device, team: Team, settings
) -> None:
    settings.RIGHTLEVEL_INACTIVITY_TIMEOUT_SECONDS = 6
    case = case_schedule(team)
    evidence_without_consent(team, case)
    nurse = new_device(team.nurse.username)
    open_case(nurse, case)
    nurse.get_by_text("Record consent").click()
    # Typing, and nothing else, for longer than the timeout: still signed in.
    for letter in "W. Itness, RN":
        nurse.locator("#id_consent-witness").press_sequentially(letter)
        nurse.wait_for_timeout(700)
    assert "/login/" not in nurse.url
    countdown = nurse.locator("#session-countdown")
    nurse.mouse.wheel(0, 3000)
    expect(countdown).to_be_in_viewport()
    # Then nothing: signed out, and back to this case after signing in again, with the typing.
    expect(nurse).to_have_url(re.compile(r"/login/\?timeout=1&next=%2Fcases%2F\d+%2F"), timeout=15_000)
    nurse.fill("input[name=username]", team.nurse.username)
    nurse.fill("input[name=password]", TEST_PASSWORD)
    nurse.click("button[type=submit]")
    expect(nurse).to_have_url(re.compile(rf"/cases/{case.pk}/$"))
    expect(nurse.locator("#id_consent-witness")).to_have_value("W. Itness, RN")
    expect(nurse.locator(".draft-note")).to_be_visible()
    # "Switch user": the next person lands on the same case, and never sees that typing.
    nurse.get_by_role("button", name="Switch user").click()
    nurse.fill("input[name=username]", team.surgeon.username)
    nurse.fill("input[name=password]", TEST_PASSWORD)
    nurse.click("button[type=submit]")
    expect(nurse).to_have_url(re.compile(rf"/cases/{case.pk}/$"))
    expect(nurse.get_by_test_id("target")).to_be_visible()
    assert nurse.evaluate("Object.keys(sessionStorage).filter(k => k.startsWith('rightlevel-draft:'))") == []
    if nurse.locator("#id_consent-witness").count():
        expect(nurse.locator("#id_consent-witness")).to_have_value("")
