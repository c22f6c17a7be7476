"""One tap for a whole phase: attest every step of a phase that waits for the actor's role."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from checklist.access.policies import require
from checklist.models import Case, StepAttestation, User
from checklist.selectors import checklist_status
from checklist.services.case_writes import rule_error
from checklist.services.checklist import phase_shown_check, step_attest


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
    mine = [step for step in status if role in step.attested_by and step.attested_by[role]["user"] == actor.username]
    # One person, one role per step: a step this person attested under another role is not theirs.
    pending = [
        step.code
        for step in status
        if role in step.missing_roles and not any(who["user"] == actor.username for who in step.attested_by.values())
    ]
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
