"""Cases: scheduling, the patient entering the room, verdicts and near misses, the case state."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from checklist import audit
from checklist.access import roles
from checklist.access.policies import has_role, require, visible_cases
from checklist.audit.catalogue import AuditAction
from checklist.level_check import (
    TABLET_VERDICTS,
    CurrentEvidence,
    blocking_findings,
    findings_of,
    level_evaluate,
    no_evidence,
)
from checklist.models import (
    AdverseEvent,
    Case,
    CaseState,
    ChecklistRun,
    LevelVerdict,
    NearMiss,
    Patient,
    Procedure,
    Room,
    User,
)
from checklist.reminders.sync import reminders_sync
from checklist.selectors import StepStatus, case_in_room, phase_complete
from checklist.services.case_writes import case_lock, case_touch, now, rule_error
from checklist.templates_catalog import get_template
from checklist.wristband import gsrn_valid
from core.errors import ForbiddenError, field_error

NEAR_MISS_KIND_BY_CODE = {
    "CONSENT_MISMATCH": "consent",
    "MARKING_MISMATCH": "marking",
    "PREOP_IMAGING_MISMATCH": "imaging",
    "COUNT_LABEL_MISMATCH": "count",
    "LOCALIZATION_OUTSIDE_PLAN": "count",
    "SECOND_READ_MISMATCH": "count",
    "TREATED_LEVELS_MISMATCH": "treated_levels",
    "PLAN_SIGNATURE_INVALID": "signature",
    "EVIDENCE_INVALID": "evidence",
    "PATIENT_IDENTITY_MISMATCH": "identity",
}
ROOM_OCCUPIED = (
    "{room} already has a patient in the room: {family}, {given} (case {case}, {procedure}, scheduled "
    "{start:%H:%M}). Sign that case out or cancel it before the next patient comes in."
)
# Findings that are never "caught in time": the treatment has happened.
NOT_A_NEAR_MISS = frozenset({"TREATED_LEVELS_MISMATCH"})
KIND_PRIORITY = ("identity", "count", "consent", "marking", "imaging", "treated_levels", "signature", "evidence")

MRN_TAKEN = "MRN {mrn} belongs to a patient with a different name or date of birth: check the identifiers."
IDENTIFIERS_REFUSED = (
    "These patient identifiers cannot be used to schedule: check the MRN, name and date of birth "
    "against the wristband, or ask the charge nurse."
)


@transaction.atomic
def room_ensure(*, actor: User | None, name: str, staff: Iterable[User] = ()) -> tuple[Room, bool]:
    """Create the room if absent and make sure ``staff`` are assigned to it (never removes anyone).
    Audited on the system chain; a call that changes nothing writes nothing. Administrators only
    (``actor`` None is the system, e.g. a migration)."""
    if actor is not None and not has_role(actor, roles.ADMIN):
        raise ForbiddenError("Only an administrator configures rooms.")
    staff = list(staff)
    name = name.strip()
    if not name:
        raise field_error("name", "Name the room.")
    room, created = Room.objects.get_or_create(name=name)
    if created:
        audit.append(action=AuditAction.ROOM_CREATED, actor=actor, obj=room, after={"name": room.name})
    present = dict(room.staff.values_list("pk", "username"))
    added = sorted({u.username for u in staff if u.pk not in present})
    if added:
        room.staff.add(*[u for u in staff if u.pk not in present])
        for user in staff:
            user.access_forget()
        audit.append(
            action=AuditAction.ROOM_STAFF_ADDED,
            actor=actor,
            obj=room,
            before={"staff": sorted(present.values())},
            after={"staff": sorted([*present.values(), *added]), "added": added},
        )
    return room, created


@transaction.atomic
def case_schedule(
    *,
    actor: User,
    mrn: str,
    family_name: str,
    given_name: str,
    date_of_birth: date,
    room: Room,
    scheduled_start: datetime,
    surgeon: User,
    procedure: str,
    anesthesia: User | None = None,
    co_surgeons: list[User] | None = None,
) -> Case:
    """Schedule a case (and register the patient on first sight). Pins the checklist template."""
    require(actor, "case.schedule")
    if procedure not in Procedure.values:
        raise field_error("procedure", f"Unknown procedure {procedure!r}.")
    if not has_role(surgeon, roles.SURGEON):
        raise field_error("surgeon", f"{surgeon.full_name} is not a surgeon.")
    if anesthesia is not None and not has_role(anesthesia, roles.ANESTHESIA):
        raise field_error("anesthesia", f"{anesthesia.full_name} is not in the anesthesia role.")
    acting_as_nurse = has_role(actor, roles.NURSE) and not has_role(actor, roles.ADMIN)
    if acting_as_nurse and not room.staff.filter(pk=actor.pk).exists():
        raise field_error("room", f"You are not assigned to room {room.name}.")

    patient = Patient.objects.select_for_update().filter(mrn=mrn).first()
    if patient is None:
        patient = Patient(mrn=mrn, family_name=family_name, given_name=given_name, date_of_birth=date_of_birth)
        # No unique-MRN read: the read just above found none, and the unique constraint still
        # refuses a patient registered by another transaction meanwhile.
        patient.full_clean(validate_unique=False)
        patient.save()
        audit.append(action=AuditAction.PATIENT_REGISTERED, actor=actor, obj=patient, after=_patient_json(patient))
    elif (patient.family_name, patient.given_name, patient.date_of_birth) != (family_name, given_name, date_of_birth):
        # Only someone who may already see this patient learns that the MRN is taken; to anyone
        # else the answer must not confirm that a patient with this MRN exists.
        if visible_cases(actor).filter(patient=patient).exists():
            raise field_error("mrn", MRN_TAKEN.format(mrn=mrn))
        raise field_error("mrn", IDENTIFIERS_REFUSED)

    case = Case(
        patient=patient,
        room=room,
        scheduled_start=scheduled_start,
        surgeon=surgeon,
        anesthesia=anesthesia,
        procedure=procedure,
    )
    # The patient, room and people are rows read or written just above: no read of each to check
    # that it exists (the foreign keys still hold them in the database).
    saved = {"patient": patient, "room": room, "surgeon": surgeon, "anesthesia": anesthesia}
    case.full_clean(exclude=[name for name, row in saved.items() if row is not None and row.pk is not None])
    case.save()
    if co_surgeons:
        case.co_surgeons.set(co_surgeons)
    audit.chain_head_create(audit.case_chain(case.pk), new=True)
    template = get_template(procedure)
    run = ChecklistRun.objects.create(
        case=case,
        template_code=template.code,
        template_version=template.version,
        started_at=now(),
        started_by=actor,
    )
    audit.append(
        action=AuditAction.CASE_SCHEDULED,
        actor=actor,
        case=case,
        obj=case,
        after={
            "patient_mrn": patient.mrn,
            "room": room.name,
            "scheduled_start": scheduled_start,
            "surgeon": surgeon.username,
            "anesthesia": anesthesia.username if anesthesia else None,
            "co_surgeons": sorted(u.username for u in co_surgeons or []),
            "procedure": procedure,
            "checklist_template": f"{run.template_code} v{run.template_version}",
        },
    )
    # The case was created just above: no evidence can point at it yet (six reads saved).
    verdict_record(case=case, actor=actor, trigger=AuditAction.CASE_SCHEDULED, evidence=no_evidence())
    reminders_sync(case, new=True)
    return case


def _patient_json(patient: Patient) -> dict[str, Any]:
    return {
        "mrn": patient.mrn,
        "family_name": patient.family_name,
        "given_name": patient.given_name,
        "date_of_birth": patient.date_of_birth,
    }


@transaction.atomic
def case_patient_in_room(*, actor: User, case: Case | int, expected_version: int | None = None) -> Case:
    case = case_lock(case, expected_version=expected_version)
    require(actor, "case.patient_in_room", case)
    if case.patient_in_room_at is not None:
        raise rule_error("The patient is already recorded as in the room.")
    # One patient in the room: the room row lock serializes two devices sending two patients in.
    Room.objects.select_for_update().filter(pk=case.room_id).first()
    occupant = case_in_room(room_id=case.room_id, exclude=case.pk)
    if occupant is not None:
        raise rule_error(
            ROOM_OCCUPIED.format(
                room=case.room.name,
                family=occupant.patient.family_name.upper(),
                given=occupant.patient.given_name,
                case=occupant.pk,
                procedure=occupant.get_procedure_display(),
                start=timezone.localtime(occupant.scheduled_start),
            )
        )
    case.patient_in_room_at = now()
    before = case.state
    case_state_recompute(case)
    case_touch(case, fields=("patient_in_room_at", "state"))
    audit.append(
        action=AuditAction.CASE_PATIENT_IN_ROOM,
        actor=actor,
        case=case,
        obj=case,
        before={"state": before},
        after={"state": case.state, "patient_in_room_at": case.patient_in_room_at},
    )
    return case


def case_state_commit(
    case: Case,
    *,
    actor: User | None,
    before_state: str,
    evidence: bool = False,
    status: list[StepStatus] | None = None,
) -> None:
    """Derive the state, bump the versions (and reconcile reminders), and audit a state change.
    ``status``: the case's current checklist status, when the caller has it up to date."""
    case_state_recompute(case, status)
    case_touch(case, evidence=evidence, fields=("state",))
    if case.state != before_state:
        audit.append(
            action=AuditAction.CASE_STATE_CHANGED,
            actor=actor,
            case=case,
            obj=case,
            before={"state": before_state},
            after={"state": case.state},
        )


