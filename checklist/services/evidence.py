"""Level evidence: plan versions, consent, marking, pre-op imaging, anatomy, localizations.

Evidence rows are never edited. A correction is a new row; the old one is marked superseded and
stays in the record. Every write re-runs the level check (``verdict_record``).
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from checklist import audit, uploads
from checklist.access import roles
from checklist.access.policies import has_role, require
from checklist.audit.catalogue import AuditAction
from checklist.level_check import anatomy_of, current_evidence
from checklist.models import (
    DOWNTIME_PAPER,
    AdverseEvent,
    AnatomyRecord,
    Case,
    Consent,
    Localization,
    PlanVersion,
    PreopImaging,
    SiteMarking,
    StepAttestation,
    User,
)
from checklist.selectors import checklist_template
from checklist.services.case_writes import case_lock, case_touch, now, rule_error
from checklist.services.cases import case_state_commit, verdict_record
from checklist.services.downtime import paper_time_check
from core.errors import ApplicationError, field_error
from levelverify.check import STRUCTURE_BY_PROCEDURE
from levelverify.errors import LevelInputError
from levelverify.spine import (
    Anatomy,
    NotationError,
    Structure,
    check_level_characters,
    format_units,
    parse_levels,
    parse_unit,
)

# Evidence key (templates_catalog.EVIDENCE_KEYS) -> the records it depends on.
EVIDENCE_BY_RECORD = {
    "plan": {
        "plan_signed",
        "consent",
        "marking",
        "preop_imaging",
        "anatomy",
        "localization",
        "durable_mark",
        "treated_levels",
    },
    "consent": {"consent", "plan_signed"},
    "marking": {"marking"},
    "preop_imaging": {"preop_imaging"},
    "anatomy": {"anatomy", "localization", "durable_mark"},
}
MAX_SCAN_BYTES = 20 * 1024 * 1024
SCAN_TOO_LARGE = "The scan is larger than 20 MB."


IMAGE_READERS = (roles.SURGEON, roles.RADIOGRAPHER)
LOCALIZATION_SIDES = ("", "left", "right")


def _require_reader(person: User, field: str, what: str) -> None:
    """Images are read by a surgeon or a radiographer (domain: the level image is read by them)."""
    if not person.is_active or not any(has_role(person, role) for role in IMAGE_READERS):
        raise field_error(field, f"{person.full_name} may not {what}: choose a surgeon or a radiographer.")


def canonical_levels(field: str, text: str, procedure: str, anatomy: Anatomy) -> str:
    """Parse ``text`` in the procedure's structure for this anatomy; return the canonical form
    (raises a 400 naming ``field`` with the parser's message)."""
    structure = STRUCTURE_BY_PROCEDURE.get(procedure)
    if structure is None:
        raise field_error("procedure", f"Unknown procedure {procedure!r}.")
    try:
        return format_units(parse_levels(text, structure, anatomy))
    except NotationError as exc:
        raise field_error(field, "; ".join(exc.messages) if getattr(exc, "messages", None) else str(exc)) from exc


def _supersede(model: Any, case: Case, at: Any) -> Any:
    previous = model.objects.filter(case=case, superseded_at__isnull=True).order_by("-recorded_at", "-id").first()
    if previous is not None:
        model.objects.filter(pk=previous.pk).update(superseded_at=at)
    return previous


def attestation_void(attestation: StepAttestation, *, case: Case, actor: User, reason: str, at: Any) -> None:
    """Void one live attestation, with its audit event (inside the caller's transaction)."""
    attestation.voided_at = at
    attestation.voided_reason = reason
    attestation.save(update_fields=["voided_at", "voided_reason"])
    audit.append(
        action=AuditAction.STEP_VOIDED,
        actor=actor,
        case=case,
        obj=attestation,
        before={"step": attestation.step_code, "role": attestation.role, "attested_by": attestation.user.username},
        reason=reason,
    )


def _void_dependent(case: Case, *, record: str, actor: User, reason: str) -> int:
    """Void live attestations whose step depends on evidence that just changed. If a time-out or
    localization attestation is voided, that phase must be done again."""
    keys = EVIDENCE_BY_RECORD[record]
    template = checklist_template(case)
    steps = {s.code: s for s in template.steps}
    voided_phases: set[str] = set()
    voided = 0
    at = now()
    for attestation in StepAttestation.objects.filter(run__case=case, voided_at__isnull=True):
        step = steps.get(attestation.step_code)
        if step is None or not set(step.evidence) & keys:
            continue
        attestation_void(attestation, case=case, actor=actor, reason=reason, at=at)
        voided_phases.add(attestation.phase)
        voided += 1
    fields: list[str] = []
    if voided_phases & {"time_out", "localization", "sign_out"} and case.time_out_completed_at:
        case.time_out_completed_at = None
        fields.append("time_out_completed_at")
    if voided_phases & {"time_out", "localization", "sign_out"} and case.localization_passed_at:
        case.localization_passed_at = None
        fields.append("localization_passed_at")
    if fields:
        case.save(update_fields=fields)
    return voided


def _after_evidence_change(case: Case, *, actor: User, record: str, trigger: str) -> None:
    if record in EVIDENCE_BY_RECORD:
        _void_dependent(case, record=record, actor=actor, reason=f"{record.replace('_', ' ')} changed")
    before_state = case.state
    verdict_record(case=case, actor=actor, trigger=trigger)
    case_state_commit(case, actor=actor, before_state=before_state, evidence=True)


# --- plan --------------------------------------------------------------------------------------


@transaction.atomic
def plan_revise(
    *,
    actor: User,
    case: Case | int,
    procedure: str,
    levels: str,
    side: str,
    approach: str = "",
    notes: str = "",
    expected_version: int | None = None,
) -> PlanVersion:
    """Write a new plan version (the first, or a change to a signed one). A signed version is
    never edited; the new one must be signed again, and what depended on the old one is voided."""
    case = case_lock(case, expected_version=expected_version)
    require(actor, "plan.revise", case)
    if procedure != case.procedure:
        raise field_error(
            "procedure",
            f"The case is scheduled as {case.get_procedure_display()}; reschedule it to plan a different procedure.",
        )
    evidence = current_evidence(case)
    canonical = canonical_levels("levels", levels, procedure, anatomy_of(evidence.anatomy))
    structure = STRUCTURE_BY_PROCEDURE[procedure]
    if structure == "nerve_root" and side == "midline":
        raise field_error("side", "A nerve root is on one side: choose left, right or bilateral.")
    previous = evidence.plan
    at = now()
    plan = PlanVersion(
        case=case,
        number=(previous.number + 1) if previous else 1,
        procedure=procedure,
        structure=structure,
        levels=canonical,
        side=side,
        approach=approach,
        notes=notes,
        created_by=actor,
        created_at=at,
    )
    plan.full_clean()
    plan.save()
    if previous is not None:
        PlanVersion.objects.filter(pk=previous.pk).update(superseded_at=at)
        withdrawn = Localization.objects.filter(case=case, superseded_at__isnull=True)
        for localization in withdrawn:
            audit.append(
                action=AuditAction.LOCALIZATION_WITHDRAWN,
                actor=actor,
                case=case,
                obj=localization,
                reason=f"plan revised to version {plan.number}: re-image and confirm the level again",
            )
        withdrawn.update(superseded_at=at)
    audit.append(
        action=AuditAction.PLAN_REVISED if previous else AuditAction.PLAN_CREATED,
        actor=actor,
        case=case,
        obj=plan,
        before=_plan_json(previous) if previous else None,
        after=_plan_json(plan),
    )
    _after_evidence_change(case, actor=actor, record="plan", trigger=AuditAction.PLAN_REVISED)
    return plan


def _plan_json(plan: PlanVersion) -> dict[str, Any]:
    return {
        "version": plan.number,
        "procedure": plan.procedure,
        "levels": plan.levels,
        "side": plan.side,
        "approach": plan.approach,
        "notes": plan.notes,
        "signed": plan.signature_id is not None,
    }


# --- consent, marking, imaging, anatomy ------------------------------------------------------------


@transaction.atomic
def consent_record(
    *,
    actor: User,
    case: Case | int,
    procedure: str,
    levels: str,
    side: str,
    date_signed: date,
    witness: str,
    scan: UploadedFile | None = None,
    expected_version: int | None = None,
) -> Consent:
    case = case_lock(case, expected_version=expected_version)
    require(actor, "consent.record", case)
    evidence = current_evidence(case)
    anatomy = anatomy_of(evidence.anatomy)
    plan = evidence.plan
    if plan is not None and procedure != plan.procedure:
        canonical = _consent_levels_as_written(levels, (plan.procedure, procedure), anatomy)
    else:
        canonical = canonical_levels("levels", levels, procedure, anatomy)
    if date_signed > now().date():
        raise field_error("date_signed", "The consent cannot be signed in the future.")
    if not witness.strip():
        raise field_error("witness", "Name the witness to the patient's signature.")
    at = now()
    consent = Consent(
        case=case,
        procedure=procedure,
        levels=canonical,
        side=side,
        date_signed=date_signed,
        witness=witness.strip(),
        recorded_by=actor,
        recorded_at=at,
    )
    if scan is not None:
        if scan.size and scan.size > MAX_SCAN_BYTES:
            raise field_error("scan", SCAN_TOO_LARGE)
        kind = uploads.scan_kind(scan)
        if kind is None:
            raise field_error("scan", uploads.SCAN_TYPE_REFUSED)
        scan.name = uploads.scan_storage_name(kind[0])  # the original name may carry patient data
        digest = hashlib.sha256()
        for chunk in scan.chunks():
            digest.update(chunk)
        consent.scan_sha256 = digest.hexdigest()
        consent.scan = scan
    consent.full_clean()
    previous = _supersede(Consent, case, at)
    consent.save()
    audit.append(
        action=AuditAction.CONSENT_RECORDED,
        actor=actor,
        case=case,
        obj=consent,
        before=_consent_json(previous) if previous else None,
        after=_consent_json(consent),
    )
    _after_evidence_change(case, actor=actor, record="consent", trigger=AuditAction.CONSENT_RECORDED)
    return consent


def _consent_levels_as_written(levels: str, procedures: tuple[str, ...], anatomy: Anatomy) -> str:
    """A consent for another procedure than the plan's is recorded as the paper says (contract v2,
    rule 6): canonical when it reads in the plan's or its own procedure's structure, else as written;
    the level check then stops on it. Characters no level may hold are still refused."""
    try:
        check_level_characters(levels)
    except NotationError as exc:
        raise field_error("levels", "; ".join(exc.messages)) from exc
    for procedure in procedures:
        structure = STRUCTURE_BY_PROCEDURE.get(procedure)
        if structure is None:
            continue
        try:
            return format_units(parse_levels(levels, structure, anatomy))
        except NotationError:
            continue
    if not levels.strip():
        raise field_error("levels", "Write the level(s) as the consent form names them.")
    return levels.strip()


def _consent_json(consent: Consent) -> dict[str, Any]:
    return {
        "procedure": consent.procedure,
        "levels": consent.levels,
        "side": consent.side,
        "date_signed": consent.date_signed,
        "witness": consent.witness,
        "scan_sha256": consent.scan_sha256 or None,
    }


@transaction.atomic
def marking_record(
    *,
    actor: User,
    case: Case | int,
    region: str,
    side: str,
    marked_by: User,
    expected_version: int | None = None,
) -> SiteMarking:
    """The skin mark (region and side). Made by the surgeon who will operate, or a delegate who
    holds the surgeon role (Universal Protocol)."""
    case = case_lock(case, expected_version=expected_version)
    require(actor, "marking.record", case)
    allowed = (
        marked_by.pk == case.surgeon_id
        or case.co_surgeons.filter(pk=marked_by.pk).exists()
        or has_role(marked_by, roles.SURGEON)
    )
    if not allowed:
        raise field_error(
            "marked_by", f"{marked_by.full_name} may not mark the site: the surgeon or a surgical delegate must."
        )
    at = now()
    marking = SiteMarking(case=case, region=region, side=side, marked_by=marked_by, recorded_by=actor, recorded_at=at)
    marking.full_clean()
    previous = _supersede(SiteMarking, case, at)
    marking.save()
    audit.append(
        action=AuditAction.MARKING_RECORDED,
        actor=actor,
        case=case,
        obj=marking,
        before={"region": previous.region, "side": previous.side} if previous else None,
        after={"region": region, "side": side, "marked_by": marked_by.username},
    )
    _after_evidence_change(case, actor=actor, record="marking", trigger=AuditAction.MARKING_RECORDED)
    return marking


@transaction.atomic
def imaging_record(
    *,
    actor: User,
    case: Case | int,
    modality: str,
    study_date: date,
    levels: str,
    reviewed_by: User,
    expected_version: int | None = None,
) -> PreopImaging:
    case = case_lock(case, expected_version=expected_version)
    require(actor, "imaging.record", case)
    _require_reader(reviewed_by, "reviewed_by", "review the pre-op images")
    evidence = current_evidence(case)
    canonical = canonical_levels("levels", levels, case.procedure, anatomy_of(evidence.anatomy))
    if study_date > now().date():
        raise field_error("study_date", "The study date cannot be in the future.")
    at = now()
    imaging = PreopImaging(
        case=case,
        modality=modality,
        study_date=study_date,
        levels=canonical,
        reviewed_by=reviewed_by,
        recorded_by=actor,
        recorded_at=at,
    )
    imaging.full_clean()
    previous = _supersede(PreopImaging, case, at)
    imaging.save()
    audit.append(
        action=AuditAction.IMAGING_RECORDED,
        actor=actor,
        case=case,
        obj=imaging,
        before={"levels": previous.levels, "modality": previous.modality} if previous else None,
        after={
            "levels": canonical,
            "modality": modality,
            "study_date": study_date,
            "reviewed_by": reviewed_by.username,
        },
    )
    _after_evidence_change(case, actor=actor, record="preop_imaging", trigger=AuditAction.IMAGING_RECORDED)
    return imaging


@transaction.atomic
def anatomy_record(
    *,
    actor: User,
    case: Case | int,
    thoracic: int,
    lumbar: int,
    lowest_rib: str = "",
    lowest_mobile: str = "",
    source: str = "whole_spine",
    expected_version: int | None = None,
) -> AnatomyRecord:
    case = case_lock(case, expected_version=expected_version)
    require(actor, "anatomy.record", case)
    data = {"thoracic": thoracic, "lumbar": lumbar, "source": source}
    if lowest_rib:
        data["lowest_rib"] = lowest_rib
    if lowest_mobile:
        data["lowest_mobile"] = lowest_mobile
    try:
        anatomy = Anatomy.from_json(data)
    except LevelInputError as exc:
        raise ApplicationError("Invalid input.", errors=_anatomy_field_errors(exc)) from exc
    at = now()
    record = AnatomyRecord(
        case=case,
        thoracic=anatomy.thoracic,
        lumbar=anatomy.lumbar,
        lowest_rib=anatomy.lowest_rib,
        lowest_mobile=anatomy.lowest_mobile,
        source=anatomy.source,
        recorded_by=actor,
        recorded_at=at,
    )
    record.full_clean()
    previous = _supersede(AnatomyRecord, case, at)
    record.save()
    audit.append(
        action=AuditAction.ANATOMY_RECORDED,
        actor=actor,
        case=case,
        obj=record,
        before=anatomy_of(previous).to_json() if previous else None,
        after=anatomy.to_json(),
    )
    if previous is None or anatomy_of(previous) != anatomy:
        _supersede_counts_after_anatomy_change(case, actor=actor, at=at)
    _after_evidence_change(case, actor=actor, record="anatomy", trigger=AuditAction.ANATOMY_RECORDED)
    return record


ANATOMY_CHANGED_AFTER_COUNT = "anatomy changed after a count"


def _supersede_counts_after_anatomy_change(case: Case, *, actor: User, at: Any) -> None:
    """A new anatomy after a level image was read supersedes every count of the case (they must be
    read again against the new anatomy) and flags the case to the quality officers: anatomy is never
    edited until a miscount agrees (contract v2, workflow rules)."""
    counted = list(Localization.objects.filter(case=case, superseded_at__isnull=True).order_by("recorded_at", "id"))
    if not counted:
        return
    for previous in counted:
        audit.append(
            action=AuditAction.LOCALIZATION_SUPERSEDED,
            actor=actor,
            case=case,
            obj=previous,
            before={"reference": previous.reference, "count": previous.count, "label": previous.label},
            reason=f"{ANATOMY_CHANGED_AFTER_COUNT}: read the level image again",
        )
    Localization.objects.filter(pk__in=[x.pk for x in counted]).update(superseded_at=at)
    if case.anatomy_changed_after_count_at is None:
        case.anatomy_changed_after_count_at = at
        case.save(update_fields=["anatomy_changed_after_count_at"])
    audit.append(
        action=AuditAction.ANATOMY_CHANGED_AFTER_COUNT,
        actor=actor,
        case=case,
        obj=case,
        before={"counts_in_force": [f"{x.reference} {x.count} = {x.label}" for x in counted]},
        after={"counts_in_force": [], "flagged_at": at.isoformat()},
        reason=ANATOMY_CHANGED_AFTER_COUNT,
    )


def _anatomy_field_errors(exc: LevelInputError) -> dict[str, list[str]]:
    """Map the engine's 'anatomy.<field>: message' onto this form's fields."""
    out: dict[str, list[str]] = {}
    for messages in exc.errors.values():
        for message in messages:
            field = "non_field_errors"
            for name in ("thoracic", "lumbar", "lowest_rib", "lowest_mobile", "source"):
                if f"anatomy.{name}" in message:
                    field = name
                    break
            out.setdefault(field, []).append(message)
    return out


# --- localization --------------------------------------------------------------------------------


@transaction.atomic
def localization_record(
    *,
    actor: User,
    case: Case | int,
    phase: str,
    reference: str,
    count: int,
    label: str,
    marker_in_place: bool,
    read_by: User,
    durable_mark_placed: bool = False,
    side: str = "",
    expected_version: int | None = None,
    paper_time: datetime | None = None,
) -> Localization:
    """One read of the level image: reference, count, the label the team gave it, and whether
    the marker was still in place when it was read (MHA 2011).

    ``paper_time``: the read was written on the downtime paper at that time and is entered now
    (issue 18); its event says so. It goes through the level check like any other read.

    A read with the marker in place replaces the current reads from the same reference (they are
    marked superseded, never deleted): re-imaging after moving the marker, or recounting, is how a
    count that disagrees is resolved. A read after the marker was removed replaces nothing."""
    case = case_lock(case, expected_version=expected_version)
    require(actor, "localization.record", case)
    if paper_time is not None:
        paper_time = paper_time_check(case, paper_time, field="paper_time", current=now())
    _require_reader(read_by, "read_by", "read the level image")
    if case.time_out_completed_at is None:
        raise rule_error("Complete the time-out before recording the level image.")
    if count < 1:
        raise field_error("count", "The count starts at 1.")
    if side not in LOCALIZATION_SIDES:
        raise field_error("side", "The side on the image is left or right (or none when the view does not show it).")
    evidence = current_evidence(case)
    if evidence.plan is None:
        raise rule_error("There is no plan to localize against.")
    # A root is labelled by its vertebra or its foramen (contract v2, rule 2): read in the plan's structure.
    structure: Structure = STRUCTURE_BY_PROCEDURE.get(evidence.plan.procedure, "vertebra")
    try:
        unit = parse_unit(label, structure, anatomy_of(evidence.anatomy))
    except NotationError as exc:
        raise field_error("label", "; ".join(exc.messages) if getattr(exc, "messages", None) else str(exc)) from exc
    localization = Localization(
        case=case,
        phase=phase,
        reference=reference,
        count=count,
        label=unit.name,
        side=side,
        marker_in_place=marker_in_place,
        durable_mark_placed=durable_mark_placed,
        read_by=read_by,
        plan_version=evidence.plan,
        recorded_by=actor,
        recorded_at=now(),
    )
    localization.full_clean()
    if marker_in_place:
        replaced = Localization.objects.filter(
            case=case, reference=reference, marker_in_place=True, superseded_at__isnull=True
        )
        for previous in replaced:
            audit.append(
                action=AuditAction.LOCALIZATION_SUPERSEDED,
                actor=actor,
                case=case,
                obj=previous,
                before={"reference": previous.reference, "count": previous.count, "label": previous.label},
                reason=f"replaced by a new read from the {previous.get_reference_display().lower()}",
            )
        replaced.update(superseded_at=localization.recorded_at)
    localization.save()
    audit.append(
        action=AuditAction.LOCALIZATION_RECORDED,
        actor=actor,
        case=case,
        obj=localization,
        after={
            "phase": phase,
            "reference": reference,
            "count": count,
            "label": unit.name,
            "side": side,
            "marker_in_place": marker_in_place,
            "durable_mark_placed": durable_mark_placed,
            "read_by": read_by.username,
            "plan_version": evidence.plan.number,
            **({"source": DOWNTIME_PAPER, "acted_at": paper_time} if paper_time is not None else {}),
        },
    )
    _after_evidence_change(case, actor=actor, record="localization", trigger=AuditAction.LOCALIZATION_RECORDED)
    return localization


@transaction.atomic
def localization_mark_durable(
    *, actor: User, case: Case | int, localization_id: int, expected_version: int | None = None
) -> Localization:
    """The durable mark is placed at the imaged level, before the marker is removed."""
    case = case_lock(case, expected_version=expected_version)
    require(actor, "localization.mark_durable", case)
    localization = Localization.objects.filter(case=case, pk=localization_id, superseded_at__isnull=True).first()
    if localization is None:
        raise field_error("localization", "No current level image with that id in this case.")
    if not localization.marker_in_place:
        raise rule_error("That image was read after the marker was removed: re-image before placing the durable mark.")
    if localization.durable_mark_placed:
        raise rule_error("The durable mark is already recorded for that image.")
    localization.durable_mark_placed = True
    localization.version += 1
    localization.save(update_fields=["durable_mark_placed", "version"])
    audit.append(
        action=AuditAction.LOCALIZATION_DURABLE_MARK_PLACED,
        actor=actor,
        case=case,
        obj=localization,
        before={"durable_mark_placed": False},
        after={"durable_mark_placed": True},
    )
    case_touch(case)
    return localization


@transaction.atomic
def treated_levels_record(*, actor: User, case: Case | int, levels: str, expected_version: int | None = None) -> Case:
    """The levels actually treated, recorded at sign-out. Recorded as given; a difference from
    the plan is a stop (TREATED_LEVELS_MISMATCH) that sign-out cannot pass."""
    case = case_lock(case, expected_version=expected_version)
    require(actor, "treated_levels.record", case)
    if case.time_out_completed_at is None:
        raise rule_error("Levels treated are recorded at sign-out, after the time-out.")
    if AdverseEvent.objects.filter(case=case).exists():
        raise rule_error(
            "A wrong-level event is recorded for this case with the levels treated: they cannot be changed."
        )
    evidence = current_evidence(case)
    canonical = canonical_levels("levels", levels, case.procedure, anatomy_of(evidence.anatomy))
    before = case.treated_levels
    case.treated_levels = canonical
    if case.procedure_ended_at is None:
        case.procedure_ended_at = now()
    case.save(update_fields=["treated_levels", "procedure_ended_at"])
    audit.append(
        action=AuditAction.TREATED_LEVELS_RECORDED,
        actor=actor,
        case=case,
        obj=case,
        before={"treated_levels": before or None},
        after={"treated_levels": canonical},
    )
    _after_evidence_change(case, actor=actor, record="treated_levels", trigger=AuditAction.TREATED_LEVELS_RECORDED)
    return case
