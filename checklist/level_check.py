"""The bridge between a case's records and the pure level check.

``level_request_build`` turns the current (not superseded) records into the contract's JSON;
``level_evaluate`` collects the workflow's own findings and judges the request with them through
``levelverify.verdict.judge`` (the function the tablet runs offline). The workflow's findings
only ever make a verdict stricter:

- ``PLAN_NOT_SIGNED`` (incomplete): the latest plan version has no signature yet.
- ``PLAN_SIGNATURE_INVALID`` (stop): the signed content no longer hashes to what was signed.
- ``EVIDENCE_INVALID`` (stop): the stored records cannot be read together, e.g. the plan names L6
  but the anatomy recorded later has five lumbar vertebrae.
- ``TREATED_LEVELS_MISMATCH`` (stop): the levels recorded as treated differ from the plan.
- ``PATIENT_IDENTITY_MISMATCH`` (stop): the latest wristband scan names someone other than the
  case's patient (issue 17); a scan of the right wristband resolves it.
- ``OFFLINE_VERDICT_MISMATCH`` (stop): a tablet judged the evidence it kept offline differently
  from the server's check of the same evidence on sync (issue 18); evidence recorded afterwards,
  online, resolves it.

Other apps add findings of their own through ``findings_provider_register`` (the imaging app: the
independent second read of a level image, ``SECOND_READ_REQUIRED`` and ``SECOND_READ_MISMATCH``),
so that the checklist never imports them; like the workflow's, they only make a verdict stricter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from checklist.audit import canonical_json, signature_mac_valid
from checklist.audit.catalogue import AuditAction
from checklist.models import (
    AnatomyRecord,
    AuditEvent,
    Case,
    Consent,
    IdentityScan,
    Localization,
    PlanVersion,
    PreopImaging,
    Signature,
    SiteMarking,
)
from levelverify.check import (
    BLOCKING_SEVERITIES,
    STRUCTURE_BY_PROCEDURE,
)
from levelverify.spine import Anatomy, NotationError, format_unit, parse_levels
from levelverify.verdict import ACTION_EVIDENCE_INVALID, EVIDENCE_INVALID, judge

PLAN_NOT_SIGNED = "PLAN_NOT_SIGNED"
PLAN_SIGNATURE_INVALID = "PLAN_SIGNATURE_INVALID"
TREATED_LEVELS_MISMATCH = "TREATED_LEVELS_MISMATCH"
PATIENT_IDENTITY_MISMATCH = "PATIENT_IDENTITY_MISMATCH"
OFFLINE_VERDICT_MISMATCH = "OFFLINE_VERDICT_MISMATCH"
# The verdicts a tablet may say it showed offline (X-Tablet-Verdict).
TABLET_VERDICTS = ("pass", "stop", "incomplete")
# Added by the imaging app's provider (below): a blind second read is due, or it disagrees.
SECOND_READ_REQUIRED = "SECOND_READ_REQUIRED"
SECOND_READ_MISMATCH = "SECOND_READ_MISMATCH"

MSG_PLAN_NOT_SIGNED = "Plan version {number} is not signed by the surgeon yet."
MSG_PLAN_SIGNATURE_INVALID = (
    "The signed plan's content has changed since it was signed: the signature is invalid. Do not proceed."
)
MSG_TREATED_MISMATCH = "Levels recorded as treated ({treated}) differ from the plan ({planned})."
MSG_IDENTITY_MISMATCH = (
    "Wrong patient or wrong wristband: the wristband reads {scanned}, but this case is for {expected}."
)
MSG_OFFLINE_MISMATCH = (
    "A tablet judged this case offline as {tablet}, but the server's check of the same evidence says {server}: "
    "do not rely on what the tablet showed."
)
MSG_IDENTITY_STALE = (
    "The patient of this case changed after the wristband was scanned (records merged): it now is "
    "{expected}; scan the wristband again."
)

# What resolves each workflow finding (contract v2, rule 8: every blocking finding names what to do).
ACTION_BY_CODE = {
    PLAN_NOT_SIGNED: "The surgeon reviews the plan and signs it with their password.",
    PLAN_SIGNATURE_INVALID: (
        "Do not proceed: the surgeon reviews the plan as it is now and signs it again; "
        "tell the quality officer, the record was changed after signing."
    ),
    EVIDENCE_INVALID: ACTION_EVIDENCE_INVALID,
    PATIENT_IDENTITY_MISMATCH: (
        "Stop: read both identities aloud, ask the patient their name and date of birth, and scan the "
        "wristband of this case's patient (or open the right case). The wrong scan stays in the record."
    ),
    OFFLINE_VERDICT_MISMATCH: (
        "Read the server's findings to the team, count the level image again and record it (or correct the "
        "evidence) with the network up: a record made after this stop resolves it."
    ),
    TREATED_LEVELS_MISMATCH: (
        "Record what was actually treated. If it differs from the plan, this is a wrong-level event: "
        "the surgeon records a signed statement, quality and the administrators are alerted, and the "
        "case closes as completed with a wrong-level event."
    ),
}


def findings_of(findings: list[dict[str, Any]], *severities: str) -> list[dict[str, Any]]:
    """The stored findings of these severities, in order."""
    return [finding for finding in findings if finding["severity"] in severities]


def blocking_findings(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The findings that keep the verdict from passing (stops and missing evidence, no warning)."""
    return findings_of(findings, *BLOCKING_SEVERITIES)