def case_state_recompute(case: Case, status: list[StepStatus] | None = None) -> None:
    """Derive the state from the facts recorded (no save; the caller saves)."""
    if case.state == CaseState.CANCELLED:
        return
    if case.signed_out_at:
        wrong_level = AdverseEvent.objects.filter(case=case).exists()
        case.state = CaseState.COMPLETED_WRONG_LEVEL if wrong_level else CaseState.COMPLETED
    elif case.localization_passed_at:
        case.state = CaseState.SIGN_OUT
    elif case.time_out_completed_at:
        case.state = CaseState.LOCALIZATION
    elif case.patient_in_room_at and phase_complete(case, "sign_in", status):
        case.state = CaseState.TIME_OUT
    elif case.patient_in_room_at:
        case.state = CaseState.SIGN_IN
    else:
        case.state = CaseState.SCHEDULED


@transaction.atomic
def offline_verdict_reconcile(*, actor: User, case: Case | int, tablet_verdict: str) -> bool:
    """A write a tablet kept offline has just been applied (same transaction): compare the verdict
    the tablet showed for it (levelverify.verdict.judge_offline) with the server's on the same
    evidence. If they differ, the trail says so (OFFLINE_VERDICT_DIFFERED, with both) and the case
    stops on every device until evidence is recorded again (level_check.offline_mismatch_finding).
    Returns whether they differed. An unknown verdict word is a 400."""
    if tablet_verdict not in TABLET_VERDICTS:
        raise field_error("X-Tablet-Verdict", f"Say pass, stop or incomplete, not {tablet_verdict[:20]!r}.")
    case = case_lock(case)
    server = case.verdict
    if server == tablet_verdict:
        return False
    audit.append(
        action=AuditAction.OFFLINE_VERDICT_DIFFERED,
        actor=actor,
        case=case,
        obj=case.latest_verdict,
        after={"tablet": tablet_verdict, "server": server},
    )
    before_state = case.state
    verdict_record(case=case, actor=actor, trigger=AuditAction.OFFLINE_VERDICT_DIFFERED)
    case_state_commit(case, actor=actor, before_state=before_state, evidence=True)
    return True


