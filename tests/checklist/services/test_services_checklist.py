"""Checklist phases through the services: the enforced order, who attests, the time-out team,
the conditional steps, localization passing, sign-out and the closed case."""

from __future__ import annotations

import pytest
from django.utils import timezone

from checklist import services
from checklist.models import AuditEvent, Case, CaseState, PlanVersion, StepAttestation
from checklist.selectors import checklist_status
from core.errors import ApplicationError, ConflictError, ForbiddenError
from tests.support.factories import TEST_PASSWORD
from tests.support.tamper import unlocked
from tests.support.workflow import case_schedule, case_through_time_out, evidence_record, phase_attest

pytestmark = pytest.mark.django_db


def _fresh(case: Case) -> Case:
    return Case.objects.get(pk=case.pk)


def _steps(case: Case, phase: str | None = None) -> list[str]:
    return [s.code for s in checklist_status(_fresh(case)) if phase is None or s.phase == phase]


def _attest(team, case, code, role=None, actor=None):
    step = next(s for s in checklist_status(_fresh(case)) if s.code == code)
    role = role or step.roles[0]
    return services.step_attest(actor=actor or team.by_role(role), case=case.pk, step_code=code, role=role)


def _localize(team, case, *, reference="sacrum", count=4, label="L2", marker_in_place=True):
    return services.localization_record(
        actor=team.radiographer,
        case=case,
        phase="pre_incision",
        reference=reference,
        count=count,
        label=label,
        marker_in_place=marker_in_place,
        read_by=team.surgeon,
    )


def _confirm(team, case):
    return services.localization_confirm(actor=team.surgeon, case=case, password=TEST_PASSWORD, username="surgeon")


@pytest.fixture
def ready(team) -> Case:
    """Evidence agrees, the plan is signed, the patient is not yet in the room."""
    case = case_schedule(team)
    evidence_record(team, case)
    return _fresh(case)


@pytest.fixture
def in_localization(team, ready) -> Case:
    return case_through_time_out(team, ready)


@pytest.fixture
def in_sign_out(team, in_localization) -> Case:
    case = in_localization
    _localize(team, case)
    phase_attest(team, case, "localization")
    _confirm(team, case)
    case = _fresh(case)
    assert case.state == CaseState.SIGN_OUT
    return case


# --- the order ------------------------------------------------------------------------------------


def test_nothing_is_attested_before_the_patient_is_in_the_room(team, ready) -> None:
    with pytest.raises(ApplicationError, match="patient is in the room"):
        _attest(team, ready, "consent_signed")
    with pytest.raises(ApplicationError, match="patient is in the room"):
        services.identity_scan_record(actor=team.nurse, case=ready.pk, barcode=ready.patient.mrn)


def test_the_patient_enters_the_room_once(team, ready) -> None:
    services.case_patient_in_room(actor=team.nurse, case=ready)
    assert _fresh(ready).state == CaseState.SIGN_IN
    with pytest.raises(ApplicationError, match="already recorded"):
        services.case_patient_in_room(actor=team.nurse, case=ready)


def test_no_time_out_step_before_the_sign_in_is_complete(team, ready) -> None:
    services.case_patient_in_room(actor=team.nurse, case=ready)
    with pytest.raises(ApplicationError, match="Finish the sign-in"):
        _attest(team, ready, "team_introduced", role="nurse")
    with pytest.raises(ApplicationError, match="Finish the sign-in"):
        services.time_out_complete(actor=team.nurse, case=ready.pk)
    phase_attest(team, ready, "sign_in")
    assert _fresh(ready).state == CaseState.TIME_OUT
    _attest(team, ready, "team_introduced", role="nurse")


