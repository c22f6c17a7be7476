"""The tablet never manufactures agreement (issue 12): evidence from its own source, no stray
taps, an honest record of a wrong-level treatment, one person per role, one patient per room."""

from __future__ import annotations

import re
import time

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from checklist import audit, services
from checklist.access import roles
from checklist.forms import AnatomyForm, ConsentForm
from checklist.models import Case, CaseState, NearMiss, Notification, StepAttestation
from checklist.selectors import checklist_status
from checklist.services.checklist import NOT_SHOWN, ONE_PERSON_ONE_ROLE, TOO_SOON, phase_attest_mine
from core.errors import ApplicationError, ForbiddenError
from tests.support.factories import TEST_PASSWORD, UserFactory
from tests.support.workflow import (
    Team,
    case_schedule,
    case_through_localization,
    evidence_record,
    phase_attest,
    team_create,
)

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- 1. evidence from its own source -----------------------------------------------------------


def test_consent_marking_and_anatomy_forms_start_empty_even_with_a_signed_plan(team: Team) -> None:
    case = case_schedule(team)
    services.plan_revise(actor=team.surgeon, case=case, procedure=case.procedure, levels="L2", side="left")
    html = _client(team.nurse).get(f"/cases/{case.pk}/").content.decode()
    consent = html[html.index(f'action="/cases/{case.pk}/do/consent"') :]
    consent = consent[: consent.index("</form>")]
    assert 'name="consent-levels"' in consent
    assert not re.search(r'name="consent-levels"[^>]*value=', consent), "consent levels prefilled"
    assert "checked" not in consent, "a consent side is preselected"
    assert re.search(r'<option value="" selected>', consent), "a consent procedure is preselected"
    marking = html[html.index(f'action="/cases/{case.pk}/do/marking"') :]
    marking = marking[: marking.index("</form>")]
    assert "checked" not in marking, "a marking side or region is preselected"
    anatomy = html[html.index(f'action="/cases/{case.pk}/do/anatomy"') :]
    anatomy = anatomy[: anatomy.index("</form>")]
    assert "checked" not in anatomy, "an anatomy count is preselected"


def test_an_anatomy_count_must_be_entered_not_accepted() -> None:
    form = AnatomyForm({"anatomy-expected_version": 1}, prefix="anatomy")
    assert not form.is_valid()
    assert {"thoracic", "lumbar", "source"} <= set(form.errors)
    consent = ConsentForm({"consent-expected_version": 1, "consent-levels": "L2"}, prefix="consent")
    assert not consent.is_valid()
    assert {"procedure", "side"} <= set(consent.errors)


def test_after_a_consent_stop_the_reopened_form_is_empty_and_the_read_back_shows_the_difference(
    team: Team,
) -> None:
    case = case_schedule(team)
    evidence_record(team, case)
    client = _client(team.nurse)
    response = client.post(
        f"/cases/{case.pk}/do/consent",
        {
            "consent-expected_version": Case.objects.get(pk=case.pk).evidence_version,
            "consent-procedure": case.procedure,
            "consent-levels": "L2",
            "consent-side": "right",
            "consent-date_signed": timezone.localdate().isoformat(),
            "consent-witness": "W",
        },
    )
    assert response.status_code == 302
    assert Case.objects.get(pk=case.pk).verdict == "stop"
    html = client.get(f"/cases/{case.pk}/").content.decode()
    readback = html[html.index('data-testid="readback"') :]
    readback = readback[: readback.index("</table>")]
    assert "right" in readback and "left" in readback and "DIFFERENT" in readback
    consent = html[html.index(f'action="/cases/{case.pk}/do/consent"') :]
    assert "checked" not in consent[: consent.index("</form>")], "the plan's side came back into the form"
    # The read-back is shown once, after the save, not on every visit.
    assert 'data-testid="readback"' not in client.get(f"/cases/{case.pk}/").content.decode()


# --- 2. no stray taps ---------------------------------------------------------------------------


