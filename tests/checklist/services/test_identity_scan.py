"""Positive patient identification (issue 17): the wristband scan is the nurse's attestation of the
identity step; another patient's wristband is a stop with both identities, resolved by the right scan."""

from __future__ import annotations

import pytest

from checklist import services
from checklist.level_check import PATIENT_IDENTITY_MISMATCH
from checklist.models import AuditEvent, Case, ChecklistRun, IdentityScan, NearMiss, Patient, StepAttestation
from checklist.wristband import gsrn_with_check_digit
from core.errors import ApplicationError, ForbiddenError
from tests.support.workflow import case_schedule, evidence_record, phase_attest

pytestmark = pytest.mark.django_db

STEP = "patient_identity_scanned"
GSRN = gsrn_with_check_digit("73500538500000001")
OTHER_GSRN = gsrn_with_check_digit("73500538500000002")


def _fresh(case: Case) -> Case:
    return Case.objects.select_related("patient").get(pk=case.pk)


@pytest.fixture
def in_room(team) -> Case:
    case = case_schedule(team, mrn="RL-5001", family_name="Okafor", given_name="Ada")
    evidence_record(team, case)
    services.case_patient_in_room(actor=team.nurse, case=case)
    return _fresh(case)


@pytest.fixture
def other_patient(team) -> Patient:
    other = case_schedule(team, mrn="RL-5002", family_name="Lindqvist", given_name="Bo")
    return other.patient


def _scan(team, case, barcode, **kwargs):
    return services.identity_scan_record(actor=team.nurse, case=case.pk, barcode=barcode, **kwargs)


def _live(case: Case, role: str = "nurse") -> StepAttestation | None:
    return StepAttestation.objects.filter(run__case=case, step_code=STEP, role=role, voided_at__isnull=True).first()


def _stop_codes(case: Case) -> list[str]:
    verdict = _fresh(case).latest_verdict
    return [f["code"] for f in verdict.findings if f["severity"] == "stop"]


def test_the_patients_own_mrn_barcode_attests_the_identity_step_for_the_nurse(team, in_room) -> None:
    outcome = _scan(team, in_room, "RL-5001\r\n")  # a wedge scanner's Enter
    assert outcome.scan.matched and outcome.scan.kind == "mrn" and outcome.scan.value == "RL-5001"
    attestation = _live(in_room)
    assert attestation is not None and attestation == outcome.attestation and attestation.user == team.nurse
    assert IdentityScan.objects.get(case=in_room).attestation == attestation
    scanned = AuditEvent.objects.get(case=in_room, action="identity.scanned")
    assert scanned.after["matched"] is True and scanned.after["expected_mrn"] == "RL-5001"
    attested = AuditEvent.objects.get(case=in_room, action="step.attested", after__step=STEP)
    assert attested.after["wristband_scan"] == outcome.scan.pk
    assert _fresh(in_room).verdict != "stop"


def test_a_tick_is_refused_for_the_nurse_and_the_phase_button_leaves_the_scan_to_do(team, in_room) -> None:
    with pytest.raises(ApplicationError, match="scanning the patient's wristband"):
        services.step_attest(actor=team.nurse, case=in_room.pk, step_code=STEP, role="nurse")
    done = services.phase_attest_mine(actor=team.nurse, case=in_room.pk, phase="sign_in", role="nurse")
    assert done and STEP not in {a.step_code for a in done}
    assert _live(in_room) is None
    with pytest.raises(ApplicationError, match="scanning the patient's wristband"):
        services.phase_attest_mine(actor=team.nurse, case=in_room.pk, phase="sign_in", role="nurse")
    # Anesthesia's confirmation stays a tick.
    services.step_attest(actor=team.anesthesia, case=in_room.pk, step_code=STEP, role="anesthesia")
    assert _live(in_room, "anesthesia") is not None


def test_another_patients_wristband_is_a_stop_naming_both_and_the_right_scan_resolves_it(
    team, in_room, other_patient
) -> None:
    outcome = _scan(team, in_room, "RL-5002")
    assert not outcome.scan.matched and outcome.attestation is None
    assert outcome.scan.named_patient == other_patient and outcome.scan.expected_patient == in_room.patient
    case = _fresh(in_room)
    assert case.verdict == "stop" and _stop_codes(case) == [PATIENT_IDENTITY_MISMATCH]
    message = next(f["message"] for f in case.latest_verdict.findings if f["code"] == PATIENT_IDENTITY_MISMATCH)
    assert "LINDQVIST, Bo" in message and "RL-5002" in message  # the wristband's patient
    assert "OKAFOR, Ada" in message and "RL-5001" in message  # the case's patient
    with pytest.raises(ApplicationError, match="STOPPED"):
        services.step_attest(actor=team.anesthesia, case=case.pk, step_code=STEP, role="anesthesia")
    assert _live(case) is None

    resolved = _scan(team, case, "RL-5001")
    assert resolved.scan.matched and resolved.attestation is not None
    case = _fresh(case)
    assert case.verdict != "stop"
    near_miss = NearMiss.objects.get(case=case)
    assert near_miss.kind == "identity" and PATIENT_IDENTITY_MISMATCH in near_miss.codes
    # Both scans stay in the record, in order.
    assert list(IdentityScan.objects.filter(case=case).values_list("matched", flat=True)) == [False, True]


