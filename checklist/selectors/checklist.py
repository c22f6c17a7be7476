"""The checklist of a case: its template, each step's status, whether a phase is complete."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from checklist.models import (
    Case,
    StepAttestation,
)
from checklist.templates_catalog import ChecklistTemplate, get_template
from levelverify.errors import LevelInputError


@dataclass(frozen=True)
class StepStatus:
    code: str
    phase: str
    text: str
    help: str
    roles: tuple[str, ...]
    evidence: tuple[str, ...]
    attested_by: dict[str, dict[str, Any]]  # role -> {"user", "name", "at"}

    @property
    def complete(self) -> bool:
        return all(role in self.attested_by for role in self.roles)

    @property
    def missing_roles(self) -> tuple[str, ...]:
        return tuple(role for role in self.roles if role not in self.attested_by)


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
    for a in StepAttestation.objects.filter(run__case=case, voided_at__isnull=True).select_related("user"):
        live[(a.step_code, a.role)] = {"user": a.user.username, "name": a.user.full_name, "at": a.attested_at}
    out = []
    for step in template.applicable_steps(variant_anatomy=variant, near_conus=conus):
        attested = {role: live[(step.code, role)] for role in step.roles if (step.code, role) in live}
        out.append(StepStatus(step.code, step.phase, step.text, step.help, step.roles, step.evidence, attested))
    return out


def phase_complete(case: Case, phase: str, status: list[StepStatus] | None = None) -> bool:
    """Is every step of ``phase`` attested by every role it names? ``status``: the case's
    checklist status when the caller holds a current one (saves reading it again)."""
    steps = checklist_status(case) if status is None else status
    return all(step.complete for step in steps if step.phase == phase)
