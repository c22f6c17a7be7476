"""The checklist of a case: its template, each step's status, whether a phase is complete and
what a phase waits for before it opens."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Max

from checklist.models import (
    Case,
    StepAttestation,
)
from checklist.templates_catalog import PHASES, ChecklistTemplate, get_template
from levelverify.errors import LevelInputError


@dataclass(frozen=True)
class StepStatus:
    code: str
    phase: str
    text: str
    help: str
    roles: tuple[str, ...]
    evidence: tuple[str, ...]
    attested_by: dict[str, dict[str, Any]]  # role -> attester_of(attestation)
    scan_role: str | None = None  # the role that attests by a wristband scan, not a tick

    @property
    def complete(self) -> bool:
        return all(role in self.attested_by for role in self.roles)

    @property
    def missing_roles(self) -> tuple[str, ...]:
        return tuple(role for role in self.roles if role not in self.attested_by)


def attester_of(attestation: StepAttestation) -> dict[str, Any]:
    """Who attested a step and when; for a back-entry from the downtime paper (issue 18), also the
    paper's time and who entered it when (``at`` is then the entry time)."""
    who: dict[str, Any] = {
        "user": attestation.user.username,
        "name": attestation.user.full_name,
        "at": attestation.attested_at,
        "from_paper": attestation.recorded_from_paper,
    }
    if attestation.recorded_from_paper and attestation.entered_by is not None:
        who |= {
            "paper_time": attestation.paper_time,
            "entered_by": attestation.entered_by.full_name or attestation.entered_by.username,
        }
    return who


def case_conditions(case: Case) -> tuple[bool, bool]:
    """(variant_anatomy, near_conus) from the case's latest verdict."""
    from levelverify.spine import Anatomy

    verdict = case.latest_verdict
    if verdict is None:
        return False, False
    near_conus = any(f["code"] == "CONUS_PROXIMITY" for f in verdict.findings)
    anatomy_json = verdict.request.get("anatomy")
    variant = False
    if anatomy_json is not None:
        try:
            variant = Anatomy.from_json(anatomy_json).is_high_risk
        except LevelInputError:
            variant = True
    return variant, near_conus


def checklist_template(case: Case) -> ChecklistTemplate:
    run = case.checklist_run
    return get_template(run.template_code, run.template_version)


def checklist_status(case: Case) -> list[StepStatus]:
    """Every applicable step of the case's pinned template with who has attested it."""
    template = checklist_template(case)
    variant, conus = case_conditions(case)
    live: dict[tuple[str, str], dict[str, Any]] = {}
    attestations = StepAttestation.objects.filter(run__case=case, voided_at__isnull=True)
    for a in attestations.select_related("user", "entered_by"):
        live[(a.step_code, a.role)] = attester_of(a)
    out = []
    for step in template.applicable_steps(variant_anatomy=variant, near_conus=conus):
        attested = {role: live[(step.code, role)] for role in step.roles if (step.code, role) in live}
        out.append(
            StepStatus(step.code, step.phase, step.text, step.help, step.roles, step.evidence, attested, step.scan_role)
        )
    return out


def phase_steps_missing(steps: Iterable[StepStatus], phase: str) -> list[StepStatus]:
    """The steps of ``phase`` that some role they name has not attested yet: the one statement
    of "phase complete" (complete: none missing)."""
    return [step for step in steps if step.phase == phase and not step.complete]


def phase_complete(case: Case, phase: str, status: list[StepStatus] | None = None) -> bool:
    """Is every step of ``phase`` attested by every role it names? ``status``: the case's
    checklist status when the caller holds a current one (saves reading it again)."""
    steps = checklist_status(case) if status is None else status
    return not phase_steps_missing(steps, phase)


# What a phase waits for before its steps can be attested: the patient in the room (every phase),
# then the phase before it. Callers word each for their reader.
GATE_PATIENT_IN_ROOM = "patient_in_room"
GATE_SIGN_IN = "sign_in"
GATE_TIME_OUT = "time_out"
GATE_LOCALIZATION = "localization"

# Each phase with what opens it: the patient in the room opens the first, each phase's completion
# the next (a gate's code is the code of the phase it waits for). Built from the template's one
# phase order; the gate (may its steps be attested?) and the opening time (since when?) read it.
PHASE_OPENED_BY: dict[str, str] = dict(zip(PHASES, (GATE_PATIENT_IN_ROOM, *PHASES[:-1]), strict=True))


def _gate_passed(case: Case, gate: str, status: list[StepStatus] | None) -> bool:
    if gate == GATE_PATIENT_IN_ROOM:
        return case.patient_in_room_at is not None
    if gate == GATE_SIGN_IN:
        return phase_complete(case, "sign_in", status)
    if gate == GATE_TIME_OUT:
        return case.time_out_completed_at is not None
    return case.localization_passed_at is not None  # GATE_LOCALIZATION


def phase_gate(case: Case, phase: str, status: list[StepStatus] | None = None) -> str | None:
    """What ``phase`` still waits for (one of the GATE_ codes), None when it is open. ``status``:
    as for phase_complete (read only for the time-out, which waits for a complete sign-in)."""
    if not _gate_passed(case, GATE_PATIENT_IN_ROOM, status):
        return GATE_PATIENT_IN_ROOM
    gate = PHASE_OPENED_BY.get(phase)
    if gate is not None and not _gate_passed(case, gate, status):
        return gate
    return None


def phase_opened_at(case: Case, phase: str, status: list[StepStatus] | None = None) -> datetime | None:
    """When ``phase`` became open for attestation (None: not open, or no such phase)."""
    gate = PHASE_OPENED_BY.get(phase)
    if gate is None or phase_gate(case, phase, status) is not None:
        return None
    if gate == GATE_PATIENT_IN_ROOM:
        return case.patient_in_room_at
    if gate == GATE_SIGN_IN:
        # The last sign-in attestation completed the sign-in.
        live = StepAttestation.objects.filter(run__case=case, phase="sign_in", voided_at__isnull=True)
        at: datetime | None = live.aggregate(at=Max("attested_at"))["at"]
        return at
    if gate == GATE_TIME_OUT:
        return case.time_out_completed_at
    return case.localization_passed_at  # GATE_LOCALIZATION
