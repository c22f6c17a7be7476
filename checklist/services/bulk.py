"""One tap for a whole phase: attest every step of a phase that waits for the actor's role."""

from __future__ import annotations

from django.db import transaction

from checklist.models import Case, StepAttestation, User
from checklist.policies import require
from checklist.selectors import checklist_status
from checklist.services.checklist import step_attest
from checklist.services.common import rule_error


@transaction.atomic
def phase_attest_mine(
    *, actor: User, case: Case | int, phase: str, role: str, expected_version: int | None = None
) -> list[StepAttestation]:
    """Attest, under ``role``, every applicable step of ``phase`` still waiting for that role.
    All or nothing: if one step cannot be attested (evidence missing, a stop), none is, and the
    error names that step. Each attestation is its own audited event."""
    case_id = case.pk if isinstance(case, Case) else case
    require(actor, "step.attest", Case.objects.select_related("room").get(pk=case_id))
    pending = [
        step.code
        for step in checklist_status(Case.objects.get(pk=case_id))
        if step.phase == phase and role in step.missing_roles
    ]
    if not pending:
        raise rule_error(f"Nothing in this phase is waiting for the {role} role.")
    attested = []
    for code in pending:
        attested.append(
            step_attest(actor=actor, case=case_id, step_code=code, role=role, expected_version=expected_version)
        )
    return attested