def test_no_localization_before_the_time_out_is_complete(team, ready) -> None:
    services.case_patient_in_room(actor=team.nurse, case=ready)
    phase_attest(team, ready, "sign_in")
    phase_attest(team, ready, "time_out")
    with pytest.raises(ApplicationError, match="Complete the time-out before the localization"):
        _attest(team, ready, "level_image_read", role="radiographer")
    with pytest.raises(ApplicationError, match="Complete the time-out"):
        _localize(team, ready)
    with pytest.raises(ApplicationError, match="Complete the time-out"):
        _confirm(team, ready)
    with pytest.raises(ApplicationError, match="after the time-out"):
        services.treated_levels_record(actor=team.nurse, case=ready, levels="L2")


def test_no_sign_out_before_the_localization_passes(team, in_localization) -> None:
    case = in_localization
    with pytest.raises(ApplicationError, match="localization must pass"):
        _attest(team, case, "procedure_recorded")
    with pytest.raises(ApplicationError, match="localization must pass"):
        services.sign_out_complete(actor=team.nurse, case=case.pk)


def test_no_attestation_while_a_stop_is_unresolved(team, ready) -> None:
    services.case_patient_in_room(actor=team.nurse, case=ready)
    services.imaging_record(
        actor=team.radiographer,
        case=ready,
        modality="ct",
        study_date=timezone.localdate(),  # never "in the future", whatever the hour
        levels="L3",
        reviewed_by=team.surgeon,
    )
    assert _fresh(ready).verdict == "stop"
    for code, role in (("patient_identity_scanned", "anesthesia"), ("anesthesia_safety_check", None)):
        with pytest.raises(ApplicationError, match="STOPPED") as caught:
            _attest(team, ready, code, role=role)
        assert "Pre-op imaging" in str(caught.value) or "imaging" in str(caught.value).lower()
    assert not StepAttestation.objects.filter(run__case=ready).exists()


def test_a_step_that_needs_missing_evidence_cannot_be_attested(team) -> None:
    case = case_schedule(team)
    services.case_patient_in_room(actor=team.nurse, case=case)
    with pytest.raises(ApplicationError, match="Cannot attest") as caught:
        _attest(team, case, "consent_signed")
    assert "consent" in str(caught.value).lower()
    _attest(team, case, "anesthesia_safety_check")  # needs no evidence


# --- who attests ------------------------------------------------------------------------------------


def test_a_step_is_attested_only_by_the_roles_it_names(team, ready) -> None:
    services.case_patient_in_room(actor=team.nurse, case=ready)
    with pytest.raises(ForbiddenError, match="attested by: anesthesia"):
        services.step_attest(actor=team.nurse, case=ready.pk, step_code="anesthesia_safety_check")
    with pytest.raises(ForbiddenError, match="do not hold the surgeon role"):
        services.step_attest(actor=team.nurse, case=ready.pk, step_code="consent_signed", role="surgeon")
    with pytest.raises(ApplicationError) as caught:
        services.step_attest(actor=team.nurse, case=ready.pk, step_code="no_such_step")
    assert "step" in caught.value.errors


def test_a_duplicate_attestation_is_a_409(team, ready) -> None:
    services.case_patient_in_room(actor=team.nurse, case=ready)
    _attest(team, ready, "consent_signed")
    with pytest.raises(ConflictError) as caught:
        _attest(team, ready, "consent_signed")
    assert caught.value.status_code == 409
    assert team.nurse.full_name in str(caught.value)
    # Another role on a step that names two roles is not a duplicate.
    services.identity_scan_record(actor=team.nurse, case=ready.pk, barcode=ready.patient.mrn)
    _attest(team, ready, "patient_identity_scanned", role="anesthesia")
    with pytest.raises(ConflictError):
        _attest(team, ready, "patient_identity_scanned", role="anesthesia")


def test_an_attestation_records_who_which_role_and_the_evidence_it_saw(team, ready) -> None:
    services.case_patient_in_room(actor=team.nurse, case=ready)
    attestation = _attest(team, ready, "vertebral_anatomy_recorded", role="radiographer")
    assert attestation.user == team.radiographer and attestation.role == "radiographer"
    assert attestation.evidence_version == _fresh(ready).evidence_version
    assert attestation.plan_version == PlanVersion.objects.get(case=ready, number=1)
    event = AuditEvent.objects.get(case=ready, action="step.attested")
    assert event.after["step"] == "vertebral_anatomy_recorded" and event.actor_role == "radiographer"