def test_a_phase_attestation_needs_a_control_shown_while_the_phase_was_open_long_enough_ago(
    team: Team, settings
) -> None:
    settings.RIGHTLEVEL_ATTEST_GUARD_SECONDS = 0.3
    case = case_schedule(team)
    evidence_record(team, case)
    services.case_patient_in_room(actor=team.nurse, case=case)
    before_open = timezone.now()
    phase_attest(team, case, "sign_in")
    # A control rendered before the time-out opened is not a time-out control.
    with pytest.raises(ApplicationError) as refused:
        phase_attest_mine(actor=team.nurse, case=case.pk, phase="time_out", role="nurse", shown_at=before_open)
    assert refused.value.message == NOT_SHOWN.format(phase="time-out")
    # One that appeared a moment ago is the second tap of a double tap.
    with pytest.raises(ApplicationError) as refused:
        phase_attest_mine(actor=team.nurse, case=case.pk, phase="time_out", role="nurse", shown_at=timezone.now())
    assert refused.value.message == TOO_SOON.format(phase="time-out")
    assert not StepAttestation.objects.filter(run__case=case, phase="time_out").exists()
    shown = timezone.now()
    time.sleep(0.35)  # the control has been on screen for the guard interval
    done = phase_attest_mine(actor=team.nurse, case=case.pk, phase="time_out", role="nurse", shown_at=shown)
    assert done
    # A double submit of the same form attests nothing more and is not an error.
    assert phase_attest_mine(actor=team.nurse, case=case.pk, phase="time_out", role="nurse", shown_at=shown) == []


def test_the_tablet_refuses_a_bulk_attestation_without_the_phase_token_of_this_device(team: Team) -> None:
    case = case_schedule(team)
    evidence_record(team, case)
    services.case_patient_in_room(actor=team.nurse, case=case)
    client = _client(team.nurse)
    version = Case.objects.get(pk=case.pk).evidence_version
    data = {"expected_version": version, "phase": "sign_in", "role": "nurse"}
    response = client.post(f"/cases/{case.pk}/do/attest-phase", {**data, "shown": "forged"})
    assert response.status_code == 400
    assert "was not shown for the sign-in on this device" in response.content.decode()
    # Another phase's token does not open this phase.
    from checklist.views import phase_shown_token

    token = phase_shown_token(case=case, phase="time_out", user=team.nurse)
    response = client.post(f"/cases/{case.pk}/do/attest-phase", {**data, "shown": token})
    assert response.status_code == 400
    assert not StepAttestation.objects.filter(run__case=case).exists()


# --- 3. a wrong-level treatment is recorded as treated -----------------------------------------


def test_a_wrong_level_treatment_becomes_an_adverse_event_never_a_near_miss(
    team: Team, django_capture_on_commit_callbacks
) -> None:
    case = case_through_localization(team, case_evidence(team))
    services.treated_levels_record(actor=team.nurse, case=case, levels="L3")
    case = Case.objects.get(pk=case.pk)
    assert case.verdict == "stop"
    with pytest.raises(ApplicationError):
        services.sign_out_complete(actor=team.nurse, case=case.pk)
    with pytest.raises(ForbiddenError):
        services.adverse_event_record(actor=team.nurse, case=case, statement="L3 was treated.", password=TEST_PASSWORD)
    with pytest.raises(ApplicationError):
        services.adverse_event_record(actor=team.surgeon, case=case, statement="L3 was treated.", password="wrong")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        event = services.adverse_event_record(
            actor=team.surgeon,
            case=case,
            statement="The block was given at L3 instead of L2; the count was taken from the wrong rib.",
            password=TEST_PASSWORD,
            username=team.surgeon.username,
        )
    assert (event.planned_levels, event.treated_levels) == ("L2", "L3")
    assert event.signature.meaning == "wrong-level statement"
    assert set(event.alerted) == {team.quality.username, team.admin.username}
    assert Notification.objects.filter(user=team.quality, case=case, title__contains="Wrong-level").exists()
    assert Notification.objects.filter(user=team.admin, case=case).exists()
    assert any("Wrong-level event" in m.subject for m in mail.outbox)
    # The treated levels stay as recorded.
    with pytest.raises(ApplicationError):
        services.treated_levels_record(actor=team.nurse, case=case, levels="L2")
    phase_attest(team, case, "sign_out")
    closed = services.sign_out_complete(actor=team.nurse, case=case.pk)
    assert closed.state == CaseState.COMPLETED_WRONG_LEVEL
    assert closed.get_state_display() == "Completed with a wrong-level event"
    assert not NearMiss.objects.filter(case=case).exists()
    assert audit.verify().ok


def test_re_recording_the_planned_level_after_a_mismatch_is_no_near_miss(team: Team) -> None:
    case = case_through_localization(team, case_evidence(team))
    services.treated_levels_record(actor=team.nurse, case=case, levels="L3")
    services.treated_levels_record(actor=team.nurse, case=case, levels="L2")
    assert Case.objects.get(pk=case.pk).verdict == "pass"
    assert not NearMiss.objects.filter(case=case).exists()