def verdict_record(
    *, case: Case, actor: User | None, trigger: str, evidence: CurrentEvidence | None = None
) -> LevelVerdict:
    """Re-run the level check, store the verdict the workflow acts on, and turn a resolved stop
    into a near miss. Called inside the transaction of the change that triggered it."""
    request, result = level_evaluate(case, evidence)
    previous = case.latest_verdict
    verdict = LevelVerdict.objects.create(
        case=case,
        computed_at=now(),
        stage=result["stage"],
        verdict=result["verdict"],
        findings=result["findings"],
        request=request,
        evidence_version=case.evidence_version,
        trigger=trigger,
        triggered_by=actor,
    )
    before = previous.verdict if previous else None
    case.latest_verdict = verdict
    case.verdict = verdict.verdict
    fields = ["latest_verdict", "verdict"]
    if verdict.verdict == "stop" and case.open_stop_verdict_id is None:
        case.open_stop_verdict = verdict
        fields.append("open_stop_verdict")
    elif verdict.verdict != "stop" and case.open_stop_verdict_id is not None:
        near_miss = _near_miss_record(
            case=case, stop=case.open_stop_verdict, resolving=verdict, actor=actor, trigger=trigger
        )
        case.open_stop_verdict = None
        fields.append("open_stop_verdict")
        if near_miss is not None:
            audit.append(
                action=AuditAction.NEAR_MISS_RECORDED,
                actor=actor,
                case=case,
                obj=near_miss,
                after={"kind": near_miss.kind, "codes": near_miss.codes, "resolution": near_miss.resolution},
            )
    case.save(update_fields=fields)
    if before != verdict.verdict or trigger == AuditAction.CASE_SCHEDULED:
        audit.append(
            action=AuditAction.LEVEL_CHECK_VERDICT,
            actor=actor,
            case=case,
            obj=verdict,
            before={"verdict": before},
            after={
                "verdict": verdict.verdict,
                "stage": verdict.stage,
                "codes": sorted({f["code"] for f in blocking_findings(verdict.findings)}),
                "trigger": trigger,
            },
        )
    return verdict


