"""A whole L2 case through the services: order enforced, verdicts stored, audit written."""

from __future__ import annotations

import pytest
from django.utils import timezone

from checklist import audit, services
from checklist.models import AuditEvent, Case, CaseState, NearMiss
from checklist.selectors import checklist_status
from core.errors import ApplicationError, ConflictError
from tests.support.factories import TEST_PASSWORD
from tests.support.workflow import case_schedule, case_through_time_out, evidence_record, phase_attest

pytestmark = pytest.mark.django_db


def test_a_new_case_is_incomplete_with_every_missing_piece_listed(team) -> None:
    case = case_schedule(team)
    assert case.state == CaseState.SCHEDULED
    assert case.verdict == "incomplete"
    codes = {f["code"] for f in case.latest_verdict.findings}
    assert {"PLAN_MISSING", "CONSENT_MISSING", "MARKING_MISSING", "PREOP_IMAGING_MISSING", "ANATOMY_MISSING"} <= codes


def test_agreeing_evidence_with_a_signed_plan_passes(team) -> None:
    case = case_schedule(team)
    evidence_record(team, case)
    case.refresh_from_db()
    assert case.verdict == "pass", case.latest_verdict.findings


def test_an_unsigned_plan_never_passes(team) -> None:
    case = case_schedule(team)
    evidence_record(team, case, sign=False)
    case.refresh_from_db()
    assert case.verdict == "incomplete"
    assert "PLAN_NOT_SIGNED" in {f["code"] for f in case.latest_verdict.findings}


def test_a_whole_case_from_sign_in_to_sign_out(team) -> None:
    case = case_schedule(team)
    evidence_record(team, case)
    case = case_through_time_out(team, case)
    assert case.state == CaseState.LOCALIZATION
    assert case.verdict == "incomplete"  # the localization stage needs an image read with the marker in place
    loc = services.localization_record(
        actor=team.radiographer,
        case=case,
        phase="pre_incision",
        reference="sacrum",
        count=4,
        label="L2",
        marker_in_place=True,
        read_by=team.surgeon,
    )
    services.localization_mark_durable(actor=team.nurse, case=case, localization_id=loc.pk)
    case.refresh_from_db()
    assert case.verdict == "pass", case.latest_verdict.findings
    phase_attest(team, case, "localization")
    services.localization_confirm(actor=team.surgeon, case=case, password=TEST_PASSWORD, username="surgeon")
    case.refresh_from_db()
    assert case.state == CaseState.SIGN_OUT
    services.treated_levels_record(actor=team.nurse, case=case, levels="l2")
    phase_attest(team, case, "sign_out")
    services.sign_out_complete(actor=team.nurse, case=case.pk)
    case.refresh_from_db()
    assert case.state == CaseState.COMPLETED
    assert audit.verify().ok
    actions = list(AuditEvent.objects.filter(case=case).values_list("action", flat=True))
    for action in (
        "case.scheduled",
        "plan.created",
        "signature.signed",
        "consent.recorded",
        "time_out.completed",
        "localization.recorded",
        "localization.passed",
        "sign_out.completed",
    ):
        assert action in actions


def test_no_time_out_before_sign_in(team) -> None:
    case = case_schedule(team)
    evidence_record(team, case)
    services.case_patient_in_room(actor=team.nurse, case=case)
    step = next(s for s in checklist_status(Case.objects.get(pk=case.pk)) if s.phase == "time_out")
    with pytest.raises(ApplicationError, match="Finish the sign-in"):
        services.step_attest(
            actor=team.nurse,
            case=case.pk,
            step_code=step.code,
            role=step.roles[0] if step.roles[0] == "nurse" else None,
        )


def test_a_consent_side_mismatch_stops_and_its_resolution_is_a_near_miss(team) -> None:
    case = case_schedule(team)
    evidence_record(team, case, consent_side="right")
    case.refresh_from_db()
    assert case.verdict == "stop"
    messages = [f["message"] for f in case.latest_verdict.findings if f["code"] == "CONSENT_MISMATCH"]
    assert messages == ["Consent says RIGHT, plan says LEFT."]
    services.case_patient_in_room(actor=team.nurse, case=case)
    step = next(s for s in checklist_status(Case.objects.get(pk=case.pk)) if s.phase == "sign_in" and not s.scan_role)
    with pytest.raises(ApplicationError, match="STOPPED"):
        services.step_attest(actor=team.by_role(step.roles[0]), case=case.pk, step_code=step.code)
    services.consent_record(
        actor=team.nurse,
        case=case,
        procedure=case.procedure,
        levels="L2",
        side="left",
        date_signed=timezone.now().date(),
        witness="W",
    )
    case.refresh_from_db()
    assert case.verdict == "pass"
    near_miss = NearMiss.objects.get(case=case)
    assert near_miss.kind == "consent"
    assert near_miss.codes == ["CONSENT_MISMATCH"]
    assert near_miss.caught_by == team.nurse


def test_a_stale_write_is_refused_with_409(team) -> None:
    case = case_schedule(team)
    seen = Case.objects.get(pk=case.pk).evidence_version
    services.anatomy_record(actor=team.radiographer, case=case, thoracic=12, lumbar=5, expected_version=seen)
    with pytest.raises(ConflictError) as caught:
        services.anatomy_record(actor=team.nurse, case=case, thoracic=12, lumbar=6, expected_version=seen)
    assert caught.value.status_code == 409
    assert caught.value.extra["current"]["evidence_version"] == seen + 1


def test_revising_a_signed_plan_voids_what_depended_on_it(team) -> None:
    case = case_schedule(team)
    evidence_record(team, case)
    case = case_through_time_out(team, case)
    services.plan_revise(actor=team.surgeon, case=case, procedure=case.procedure, levels="L3", side="left")
    case.refresh_from_db()
    assert case.time_out_completed_at is None
    assert case.verdict == "stop"  # consent and imaging still say L2
    assert AuditEvent.objects.filter(case=case, action="step.voided").exists()