# --- the time-out -----------------------------------------------------------------------------------


def test_the_time_out_needs_surgeon_anesthesia_and_nurse(team, ready) -> None:
    services.case_patient_in_room(actor=team.nurse, case=ready)
    phase_attest(team, ready, "sign_in")
    for step in checklist_status(_fresh(ready)):
        if step.phase != "time_out":
            continue
        for role in step.roles:
            if role != "anesthesia":
                services.step_attest(actor=team.by_role(role), case=ready.pk, step_code=step.code, role=role)
    with pytest.raises(ApplicationError) as caught:
        services.time_out_complete(actor=team.nurse, case=ready.pk)
    message = str(caught.value)
    assert message.startswith("Still to attest:")
    assert "introduced themselves by name and role (anesthesia)" in message
    assert "patient-specific concerns (anesthesia)" in message
    assert "(surgeon" not in message and "nurse)" not in message
    phase_attest(team, ready, "time_out")
    services.time_out_complete(actor=team.surgeon, case=ready.pk)
    case = _fresh(ready)
    assert case.state == CaseState.LOCALIZATION
    assert case.latest_verdict.stage == "localization"
    with pytest.raises(ApplicationError, match="already complete"):
        services.time_out_complete(actor=team.nurse, case=ready.pk)


def test_the_time_out_is_refused_when_the_level_check_does_not_pass(team, ready) -> None:
    services.case_patient_in_room(actor=team.nurse, case=ready)
    phase_attest(team, ready, "sign_in")
    phase_attest(team, ready, "time_out")
    # The signed plan is altered behind the application's back: the check no longer passes.
    with unlocked([PlanVersion._meta.db_table]):  # as the owner, past the append-only trigger
        PlanVersion.objects.filter(case=ready).update(side="right")
    with pytest.raises(ApplicationError, match="does not pass") as caught:
        services.time_out_complete(actor=team.nurse, case=ready.pk)
    assert "signature is invalid" in str(caught.value)
    assert _fresh(ready).time_out_completed_at is None


def test_only_a_nurse_or_surgeon_closes_the_time_out(team, ready) -> None:
    services.case_patient_in_room(actor=team.nurse, case=ready)
    phase_attest(team, ready, "sign_in")
    phase_attest(team, ready, "time_out")
    for actor in (team.anesthesia, team.radiographer):
        with pytest.raises(ForbiddenError):
            services.time_out_complete(actor=actor, case=ready.pk)


# --- conditional steps ------------------------------------------------------------------------------


def test_variant_anatomy_steps_appear_only_for_variant_anatomy(team) -> None:
    usual = case_schedule(team)
    evidence_record(team, usual)
    variant = case_schedule(team)
    evidence_record(team, variant, lumbar=6)
    for code in ("variant_anatomy_discussed", "second_reference_count"):
        assert code not in _steps(usual)
        assert code in _steps(variant)
    lumbar_only = case_schedule(team)
    evidence_record(team, lumbar_only)
    services.anatomy_record(actor=team.radiographer, case=lumbar_only, thoracic=12, lumbar=5, source="lumbar_only")
    assert "variant_anatomy_discussed" in _steps(lumbar_only)


def test_conus_steps_appear_only_near_the_conus(team) -> None:
    l2 = case_schedule(team)
    evidence_record(team, l2, levels="L2")
    l4 = case_schedule(team)
    evidence_record(team, l4, levels="L4")
    assert "conus_warning_acknowledged" in _steps(l2, "time_out")
    assert "conus_warning_acknowledged" not in _steps(l4, "time_out")
    t12_l1 = case_schedule(team, procedure="discectomy")
    evidence_record(team, t12_l1, levels="T12-L1")
    assert "conus_warning_acknowledged" in _steps(t12_l1)


