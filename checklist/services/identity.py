"""Positive patient identification at sign-in: the wristband scan (issue 17).

The scan, not a typed tick, is the nurse's attestation of the identity step of a version-2
checklist. Every scan is kept (``IdentityScan``, append-only) and audited, whether it matched or not:

* a wristband naming this case's patient (MRN, or GSRN when the patient has one) attests the step
  for the nurse, unless the level check is stopped for another reason (then the scan is kept and
  the step waits, like any other step);
* a wristband naming anyone else is the ``PATIENT_IDENTITY_MISMATCH`` stop (level_check), with the
  two identities read aloud; the identity step's live attestations are voided. A later scan of the
  right wristband resolves the stop, and the resolved stop is a near miss of kind "identity".
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from checklist import audit
from checklist.access.policies import require, user_roles
from checklist.audit.catalogue import AuditAction
from checklist.models import Case, IdentityScan, Patient, ScanInput, StepAttestation, User
from checklist.selectors import checklist_status, checklist_template, phase_gate
from checklist.services.case_writes import case_lock, now, rule_error
from checklist.services.cases import case_state_commit, verdict_record
from checklist.services.checklist import step_attest
from checklist.services.evidence import attestation_void
from checklist.templates_catalog import StepTemplate
from checklist.wristband import WristbandError, WristbandIdentity, wristband_parse
from core.errors import ForbiddenError, field_error

MSG_NOT_SCANNED_HERE = "This case's checklist (version {version}) confirms identity by a tick, not a wristband scan."
MSG_NOT_SCAN_ROLE = "The wristband is scanned by the {role}: you do not hold that role."
MSG_GATE = "Record that the patient is in the room first, then scan the wristband."
MSG_NO_GSRN_ON_RECORD = (
    "This wristband carries a GSRN, and this patient has none on record: scan the wristband's MRN barcode, "
    "or ask the admitting office to record the patient's GSRN."
)
MSG_STOPPED = "The wristband matches, but the level check is stopped: the step waits until the stop is resolved."
VOID_REASON = "a wristband for another patient was scanned"


@dataclass(frozen=True)
class ScanOutcome:
    """What a scan did: the scan record, the attestation it made (if any), and why not."""

    scan: IdentityScan
    attestation: StepAttestation | None
    note: str = ""


def _scan_step(case: Case) -> StepTemplate:
    template = checklist_template(case)
    step = next((s for s in template.steps if s.scan_role), None)
    if step is None:
        raise rule_error(MSG_NOT_SCANNED_HERE.format(version=template.version), field="barcode")
    return step


def _named_patient(identity: WristbandIdentity) -> Patient | None:
    if identity.kind == "gsrn":
        return Patient.objects.filter(gsrn=identity.value).first()
    return Patient.objects.filter(mrn=identity.value).first()


def _void_identity_attestations(case: Case, step: StepTemplate, *, actor: User) -> int:
    at = now()
    live = StepAttestation.objects.filter(run__case=case, step_code=step.code, voided_at__isnull=True)
    voided = 0
    for attestation in live.select_related("user"):
        attestation_void(attestation, case=case, actor=actor, reason=VOID_REASON, at=at)
        voided += 1
    return voided


@transaction.atomic
def identity_scan_record(
    *,
    actor: User,
    case: Case | int,
    barcode: str,
    source: str = ScanInput.SCANNER,
    expected_version: int | None = None,
) -> ScanOutcome:
    """Record one wristband scan at sign-in and act on it (see the module docstring)."""
    case = case_lock(case, expected_version=expected_version)
    require(actor, "identity.scan", case)
    step = _scan_step(case)
    if step.scan_role not in user_roles(actor):
        raise ForbiddenError(MSG_NOT_SCAN_ROLE.format(role=step.scan_role))
    if source not in ScanInput.values:
        raise field_error("source", f"Unknown scan input {source!r}; one of {', '.join(ScanInput.values)}.")
    try:
        identity = wristband_parse(barcode)
    except WristbandError as exc:
        raise field_error("barcode", str(exc)) from None
    if phase_gate(case, "sign_in") is not None:
        raise rule_error(MSG_GATE, field="barcode")
    patient = case.patient
    on_record = patient.gsrn if identity.kind == "gsrn" else patient.mrn
    matched = on_record == identity.value
    named = None if matched else _named_patient(identity)
    if identity.kind == "gsrn" and not patient.gsrn and named is None:
        raise field_error("barcode", MSG_NO_GSRN_ON_RECORD)
    scan = IdentityScan.objects.create(
        case=case,
        scanned_by=actor,
        scanned_at=now(),
        source=source,
        kind=identity.kind,
        value=identity.value,
        symbology=identity.symbology,
        matched=matched,
        expected_patient=patient,
        named_patient=named,
    )
    audit.append(
        action=AuditAction.IDENTITY_SCANNED,
        actor=actor,
        case=case,
        obj=scan,
        after={
            "kind": scan.kind,
            "value": scan.value,
            "source": scan.source,
            "matched": matched,
            "expected_mrn": patient.mrn,
            "named_mrn": named.mrn if named else None,
        },
    )
    before_state = case.state
    if not matched:
        _void_identity_attestations(case, step, actor=actor)
    verdict_record(case=case, actor=actor, trigger=AuditAction.IDENTITY_SCANNED)
    case_state_commit(case, actor=actor, before_state=before_state, evidence=True)
    if not matched:
        return ScanOutcome(scan=scan, attestation=None)
    current = next((s for s in checklist_status(case) if s.code == step.code), None)
    if current is not None and step.scan_role in current.attested_by:
        return ScanOutcome(scan=scan, attestation=None, note="The identity step was already attested.")
    if case.verdict == "stop":
        return ScanOutcome(scan=scan, attestation=None, note=MSG_STOPPED)
    attestation = step_attest(actor=actor, case=case, step_code=step.code, role=step.scan_role, scan=scan)
    IdentityScan.objects.filter(pk=scan.pk).update(attestation=attestation)
    scan.attestation = attestation
    return ScanOutcome(scan=scan, attestation=attestation)


__all__ = ["MSG_STOPPED", "ScanOutcome", "identity_scan_record"]
