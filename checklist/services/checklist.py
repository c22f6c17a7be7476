"""Checklist phases: step attestations, time-out completion, localization passing, sign-out.

The order is enforced (21 CFR 11.10(f)): sign-in steps once the patient is in the room; time-out
steps once sign-in is complete; localization steps once the time-out is complete; sign-out steps
once localization has passed. No step can be attested while the level check is stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from checklist import audit
from checklist.access.policies import require, user_roles
from checklist.audit.catalogue import AuditAction
from checklist.level_check import blocking_findings, current_evidence, findings_of
from checklist.models import DOWNTIME_PAPER, Case, IdentityScan, PlanVersion, StepAttestation, User
from checklist.selectors import (
    GATE_LOCALIZATION,
    GATE_PATIENT_IN_ROOM,
    GATE_SIGN_IN,
    GATE_TIME_OUT,
    StepStatus,
    attester_of,
    checklist_status,
    checklist_template,
    phase_complete,
    phase_gate,
    phase_opened_at,
    phase_steps_missing,
    wrong_level_acknowledged,
)
from checklist.services.case_writes import case_lock, case_state_summary, case_touch, now, rule_error
from checklist.services.cases import case_state_commit, case_state_recompute, verdict_record
from checklist.templates_catalog import PHASE_LABELS, StepTemplate
from core.errors import ConflictError, ForbiddenError, field_error

# Evidence key -> findings that mean it is missing or disagreeing.
BLOCKING_FINDINGS = {
    "plan_signed": {"PLAN_MISSING", "PLAN_NOT_SIGNED", "PLAN_SIGNATURE_INVALID"},
    "consent": {"CONSENT_MISSING", "CONSENT_MISMATCH"},
    "marking": {"MARKING_MISSING", "MARKING_MISMATCH"},
    "preop_imaging": {"PREOP_IMAGING_MISSING", "PREOP_IMAGING_MISMATCH"},
    "anatomy": {"ANATOMY_MISSING", "EVIDENCE_INVALID"},
    "localization": {
        "LOCALIZATION_MISSING",
        "SECOND_REFERENCE_REQUIRED",
        "COUNT_LABEL_MISMATCH",
        "LOCALIZATION_OUTSIDE_PLAN",
        "SECOND_READ_REQUIRED",
        "SECOND_READ_MISMATCH",
    },
    "durable_mark": set(),
    "treated_levels": {"TREATED_LEVELS_MISMATCH"},
}
STOPPED = "The level check is STOPPED: {messages} Resolve it with new evidence before attesting anything."
ALREADY_ATTESTED = "{name} already attested this step as {role} at {at:%H:%M:%S}."
ONE_PERSON_ONE_ROLE = (
    "You already attested this step as {other}: a step that needs several roles needs several people. "
    "Another {role} attests it."
)


NOT_SHOWN = (
    "The {phase} was not open when this page was shown: nothing was attested. Look at the {phase} card "
    "and tap its own button."
)
TOO_SOON = (
    "This {phase} button had only just appeared (a second tap?): nothing was attested. Tap it again "
    "if you mean to attest the {phase}."
)
SCAN_REQUIRED = "'{text}' is attested by scanning the patient's wristband, not by a tick: scan it in the sign-in card."
PHASE_WORDS = {"sign_in": "sign-in", "time_out": "time-out", "localization": "localization", "sign_out": "sign-out"}


def phase_shown_check(case: Case, phase: str, shown_at: datetime) -> None:
    """The control was rendered for this phase while the phase was open, long enough ago."""
    words = PHASE_WORDS.get(phase, phase)
    opened = phase_opened_at(case, phase)
    if opened is None or opened > shown_at:
        raise rule_error(NOT_SHOWN.format(phase=words))
    if now() - shown_at < timedelta(seconds=settings.RIGHTLEVEL_ATTEST_GUARD_SECONDS):
        raise rule_error(TOO_SOON.format(phase=words))


def _findings(case: Case) -> list[dict[str, Any]]:
    return list(case.latest_verdict.findings) if case.latest_verdict else []


# Why steps of a phase cannot be attested yet (see selectors.phase_gate), as the error says it.
GATE_ERRORS = {
    GATE_PATIENT_IN_ROOM: "Record that the patient is in the room first.",
    GATE_SIGN_IN: "Finish the sign-in before the time-out.",
    GATE_TIME_OUT: "Complete the time-out before the localization steps.",
    GATE_LOCALIZATION: "The localization must pass before sign-out.",
}


def _phase_gate_error(case: Case, phase: str, status: list[StepStatus] | None = None) -> str | None:
    gate = phase_gate(case, phase, status)
    return GATE_ERRORS[gate] if gate else None


def _evidence_problem(case: Case, step: StepTemplate) -> str | None:
    verdict = case.latest_verdict
    findings = verdict.findings if verdict else []
    for key in step.evidence:
        blocking = [f for f in findings if f["code"] in BLOCKING_FINDINGS.get(key, set())]
        if key == "treated_levels" and blocking and wrong_level_acknowledged(case):
            blocking = []  # recorded as treated, with its signed adverse event: sign-out goes on
        if blocking:
            return " ".join(f["message"] for f in blocking)
        if key == "durable_mark" and not any(x.durable_mark_placed for x in current_evidence(case).localizations):
            return "No durable mark has been recorded at the imaged level."
        if key == "localization" and not any(x.marker_in_place for x in current_evidence(case).localizations):
            return "No level image has been read with the marker in place."
        if key == "treated_levels" and not case.treated_levels:
            return "Record the levels treated first."
    return None


@dataclass(frozen=True)
class PaperRecord:
    """A step done on the downtime paper: the time written on the paper and who entered it."""

    paper_time: datetime
    entered_by: User


@transaction.atomic
def step_attest(
    *,
    actor: User,
    case: Case | int,
    step_code: str,
    role: str | None = None,
    expected_version: int | None = None,
    shown_at: datetime | None = None,
    scan: IdentityScan | None = None,
) -> StepAttestation:
    """``actor`` attests one checklist step under one of their roles. ``shown_at``: when the
    tablet rendered the control (see phase_shown_check). ``scan``: the matching wristband scan,
    for the role that attests a step by scanning (services.identity passes it; a tick cannot)."""
    case = case_lock(case, expected_version=expected_version)
    require(actor, "step.attest", case)
    return step_attest_locked(case=case, attester=actor, step_code=step_code, role=role, shown_at=shown_at, scan=scan)


def step_attest_locked(
    *,
    case: Case,
    attester: User,
    step_code: str,
    role: str | None = None,
    shown_at: datetime | None = None,
    paper: PaperRecord | None = None,
    scan: IdentityScan | None = None,
) -> StepAttestation:
    """The attestation rules and the write, for a case already locked in this transaction whose
    ``attester`` may attest it. With ``paper``, the attestation was made on the downtime paper:
    the same rules hold (the phase order, the stop, the evidence), and the record and its event
    carry the source, the paper's time and who entered it. A step attested by a wristband scan
    needs the matching ``scan``, except from the paper (the wristband was checked by hand then)."""
    template = checklist_template(case)
    try:
        step = template.step(step_code)
    except KeyError:
        raise field_error("step", f"No step {step_code!r} in the {template.title} checklist.") from None
    held = user_roles(attester)
    candidates = [r for r in step.roles if r in held] if role is None else [role]
    if role is not None and role not in held:
        raise ForbiddenError(f"{_who(attester, paper)} not hold the {role} role.")
    if not candidates or candidates[0] not in step.roles:
        raise ForbiddenError(f"This step is attested by: {', '.join(step.roles)}.")
    acting = candidates[0]
    scanned = scan is not None and scan.matched and scan.case_id == case.pk
    if step.attested_by_scan(acting) and paper is None and not scanned:
        raise rule_error(SCAN_REQUIRED.format(text=step.text), field="step")
    status = checklist_status(case)
    current = next((s for s in status if s.code == step.code), None)
    if current is None:
        raise rule_error("This step does not apply to this case.", field="step")
    other = next(
        (r for r, who in current.attested_by.items() if r != acting and who["user"] == attester.username), None
    )
    if other is not None:
        message = ONE_PERSON_ONE_ROLE.format(other=other, role=acting)
        if paper is not None:
            message = message.replace("You already", f"{attester.full_name or attester.username} already")
        raise rule_error(message)
    gate = _phase_gate_error(case, step.phase, status)
    if gate:
        raise rule_error(gate)
    if shown_at is not None:
        phase_shown_check(case, step.phase, shown_at)
    if case.verdict == "stop" and not (step.phase == "sign_out" and wrong_level_acknowledged(case)):
        messages = " ".join(f["message"] for f in findings_of(_findings(case), "stop"))
        raise rule_error(STOPPED.format(messages=messages))
    problem = _evidence_problem(case, step)
    if problem:
        raise rule_error(f"Cannot attest '{step.text}' yet: {problem}")
    existing = current.attested_by.get(acting)  # read under the case lock: no other device can add one now
    if existing is not None:
        raise ConflictError(
            ALREADY_ATTESTED.format(name=existing["name"], role=acting, at=existing["at"]),
            extra={"current": case_state_summary(case)},
        )
    plan = PlanVersion.objects.filter(case=case).order_by("-number").first()  # the plan in force
    try:
        with transaction.atomic():
            attestation = StepAttestation.objects.create(
                run=case.checklist_run,
                step_code=step.code,
                phase=step.phase,
                role=acting,
                user=attester,
                attested_at=now(),
                evidence_version=case.evidence_version,
                plan_version=plan,
                recorded_from_paper=paper is not None,
                paper_time=paper.paper_time if paper else None,
                entered_by=paper.entered_by if paper else None,
            )
    except IntegrityError as exc:  # the partial unique index: a concurrent twin got there first
        raise ConflictError(
            "This step was just attested on another device.", extra={"current": case_state_summary(case)}
        ) from exc
    after: dict[str, Any] = {
        "step": step.code,
        "phase": step.phase,
        "role": acting,
        "text": step.text,
        "evidence_version": case.evidence_version,
    }
    if scan is not None:
        after["wristband_scan"] = scan.pk
    if paper is not None:
        after |= {
            "source": DOWNTIME_PAPER,
            "acted_at": paper.paper_time,
            "entered_at": attestation.attested_at,
            "attested_by": attester.username,
            "attested_by_name": attester.full_name,
        }
    audit.append(
        action=AuditAction.STEP_ATTESTED,
        actor=paper.entered_by if paper else attester,
        case=case,
        obj=attestation,
        after=after,
    )
    # The status read above, with this attestation in it: the state is derived from it.
    current.attested_by[acting] = attester_of(attestation)
    before_state = case.state
    actor = paper.entered_by if paper else attester
    localization_pass_check(case, actor=actor, status=status)
    case_state_commit(case, actor=actor, before_state=before_state, status=status)
    return attestation


def _who(user: User, paper: PaperRecord | None) -> str:
    return "You do" if paper is None else f"{user.full_name or user.username} does"


def localization_pass_check(case: Case, *, actor: User, status: list[StepStatus] | None = None) -> bool:
    """Localization passes when the level check passes at the localization stage, the surgeon has
    confirmed the level, and every localization step is attested. Sets localization_passed_at."""
    if case.time_out_completed_at is None or case.localization_passed_at is not None:
        return case.localization_passed_at is not None
    if case.verdict != "pass" or not phase_complete(case, "localization", status):
        return False
    if not any(x.confirmed_signature_id for x in current_evidence(case).localizations):
        return False
    case.localization_passed_at = now()
    case.save(update_fields=["localization_passed_at"])
    audit.append(
        action=AuditAction.LOCALIZATION_PASSED,
        actor=actor,
        case=case,
        obj=case,
        after={"localization_passed_at": case.localization_passed_at},
    )
    return True


@transaction.atomic
def time_out_complete(*, actor: User, case: Case | int, expected_version: int | None = None) -> Case:
    """Close the time-out: every time-out step attested by every role it names, and the level
    check passes. The level check then moves to the localization stage."""
    case = case_lock(case, expected_version=expected_version)
    require(actor, "time_out.complete", case)
    if case.time_out_completed_at is not None:
        raise rule_error("The time-out is already complete.")
    gate = _phase_gate_error(case, "time_out")
    if gate:
        raise rule_error(gate)
    steps = phase_steps_missing(checklist_status(case), "time_out")
    missing = [f"{step.text} ({', '.join(step.missing_roles)})" for step in steps]
    if missing:
        raise rule_error("Still to attest: " + "; ".join(missing))
    verdict = verdict_record(case=case, actor=actor, trigger="time_out.complete")
    if verdict.verdict != "pass":
        reasons = " ".join(f["message"] for f in blocking_findings(verdict.findings))
        raise rule_error(f"The level check does not pass: {reasons}")
    case.time_out_completed_at = now()
    case.save(update_fields=["time_out_completed_at"])
    audit.append(
        action=AuditAction.TIME_OUT_COMPLETED,
        actor=actor,
        case=case,
        obj=case,
        after={"time_out_completed_at": case.time_out_completed_at, "phase": PHASE_LABELS["time_out"]},
    )
    # The check now runs at the localization stage (an image with the marker in place is needed).
    verdict_record(case=case, actor=actor, trigger=AuditAction.TIME_OUT_COMPLETED)
    case_state_commit(case, actor=actor, before_state=case.state, evidence=True)
    return case


@transaction.atomic
def phase_attest_mine(
    *,
    actor: User,
    case: Case | int,
    phase: str,
    role: str,
    expected_version: int | None = None,
    shown_at: datetime | None = None,
) -> list[StepAttestation]:
    """Attest, under ``role``, every applicable step of ``phase`` still waiting for that role.
    All or nothing: if one step cannot be attested (evidence missing, a stop), none is, and the
    error names that step. Each attestation is its own audited event.

    ``shown_at``: when the tablet rendered the control for this phase (from its signed form). The
    phase must have been open then and the control on screen for the guard interval. A repeat of
    an attestation already made (a double submit) attests nothing and returns an empty list."""
    case_id = case.pk if isinstance(case, Case) else case
    case_obj = Case.objects.select_related("room", "checklist_run").get(pk=case_id)
    require(actor, "step.attest", case_obj)
    if shown_at is not None:
        phase_shown_check(case_obj, phase, shown_at)
    status = [step for step in checklist_status(case_obj) if step.phase == phase]
    template = checklist_template(case_obj)
    scanned = {step.code for step in template.steps if step.attested_by_scan(role)}
    mine = [step for step in status if role in step.attested_by and step.attested_by[role]["user"] == actor.username]
    # One person, one role per step: a step this person attested under another role is not theirs.
    pending = [
        step.code
        for step in status
        if role in step.missing_roles and not any(who["user"] == actor.username for who in step.attested_by.values())
    ]
    waiting_for_scan = [code for code in pending if code in scanned]
    pending = [code for code in pending if code not in scanned]  # a scan attests those, never a tick
    if not pending and waiting_for_scan:
        raise rule_error(SCAN_REQUIRED.format(text=template.step(waiting_for_scan[0]).text))
    if not pending and mine:
        return []
    if not pending:
        raise rule_error(f"Nothing in this phase is waiting for you as {role}.")
    attested = []
    for code in pending:
        attested.append(
            step_attest(actor=actor, case=case_id, step_code=code, role=role, expected_version=expected_version)
        )
    return attested


@transaction.atomic
def sign_out_complete(*, actor: User, case: Case | int, expected_version: int | None = None) -> Case:
    case = case_lock(case, expected_version=expected_version)
    require(actor, "sign_out.complete", case)
    gate = _phase_gate_error(case, "sign_out")
    if gate:
        raise rule_error(gate)
    if not case.treated_levels:
        raise rule_error("Record the levels treated before sign-out.", field="treated_levels")
    if case.verdict != "pass" and not wrong_level_acknowledged(case):
        reasons = " ".join(f["message"] for f in blocking_findings(_findings(case)))
        raise rule_error(f"The level check does not pass: {reasons}")
    steps = phase_steps_missing(checklist_status(case), "sign_out")
    missing = [f"{step.text} ({', '.join(step.missing_roles)})" for step in steps]
    if missing:
        raise rule_error("Still to attest: " + "; ".join(missing))
    case.signed_out_at = now()
    case.save(update_fields=["signed_out_at"])
    before_state = case.state
    case_state_recompute(case)
    case_touch(case, fields=("state",))
    audit.append(
        action=AuditAction.SIGN_OUT_COMPLETED,
        actor=actor,
        case=case,
        obj=case,
        before={"state": before_state},
        after={"state": case.state, "signed_out_at": case.signed_out_at, "treated_levels": case.treated_levels},
    )
    return case


__all__ = [
    "PHASE_WORDS",
    "PaperRecord",
    "localization_pass_check",
    "phase_attest_mine",
    "phase_shown_check",
    "sign_out_complete",
    "step_attest",
    "step_attest_locked",
    "time_out_complete",
]