# --- localization -----------------------------------------------------------------------------------


def test_localization_passes_only_with_a_pass_a_confirmation_and_every_step(team, in_localization) -> None:
    case = in_localization
    assert case.verdict == "incomplete"  # no image read yet
    with pytest.raises(ApplicationError, match="cannot be confirmed yet"):
        _confirm(team, case)
    _localize(team, case)
    assert _fresh(case).verdict == "pass"
    _confirm(team, case)
    case = _fresh(case)
    assert case.localization_passed_at is None and case.state == CaseState.LOCALIZATION  # steps missing
    with pytest.raises(ApplicationError, match="already confirmed"):
        services.localization_confirm(actor=team.surgeon, case=case, password=TEST_PASSWORD, first_in_session=False)
    phase_attest(team, case, "localization")
    case = _fresh(case)
    assert case.localization_passed_at is not None and case.state == CaseState.SIGN_OUT
    assert AuditEvent.objects.filter(case=case, action="localization.passed").count() == 1


def test_steps_first_then_confirmation_also_passes(team, in_localization) -> None:
    case = in_localization
    _localize(team, case)
    phase_attest(team, case, "localization")
    assert _fresh(case).localization_passed_at is None  # not confirmed yet
    _confirm(team, case)
    assert _fresh(case).state == CaseState.SIGN_OUT


def test_only_the_surgeon_confirms_the_level(team, in_localization) -> None:
    _localize(team, in_localization)
    for actor in (team.nurse, team.radiographer, team.anesthesia):
        with pytest.raises(ForbiddenError):
            services.localization_confirm(actor=actor, case=in_localization, password=TEST_PASSWORD)


def test_a_read_after_the_marker_was_removed_does_not_count(team, in_localization) -> None:
    case = in_localization
    loc = _localize(team, case, marker_in_place=False)
    case = _fresh(case)
    assert case.verdict == "incomplete"
    codes = {f["code"] for f in case.latest_verdict.findings}
    assert {"MARKER_REMOVED", "LOCALIZATION_MISSING"} <= codes
    with pytest.raises(ApplicationError, match="re-image"):
        services.localization_mark_durable(actor=team.surgeon, case=case, localization_id=loc.pk)


def test_variant_anatomy_needs_a_second_reference(team) -> None:
    case = case_schedule(team)
    evidence_record(team, case, lumbar=6)
    case = case_through_time_out(team, case)
    _localize(team, case, count=5)  # six lumbar: L2 is the fifth vertebra up from the sacrum
    case = _fresh(case)
    assert case.verdict == "incomplete"
    assert {f["code"] for f in case.latest_verdict.findings if f["severity"] != "warning"} == {
        "SECOND_REFERENCE_REQUIRED"
    }
    with pytest.raises(ApplicationError, match="cannot be confirmed"):
        _confirm(team, case)
    _localize(team, case, reference="c2", count=19)
    assert _fresh(case).verdict == "pass"
    phase_attest(team, case, "localization")
    _confirm(team, case)
    assert _fresh(case).state == CaseState.SIGN_OUT


def test_the_durable_mark_is_recorded_once_per_image(team, in_localization) -> None:
    loc = _localize(team, in_localization)
    services.localization_mark_durable(actor=team.surgeon, case=in_localization, localization_id=loc.pk)
    with pytest.raises(ApplicationError, match="already recorded"):
        services.localization_mark_durable(actor=team.surgeon, case=in_localization, localization_id=loc.pk)
    with pytest.raises(ApplicationError) as caught:
        services.localization_mark_durable(actor=team.surgeon, case=in_localization, localization_id=loc.pk + 999)
    assert "localization" in caught.value.errors