@dataclass(frozen=True)
class CurrentEvidence:
    plan: PlanVersion | None
    consent: Consent | None
    marking: SiteMarking | None
    imaging: PreopImaging | None
    anatomy: AnatomyRecord | None
    localizations: list[Localization]
    # The latest wristband scan: only the latest counts, a right scan resolves a wrong one.
    identity_scan: IdentityScan | None = None
    # A case created in the running transaction: no record or event can point at it from before.
    new_case: bool = False

    def latest_record_at(self) -> Any:
        """When the newest evidence record in force was recorded (None: no evidence yet)."""
        records = [self.consent, self.marking, self.imaging, self.anatomy, *self.localizations]
        times = [r.recorded_at for r in records if r is not None]
        return max(times) if times else None


def current_evidence(case: Case) -> CurrentEvidence:
    """The records in force: the latest plan version and the latest non-superseded evidence."""

    def latest(model: Any) -> Any:
        return model.objects.filter(case=case, superseded_at__isnull=True).order_by("-recorded_at", "-id").first()

    return CurrentEvidence(
        plan=PlanVersion.objects.filter(case=case).select_related("signature").order_by("-number").first(),
        consent=latest(Consent),
        marking=latest(SiteMarking),
        imaging=latest(PreopImaging),
        anatomy=latest(AnatomyRecord),
        localizations=list(
            Localization.objects.filter(case=case, superseded_at__isnull=True).order_by("recorded_at", "id")
        ),
        identity_scan=IdentityScan.objects.filter(case=case)
        .select_related("expected_patient", "named_patient")
        .order_by("-scanned_at", "-id")
        .first(),
    )


def offline_mismatch_of(case: Case) -> tuple[Any, str, str] | None:
    """The case's latest OFFLINE_VERDICT_DIFFERED event: (time, tablet's verdict, server's)."""
    row = (
        AuditEvent.objects.filter(case_id=case.pk, action=AuditAction.OFFLINE_VERDICT_DIFFERED)
        .order_by("-seq")
        .values_list("at", "after")
        .first()
    )
    if row is None:
        return None
    at, after = row
    return at, str((after or {}).get("tablet", "")), str((after or {}).get("server", ""))


def offline_mismatch_finding(case: Case, evidence: CurrentEvidence) -> dict[str, Any] | None:
    """The stop of a tablet's offline verdict the server did not confirm, until evidence is
    recorded after it."""
    if evidence.new_case:
        # Its only events are the ones its creation appended: no tablet has sent a verdict yet.
        return None
    mismatch = offline_mismatch_of(case)
    if mismatch is None:
        return None
    at, tablet, server = mismatch
    latest = evidence.latest_record_at()
    if latest is not None and latest > at:
        return None
    words = {"pass": "PASS", "stop": "STOP", "incomplete": "INCOMPLETE"}
    message = MSG_OFFLINE_MISMATCH.format(tablet=words.get(tablet, tablet), server=words.get(server, server))
    return _finding(OFFLINE_VERDICT_MISMATCH, "stop", ["localizations"], message)