def _near_miss_record(
    *, case: Case, stop: LevelVerdict | None, resolving: LevelVerdict, actor: User | None, trigger: str
) -> NearMiss | None:
    """The near miss of a resolved stop, or None when the stop was only a treated-levels mismatch:
    what was treated is no error caught in time (a real one is a wrong-level adverse event)."""
    assert stop is not None
    # Every stop finding seen while the stop was open (a second disagreement may have joined the
    # first before both were resolved), each code once, in the order first seen.
    stop_findings: list[dict[str, Any]] = []
    seen: set[str] = set()
    episode = LevelVerdict.objects.filter(case=case, verdict="stop", pk__gte=stop.pk).order_by("pk")
    for verdict in episode:
        for finding in findings_of(verdict.findings, "stop"):
            if finding["code"] not in seen | NOT_A_NEAR_MISS:
                seen.add(finding["code"])
                stop_findings.append(finding)
    codes = sorted(seen)
    if not codes:
        return None
    kinds = {NEAR_MISS_KIND_BY_CODE.get(code, "evidence") for code in codes}
    kind = next((k for k in KIND_PRIORITY if k in kinds), "evidence")
    caught_by = stop.triggered_by or actor
    resolved_by = actor or stop.triggered_by
    if caught_by is None or resolved_by is None:
        raise RuntimeError("a near miss needs a person who caught and one who resolved it")
    return NearMiss.objects.create(
        case=case,
        codes=codes,
        kind=kind,
        findings=stop_findings,
        stop_verdict=stop,
        resolving_verdict=resolving,
        caught_by=caught_by,
        caught_at=stop.computed_at,
        resolved_by=resolved_by,
        resolved_at=resolving.computed_at,
        resolution=f"Resolved by new evidence: {trigger.replace('.', ' ').replace('_', ' ')}",
    )