def test_a_wrong_wristband_after_the_step_was_attested_voids_it(team, in_room, other_patient) -> None:
    _scan(team, in_room, "RL-5001")
    services.step_attest(actor=team.anesthesia, case=in_room.pk, step_code=STEP, role="anesthesia")
    _scan(team, in_room, "RL-5002")
    assert _live(in_room) is None and _live(in_room, "anesthesia") is None
    voided = AuditEvent.objects.filter(case=in_room, action="step.voided", before__step=STEP)
    assert voided.count() == 2
    assert _fresh(in_room).verdict == "stop"


def test_a_wristband_naming_no_known_patient_is_a_stop_too(team, in_room) -> None:
    _scan(team, in_room, "RL-9999")
    case = _fresh(in_room)
    assert _stop_codes(case) == [PATIENT_IDENTITY_MISMATCH]
    assert "names no patient of this hospital" in str(case.latest_verdict.findings)


def test_a_gs1_wristband_with_the_patients_gsrn_attests(team, in_room) -> None:
    Patient.objects.filter(pk=in_room.patient_id).update(gsrn=GSRN)
    outcome = _scan(team, in_room, f"]d28018{GSRN}")
    assert outcome.scan.matched and outcome.scan.kind == "gsrn" and outcome.scan.symbology == "]d2"
    assert _live(in_room) is not None


def test_the_human_readable_gs1_form_and_another_patients_gsrn(team, in_room, other_patient) -> None:
    Patient.objects.filter(pk=in_room.patient_id).update(gsrn=GSRN)
    Patient.objects.filter(pk=other_patient.pk).update(gsrn=OTHER_GSRN)
    outcome = _scan(team, in_room, f"(8018){OTHER_GSRN}")
    assert not outcome.scan.matched and outcome.scan.named_patient == other_patient
    assert _stop_codes(in_room) == [PATIENT_IDENTITY_MISMATCH]


@pytest.mark.parametrize(
    ("barcode", "reason"),
    [
        ("", "Nothing was scanned"),
        ("0107350053850014\x1d10ABC", "not a wristband"),  # a medication's GTIN and batch, with a GS
        (f"(8018){GSRN[:-1]}{(int(GSRN[-1]) + 1) % 10}", "check digit"),
        ("name: Ada Okafor", "not a wristband"),
        ("X" * 500, "longer than any wristband"),
    ],
)
def test_a_barcode_that_is_not_a_wristband_is_refused_with_the_reason_and_recorded_nowhere(
    team, in_room, barcode, reason
) -> None:
    events = AuditEvent.objects.count()
    with pytest.raises(ApplicationError) as caught:
        _scan(team, in_room, barcode)
    assert reason in " ".join(caught.value.errors["barcode"])
    assert not IdentityScan.objects.exists() and AuditEvent.objects.count() == events
    assert _fresh(in_room).verdict != "stop"


def test_a_gsrn_cannot_be_checked_against_a_patient_without_one(team, in_room) -> None:
    with pytest.raises(ApplicationError) as caught:
        _scan(team, in_room, f"(8018){GSRN}")
    assert "has none on record" in " ".join(caught.value.errors["barcode"])
    assert not IdentityScan.objects.exists()


def test_only_the_nurse_scans_and_only_once_the_patient_is_in_the_room(team) -> None:
    case = case_schedule(team, mrn="RL-5003")
    evidence_record(team, case)
    with pytest.raises(ApplicationError, match="in the room"):
        _scan(team, case, "RL-5003")
    services.case_patient_in_room(actor=team.nurse, case=case)
    with pytest.raises(ForbiddenError, match="may not identity scan"):
        services.identity_scan_record(actor=team.anesthesia, case=case.pk, barcode="RL-5003")
    assert not IdentityScan.objects.exists()


def test_a_version_1_run_keeps_its_ticked_identity_step(team) -> None:
    case = case_schedule(team, mrn="RL-5004")
    ChecklistRun.objects.filter(case=case).update(template_version=1)
    evidence_record(team, case)
    services.case_patient_in_room(actor=team.nurse, case=case)
    with pytest.raises(ApplicationError, match="version 1"):
        _scan(team, case, "RL-5004")
    services.step_attest(actor=team.nurse, case=case.pk, step_code="patient_identity_confirmed", role="nurse")
    assert phase_attest(team, case, "sign_in") > 0


def test_the_whole_sign_in_goes_through_with_the_scan(team, in_room) -> None:
    assert phase_attest(team, in_room, "sign_in") > 0  # the builder scans for the nurse
    assert _fresh(in_room).state == "time_out"
    assert IdentityScan.objects.filter(case=in_room, matched=True).count() == 1


def test_verify_audit_names_a_scan_row_changed_or_inserted_behind_the_trail(team, in_room, other_patient) -> None:
    from checklist import audit
    from tests.support.tamper import unlocked

    outcome = _scan(team, in_room, "RL-5002")  # the wrong wristband, a stop
    assert audit.verify().ok
    with unlocked(["checklist_identityscan"]):
        IdentityScan.objects.filter(pk=outcome.scan.pk).update(matched=True)
    report = audit.verify()
    assert not report.ok
    problems = " ".join(p.message for p in report.problems)
    assert "matched" in problems, problems