def test_an_open_case_needs_the_durable_mark_before_the_localization_time_out(team) -> None:
    case = case_schedule(team, procedure="discectomy")
    evidence_record(team, case, levels="L2-L3")
    case = case_through_time_out(team, case)
    loc = _localize(team, case, label="L2-L3")
    _attest(team, case, "level_image_read", role="radiographer")
    with pytest.raises(ApplicationError, match="durable mark"):
        _attest(team, case, "localization_time_out", role="nurse")
    services.localization_mark_durable(actor=team.surgeon, case=case, localization_id=loc.pk)
    _attest(team, case, "localization_time_out", role="nurse")


# --- sign-out ---------------------------------------------------------------------------------------


def test_treated_levels_that_differ_from_the_plan_stop_and_sign_out_is_refused(team, in_sign_out) -> None:
    case = in_sign_out
    services.treated_levels_record(actor=team.nurse, case=case, levels="L3")
    case = _fresh(case)
    assert case.verdict == "stop"
    finding = next(f for f in case.latest_verdict.findings if f["code"] == "TREATED_LEVELS_MISMATCH")
    assert "L3" in finding["message"] and "L2" in finding["message"]
    with pytest.raises(ApplicationError, match="STOPPED"):
        _attest(team, case, "procedure_recorded")
    with pytest.raises(ApplicationError, match="does not pass"):
        services.sign_out_complete(actor=team.nurse, case=case.pk)
    services.treated_levels_record(actor=team.nurse, case=case, levels="l2")
    case = _fresh(case)
    assert case.verdict == "pass" and case.treated_levels == "L2"


def test_sign_out_needs_the_treated_levels_and_every_step(team, in_sign_out) -> None:
    case = in_sign_out
    with pytest.raises(ApplicationError) as caught:
        services.sign_out_complete(actor=team.nurse, case=case.pk)
    assert "treated_levels" in caught.value.errors
    services.treated_levels_record(actor=team.nurse, case=case, levels="L2")
    with pytest.raises(ApplicationError, match="Still to attest"):
        services.sign_out_complete(actor=team.nurse, case=case.pk)
    phase_attest(team, case, "sign_out")
    services.sign_out_complete(actor=team.nurse, case=case.pk)
    case = _fresh(case)
    assert case.state == CaseState.COMPLETED and case.signed_out_at is not None


def test_a_completed_case_refuses_every_further_write(team, in_sign_out) -> None:
    case = in_sign_out
    services.treated_levels_record(actor=team.nurse, case=case, levels="L2")
    phase_attest(team, case, "sign_out")
    services.sign_out_complete(actor=team.nurse, case=case.pk)
    before = AuditEvent.objects.filter(case=case).count()
    attempts = [
        lambda: services.consent_record(
            actor=team.nurse,
            case=case,
            procedure=case.procedure,
            levels="L2",
            side="left",
            date_signed=case.scheduled_start.date(),
            witness="W",
        ),
        lambda: services.plan_revise(actor=team.surgeon, case=case, procedure=case.procedure, levels="L2", side="left"),
        lambda: services.anatomy_record(actor=team.radiographer, case=case, thoracic=12, lumbar=5),
        lambda: services.marking_record(
            actor=team.nurse, case=case, region="lumbar", side="left", marked_by=team.surgeon
        ),
        lambda: _localize(team, case),
        lambda: services.treated_levels_record(actor=team.nurse, case=case, levels="L2"),
        lambda: services.sign_out_complete(actor=team.nurse, case=case.pk),
        lambda: services.step_attest(actor=team.nurse, case=case.pk, step_code="counts_correct"),
        lambda: services.case_patient_in_room(actor=team.nurse, case=case),
    ]
    for attempt in attempts:
        with pytest.raises(ApplicationError, match="completed: nothing more"):
            attempt()
    assert AuditEvent.objects.filter(case=case).count() == before


# --- concurrency ------------------------------------------------------------------------------------