NOT_SCHEDULED_ANY_MORE = "The case is {state}: only a scheduled case is moved or cancelled by the schedule."


@transaction.atomic
def case_reschedule(
    *,
    actor: User,
    case: Case | int,
    scheduled_start: datetime,
    room: Room | None = None,
    surgeon: User | None = None,
    detail: dict[str, Any] | None = None,
) -> Case:
    """The hospital's schedule moved a scheduled case: a new start, and a new room or surgeon when
    given. Audited on the case's chain (``detail``: where the change came from); its reminders follow."""
    require(actor, "case.schedule")
    locked = case_lock(case)
    if locked.state != CaseState.SCHEDULED:
        raise rule_error(NOT_SCHEDULED_ANY_MORE.format(state=locked.get_state_display().lower()))
    if surgeon is not None and not has_role(surgeon, roles.SURGEON):
        raise field_error("surgeon", f"{surgeon.full_name} is not a surgeon.")
    before = {"scheduled_start": locked.scheduled_start, "room": locked.room.name, "surgeon_id": locked.surgeon_id}
    fields = ["scheduled_start"]
    locked.scheduled_start = scheduled_start
    if room is not None and room.pk != locked.room_id:
        locked.room = room
        fields.append("room")
    if surgeon is not None and surgeon.pk != locked.surgeon_id:
        locked.surgeon = surgeon
        fields.append("surgeon")
    case_touch(locked, fields=tuple(fields))
    audit.append(
        action=AuditAction.CASE_RESCHEDULED,
        actor=actor,
        case=locked,
        obj=locked,
        before=before,
        after={
            "scheduled_start": locked.scheduled_start,
            "room": locked.room.name,
            "surgeon_id": locked.surgeon_id,
            **(detail or {}),
        },
    )
    return locked


@transaction.atomic
def case_cancel(*, actor: User, case: Case | int, reason: str, detail: dict[str, Any] | None = None) -> Case:
    """Cancel a scheduled case (never deleted: it shows as cancelled, with its trail). Audited on
    the case's chain; its pending reminders are cancelled."""
    require(actor, "case.schedule")
    locked = case_lock(case)
    if locked.state != CaseState.SCHEDULED:
        raise rule_error(NOT_SCHEDULED_ANY_MORE.format(state=locked.get_state_display().lower()))
    before_state = locked.state
    locked.state = CaseState.CANCELLED
    case_touch(locked, fields=("state",))
    audit.append(
        action=AuditAction.CASE_CANCELLED,
        actor=actor,
        case=locked,
        obj=locked,
        before={"state": before_state},
        after={"state": locked.state, "reason": reason[:200], **(detail or {})},
    )
    return locked


PATIENT_FIELDS = ("family_name", "given_name", "date_of_birth")


def _patient_identity(patient: Patient) -> dict[str, Any]:
    return {name: getattr(patient, name) for name in PATIENT_FIELDS}


@transaction.atomic
def patient_update(
    *,
    actor: User,
    mrn: str,
    family_name: str,
    given_name: str,
    date_of_birth: date,
    detail: dict[str, Any] | None = None,
) -> Patient | None:
    """The hospital corrected a patient's name or date of birth. Audited on the system chain and on
    the chain of each of the patient's cases not cancelled. None: no patient with this MRN here;
    a call that changes nothing writes nothing."""
    require(actor, "case.schedule")
    patient = Patient.objects.select_for_update().filter(mrn=mrn).first()
    if patient is None:
        return None
    before = _patient_identity(patient)
    patient.family_name, patient.given_name, patient.date_of_birth = family_name, given_name, date_of_birth
    after = _patient_identity(patient)
    if before == after:
        return patient
    patient.full_clean()
    patient.save(update_fields=list(PATIENT_FIELDS))
    after = {**after, **(detail or {})}
    audit.append(action=AuditAction.PATIENT_UPDATED, actor=actor, obj=patient, before=before, after=after)
    for open_case in Case.objects.filter(patient=patient).exclude(state=CaseState.CANCELLED).order_by("pk"):
        audit.append(
            action=AuditAction.PATIENT_UPDATED, actor=actor, case=open_case, obj=patient, before=before, after=after
        )
    return patient