def anatomy_of(record: AnatomyRecord | None) -> Anatomy:
    if record is None:
        return Anatomy()
    return Anatomy(
        thoracic=record.thoracic,
        lumbar=record.lumbar,
        lowest_rib=record.lowest_rib,
        lowest_mobile=record.lowest_mobile,
        source=record.source,  # type: ignore[arg-type]
    )


def level_request_build(case: Case, evidence: CurrentEvidence | None = None) -> dict[str, Any]:
    evidence = evidence or current_evidence(case)
    request: dict[str, Any] = {"stage": "localization" if case.time_out_completed_at else "time_out"}
    if evidence.anatomy is not None:
        a = evidence.anatomy
        request["anatomy"] = {
            "thoracic": a.thoracic,
            "lumbar": a.lumbar,
            "lowest_rib": a.lowest_rib,
            "lowest_mobile": a.lowest_mobile,
            "source": a.source,
        }
    if evidence.plan is not None:
        p = evidence.plan
        request["plan"] = {"procedure": p.procedure, "levels": p.levels, "side": p.side}
    if evidence.consent is not None:
        c = evidence.consent
        request["consent"] = {"procedure": c.procedure, "levels": c.levels, "side": c.side}
    if evidence.marking is not None:
        request["marking"] = {"region": evidence.marking.region, "side": evidence.marking.side}
    if evidence.imaging is not None:
        request["preop_imaging"] = {"levels": evidence.imaging.levels}
    if evidence.localizations:
        request["localizations"] = [
            {
                "reference": x.reference,
                "count": x.count,
                "level": x.label,
                "marker_in_place": x.marker_in_place,
                **({"side": x.side} if x.side else {}),
            }
            for x in evidence.localizations
        ]
    return request


def plan_content(plan: PlanVersion) -> dict[str, Any]:
    """Exactly what a plan signature covers (21 CFR 11.70: bound to the content signed)."""
    return {
        "case_id": plan.case_id,
        "plan_version": plan.number,
        "procedure": plan.procedure,
        "structure": plan.structure,
        "levels": plan.levels,
        "side": plan.side,
        "approach": plan.approach,
        "notes": plan.notes,
        "patient_id": plan.case.patient_id,
    }


def localization_content(case: Case, localizations: list[Localization], plan: PlanVersion) -> dict[str, Any]:
    """What a surgeon signs when confirming the localization: the images read, against the plan."""
    return {
        "case_id": case.pk,
        "plan_version": plan.number,
        "plan_levels": plan.levels,
        "plan_side": plan.side,
        "localizations": [
            {
                "id": x.pk,
                "reference": x.reference,
                "count": x.count,
                "label": x.label,
                "marker_in_place": x.marker_in_place,
            }
            for x in localizations
        ],
    }


def content_hash(content: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(content)).hexdigest()


def signature_valid(signature: Signature, current_content: dict[str, Any]) -> bool:
    """The content signed still reads the same, and the signature's binding of signer, meaning,
    time and content hash carries the server's MAC (a signature re-hashed in the database does not)."""
    return signature.content_hash == content_hash(current_content) == content_hash(
        signature.content
    ) and signature_mac_valid(signature)


def plan_signature_valid(plan: PlanVersion) -> bool:
    """The plan version is signed and its signature still covers it (see signature_valid)."""
    return plan.signature is not None and signature_valid(plan.signature, plan_content(plan))


def treated_units(case: Case, levels: str, evidence: CurrentEvidence) -> tuple[list[str], list[str]]:
    """(treated, planned) canonical unit names, read in the plan's structure."""
    if evidence.plan is None:
        return [], []
    anatomy = anatomy_of(evidence.anatomy)
    structure = STRUCTURE_BY_PROCEDURE[evidence.plan.procedure]
    treated = [format_unit(u) for u in parse_levels(levels, structure, anatomy)]
    planned = [format_unit(u) for u in parse_levels(evidence.plan.levels, structure, anatomy)]
    return treated, planned