def test_a_write_on_stale_evidence_is_a_409_and_an_attestation_does_not_bump_the_evidence(team, ready) -> None:
    services.case_patient_in_room(actor=team.nurse, case=ready)
    seen = _fresh(ready).evidence_version
    # Two tablets attest different steps on the same evidence: both succeed.
    services.step_attest(actor=team.nurse, case=ready.pk, step_code="consent_signed", expected_version=seen)
    services.step_attest(
        actor=team.anesthesia, case=ready.pk, step_code="anesthesia_safety_check", expected_version=seen
    )
    assert _fresh(ready).evidence_version == seen
    # The marking is recorded again on a third device: the evidence the first two saw is gone.
    services.marking_record(actor=team.surgeon, case=ready, region="lumbar", side="left", marked_by=team.surgeon)
    with pytest.raises(ConflictError) as caught:
        services.step_attest(actor=team.nurse, case=ready.pk, step_code="site_marked", expected_version=seen)
    assert caught.value.extra["current"]["evidence_version"] == seen + 1
    with pytest.raises(ConflictError):
        services.time_out_complete(actor=team.nurse, case=ready.pk, expected_version=seen)
    services.step_attest(actor=team.nurse, case=ready.pk, step_code="site_marked", expected_version=seen + 1)


def test_attesting_costs_the_same_queries_however_long_the_case_history(team) -> None:
    """An attestation reads the case, its checklist and its plan once each, whatever the number of
    earlier attestations, evidence corrections and audit events."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    def queries_of_one_attestation(case: Case) -> int:
        services.case_patient_in_room(actor=team.nurse, case=case.pk)
        with CaptureQueriesContext(connection) as queries:
            services.step_attest(actor=team.nurse, case=case.pk, step_code="consent_signed")
        return len(queries)

    short = case_schedule(team)
    evidence_record(team, short)
    # In another room: one patient per room, and both patients go in.
    other_room, _ = services.room_ensure(
        actor=team.admin, name="OR 9", staff=[team.nurse, team.anesthesia, team.radiographer]
    )
    long = case_schedule(team, room=other_room)
    evidence_record(team, long)
    for i in range(30):
        services.consent_record(actor=team.nurse, case=long.pk, procedure="selective_nerve_root_block",
                                levels="L2", side="left", date_signed=timezone.localdate(),
                                witness=f"Witness {i}")  # fmt: skip
    assert AuditEvent.objects.filter(case=long).count() > AuditEvent.objects.filter(case=short).count() + 29
    counted = queries_of_one_attestation(short)
    assert counted == queries_of_one_attestation(long)
    assert counted <= 14, counted


def test_each_phase_opens_when_the_one_before_it_is_complete_in_the_templates_order() -> None:
    from checklist.selectors.checklist import GATE_PATIENT_IN_ROOM, PHASE_OPENED_BY
    from checklist.templates_catalog import PHASES

    assert list(PHASE_OPENED_BY) == list(PHASES)
    assert list(PHASE_OPENED_BY.values()) == [GATE_PATIENT_IN_ROOM, *PHASES[:-1]]


def test_a_phase_opens_at_the_moment_its_gate_passed(team) -> None:
    from checklist.selectors import phase_opened_at

    case = case_schedule(team)
    evidence_record(team, case)
    assert phase_opened_at(_fresh(case), "sign_in") is None
    services.case_patient_in_room(actor=team.nurse, case=case.pk)
    fresh = _fresh(case)
    assert phase_opened_at(fresh, "sign_in") == fresh.patient_in_room_at
    assert phase_opened_at(fresh, "time_out") is None
    phase_attest(team, case, "sign_in")
    last_sign_in = StepAttestation.objects.filter(run__case=case, phase="sign_in").latest("attested_at")
    assert phase_opened_at(_fresh(case), "time_out") == last_sign_in.attested_at
    assert phase_opened_at(_fresh(case), "localization") is None
    assert phase_opened_at(_fresh(case), "no_such_phase") is None