def test_the_dashboard_counts_wrong_level_events_apart_from_near_misses(team: Team) -> None:
    case = case_through_localization(team, case_evidence(team))
    services.treated_levels_record(actor=team.nurse, case=case, levels="L3")
    services.adverse_event_record(
        actor=team.surgeon, case=case, statement="Treated L3, planned L2.", password=TEST_PASSWORD, username="surgeon"
    )
    html = _client(team.quality).get("/quality/").content.decode()
    assert 'data-testid="wrong-level-events"' in html
    block = html[html.index('data-testid="wrong-level-events"') :][:400]
    assert ">1<" in block


def case_evidence(team: Team) -> Case:
    case = case_schedule(team)
    evidence_record(team, case)
    return case


# --- 4. one person, one role per step ------------------------------------------------------------


def test_a_person_with_two_roles_cannot_satisfy_a_step_that_needs_both(team: Team) -> None:
    both = UserFactory(username="nurse_and_gas", roles=[roles.NURSE, roles.ANESTHESIA], full_name="Two Hats")
    team.room.staff.add(both)
    case = case_evidence(team)
    services.case_patient_in_room(actor=team.nurse, case=case)
    step = next(s for s in checklist_status(case) if {"nurse", "anesthesia"} <= set(s.roles))
    assert step.scan_role == "nurse"  # the identity step: the nurse's half is the wristband scan
    services.identity_scan_record(actor=both, case=case.pk, barcode=case.patient.mrn)
    with pytest.raises(ApplicationError) as refused:
        services.step_attest(actor=both, case=case.pk, step_code=step.code, role="anesthesia")
    assert refused.value.message == ONE_PERSON_ONE_ROLE.format(other="nurse", role="anesthesia")
    # The bulk attestation skips the steps this person attested under the other role.
    done = phase_attest_mine(actor=both, case=case.pk, phase="sign_in", role="anesthesia")
    assert step.code not in {a.step_code for a in done}
    # Another person in the anesthesia role completes it.
    services.step_attest(actor=team.anesthesia, case=case.pk, step_code=step.code, role="anesthesia")


# --- 5. one patient in the room ----------------------------------------------------------------


def test_a_room_holds_one_patient_until_that_case_is_signed_out_or_cancelled(team: Team) -> None:
    first = case_evidence(team)
    second = case_evidence(team)
    services.case_patient_in_room(actor=team.nurse, case=first)
    with pytest.raises(ApplicationError) as refused:
        services.case_patient_in_room(actor=team.nurse, case=second)
    message = refused.value.message
    assert f"case {first.pk}" in message and "DOE, Jane" in message and "OR 1" in message
    assert Case.objects.get(pk=second.pk).patient_in_room_at is None
    # Another room is another room.
    other = team_create(room_name="OR 2", suffix="2")
    services.case_patient_in_room(actor=other.nurse, case=case_evidence(other))
    # Cancelled elsewhere (the administration pages): the room is free.
    Case.objects.filter(pk=first.pk).update(state=CaseState.CANCELLED)
    services.case_patient_in_room(actor=team.nurse, case=second)


def test_the_room_frees_when_the_case_in_it_is_signed_out(team: Team) -> None:
    first = case_through_localization(team, case_evidence(team))
    second = case_evidence(team)
    services.treated_levels_record(actor=team.nurse, case=first, levels="L2")
    phase_attest(team, first, "sign_out")
    with pytest.raises(ApplicationError):
        services.case_patient_in_room(actor=team.nurse, case=second)
    services.sign_out_complete(actor=team.nurse, case=first.pk)
    services.case_patient_in_room(actor=team.nurse, case=second)


def test_the_case_list_shows_the_case_in_each_room_and_filters_by_room(team: Team) -> None:
    now = timezone.now()  # today's list, whatever the hour the suite runs at
    first = case_schedule(team, scheduled_start=now)
    evidence_record(team, first)
    other = team_create(room_name="OR 2", suffix="2")
    elsewhere = case_schedule(other, scheduled_start=now)
    services.case_patient_in_room(actor=team.nurse, case=first)
    admin = _client(team.admin)
    html = admin.get("/cases/").content.decode()
    assert 'data-testid="in-room-now"' in html
    now_block = html[html.index('data-testid="in-room-now"') :]
    now_block = now_block[: now_block.index("</section>")]
    assert "OR 1" in now_block and f"/cases/{first.pk}/" in now_block
    filtered = admin.get(f"/cases/?room={team.room.pk}").content.decode()
    assert f"/cases/{first.pk}/" in filtered
    assert f'href="/cases/{elsewhere.pk}/"' not in filtered