def _finding(code: str, severity: str, sources: list[str], message: str) -> dict[str, Any]:
    return {"code": code, "severity": severity, "sources": sources, "message": message, "action": ACTION_BY_CODE[code]}


FindingsProvider = Callable[[Case, "CurrentEvidence"], list[dict[str, Any]]]
_FINDINGS_PROVIDERS: list[FindingsProvider] = []


def findings_provider_register(provider: FindingsProvider) -> None:
    """Let another app add findings (full finding dicts, severity ``incomplete`` or ``stop``) to
    every evaluation; called once from its ``AppConfig.ready``."""
    if provider not in _FINDINGS_PROVIDERS:
        _FINDINGS_PROVIDERS.append(provider)


def patient_label(patient: Any) -> str:
    """How a patient is read aloud: name, date of birth and MRN."""
    return (
        f"{patient.family_name.upper()}, {patient.given_name}, born {patient.date_of_birth:%d %b %Y}, MRN {patient.mrn}"
    )


def identity_finding(case: Case, scan: IdentityScan | None) -> dict[str, Any] | None:
    """The stop of a wristband naming someone else (or scanned before the case changed patient)."""
    if scan is None:
        return None
    expected = patient_label(case.patient)
    if not scan.matched:
        scanned = scan.label()
        if scan.named_patient is not None and scan.kind == "mrn":
            scanned = patient_label(scan.named_patient)  # the label ends with the MRN scanned
        elif scan.named_patient is not None:
            scanned = f"{scanned}: {patient_label(scan.named_patient)}"
        else:
            scanned = f"{scanned}, which names no patient of this hospital"
        message = MSG_IDENTITY_MISMATCH.format(scanned=scanned, expected=expected)
    elif scan.expected_patient_id != case.patient_id:
        message = MSG_IDENTITY_STALE.format(expected=expected)
    else:
        return None
    return _finding(PATIENT_IDENTITY_MISMATCH, "stop", ["identity"], message)


def no_evidence() -> CurrentEvidence:
    """The evidence of a case created in the running transaction: no record can point at it yet."""
    return CurrentEvidence(
        plan=None, consent=None, marking=None, imaging=None, anatomy=None, localizations=[], new_case=True
    )


def level_evaluate(case: Case, evidence: CurrentEvidence | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(request, result) for the case now (``evidence``: the records in force, when the caller
    knows them). Never raises for bad stored data: that is a stop."""
    if evidence is None:
        evidence = current_evidence(case)
    request = level_request_build(case, evidence)
    extra: list[dict[str, Any]] = []
    plan = evidence.plan
    if plan is not None:
        if plan.signature is None:
            extra.append(
                _finding(PLAN_NOT_SIGNED, "incomplete", ["plan"], MSG_PLAN_NOT_SIGNED.format(number=plan.number))
            )
        elif not plan_signature_valid(plan):
            extra.append(_finding(PLAN_SIGNATURE_INVALID, "stop", ["plan"], MSG_PLAN_SIGNATURE_INVALID))
    if case.treated_levels:
        try:
            treated, planned = treated_units(case, case.treated_levels, evidence)
        except (NotationError, KeyError) as exc:
            extra.append(_finding(EVIDENCE_INVALID, "stop", ["treated_levels"], str(exc)))
        else:
            if treated != planned:
                extra.append(
                    _finding(
                        TREATED_LEVELS_MISMATCH,
                        "stop",
                        ["treated_levels", "plan"],
                        MSG_TREATED_MISMATCH.format(treated=", ".join(treated), planned=", ".join(planned)),
                    )
                )
    identity = identity_finding(case, evidence.identity_scan)
    if identity is not None:
        extra.append(identity)
    offline = offline_mismatch_finding(case, evidence)
    if offline is not None:
        extra.append(offline)
    for provider in _FINDINGS_PROVIDERS:
        extra.extend(provider(case, evidence))
    # The same function the tablet runs offline (levelverify.verdict): engine, then these findings.
    result = judge(request, extra)
    return request, result