GSRN_TAKEN = "GSRN {gsrn} is already recorded for another patient: check the identifiers."


@transaction.atomic
def patient_gsrn_record(*, actor: User, mrn: str, gsrn: str, detail: dict[str, Any] | None = None) -> Patient | None:
    """Record the GS1 GSRN (AI 8018) the hospital prints on this patient's wristband, as its ADT or
    SIU message sent it (PID-3, identifier type GSRN). Audited on the system chain and each open case
    of the patient. None: no patient with this MRN; a GSRN already recorded writes nothing."""
    require(actor, "case.schedule")
    if not gsrn_valid(gsrn):
        raise field_error("gsrn", f"{gsrn!r} is not a GSRN: 18 digits with a GS1 check digit.")
    patient = Patient.objects.select_for_update().filter(mrn=mrn).first()
    if patient is None or patient.gsrn == gsrn:
        return patient
    if Patient.objects.filter(gsrn=gsrn).exclude(pk=patient.pk).exists():
        raise field_error("gsrn", GSRN_TAKEN.format(gsrn=gsrn))
    before = {"gsrn": patient.gsrn}
    patient.gsrn = gsrn
    patient.save(update_fields=["gsrn"])
    after = {"gsrn": gsrn, **(detail or {})}
    audit.append(action=AuditAction.PATIENT_UPDATED, actor=actor, obj=patient, before=before, after=after)
    for open_case in Case.objects.filter(patient=patient).exclude(state=CaseState.CANCELLED).order_by("pk"):
        audit.append(
            action=AuditAction.PATIENT_UPDATED, actor=actor, case=open_case, obj=patient, before=before, after=after
        )
    return patient


@transaction.atomic
def patient_merge(
    *,
    actor: User,
    prior_mrn: str,
    mrn: str,
    family_name: str,
    given_name: str,
    date_of_birth: date,
    detail: dict[str, Any] | None = None,
) -> tuple[Patient, list[Case]] | None:
    """The hospital merged the record ``prior_mrn`` into ``mrn``: every case of the prior patient
    moves to the surviving one (registered if never seen here). The prior patient's row stays (the
    history of its cases names it). Audited on each moved case's chain and the system chain. None:
    no patient with the prior MRN here."""
    require(actor, "case.schedule")
    prior = Patient.objects.select_for_update().filter(mrn=prior_mrn).first()
    if prior is None:
        return None
    surviving = Patient.objects.select_for_update().filter(mrn=mrn).first()
    if surviving is None:
        surviving = Patient(mrn=mrn, family_name=family_name, given_name=given_name, date_of_birth=date_of_birth)
        surviving.full_clean()
        surviving.save()
        audit.append(
            action=AuditAction.PATIENT_REGISTERED, actor=actor, obj=surviving,
            after={**_patient_json(surviving), **(detail or {})},
        )  # fmt: skip
    moved = {"prior_mrn": prior.mrn, "surviving_mrn": surviving.mrn, **(detail or {})}
    cases = list(Case.objects.select_for_update(of=("self",)).filter(patient=prior).order_by("pk"))
    for moving in cases:
        moving.patient = surviving
        moving.reminder_inputs_at_lock = None
        case_touch(moving, fields=("patient",))
        audit.append(
            action=AuditAction.PATIENT_MERGED,
            actor=actor,
            case=moving,
            obj=moving,
            before={"patient_mrn": prior.mrn},
            after={**moved, "patient_mrn": surviving.mrn},
        )
    audit.append(
        action=AuditAction.PATIENT_MERGED, actor=actor, obj=surviving, after={**moved, "cases": [c.pk for c in cases]}
    )
    return surviving, cases
