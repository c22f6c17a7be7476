"""Signatures with their validity, and who may unlock signing after failures."""

from __future__ import annotations

from checklist.access import roles
from checklist.access.policies import users_with_roles
from checklist.level_check import localization_content, plan_content, signature_valid
from checklist.models import (
    Case,
    Localization,
    PlanVersion,
    Signature,
    SigningFailure,
    User,
)


def signature_states(signatures: list[Signature]) -> list[Signature]:
    """Set ``valid`` (the signed content still hashes the same) and ``current`` (what was signed
    is still in force) on each signature."""
    for signature in signatures:
        valid = False
        current = False
        if signature.subject_type == "PlanVersion":
            plan = PlanVersion.objects.select_related("case").filter(pk=signature.subject_id).first()
            if plan is not None:
                valid = signature_valid(signature, plan_content(plan))
                latest = PlanVersion.objects.filter(case_id=plan.case_id).order_by("-number").first()
                current = valid and latest is not None and latest.pk == plan.pk
        elif signature.subject_type == "Localization":
            valid, current = _confirmation_state(signature)
        signature.valid = valid  # type: ignore[attr-defined]
        signature.current = current  # type: ignore[attr-defined]
    return signatures


def _confirmation_state(signature: Signature) -> tuple[bool, bool]:
    """A "confirmed level" signature covers the plan version and the localizations it names."""

    content = signature.content
    plan = PlanVersion.objects.filter(case_id=signature.case_id, number=content.get("plan_version")).first()
    ids = [item.get("id") for item in content.get("localizations", [])]
    images = {x.pk: x for x in Localization.objects.filter(case_id=signature.case_id, pk__in=ids)}
    if plan is None or len(images) != len(ids):
        return False, False
    recomputed = localization_content(signature.case, [images[i] for i in ids], plan)
    valid = signature_valid(signature, recomputed)
    current = valid and plan.superseded_at is None and all(x.superseded_at is None for x in images.values())
    return valid, current


def case_signatures(case: Case) -> list[Signature]:
    return signature_states(list(Signature.objects.filter(case=case).select_related("signer").order_by("signed_at")))


def signing_unlockers() -> list[str]:
    """The people who can lift a signing lock (active administrators), by name."""
    admins = users_with_roles(roles.ADMIN).order_by("full_name")
    return [u.full_name or u.username for u in admins.distinct()]


def signing_failures_in_a_row(user: User) -> int:
    """Failed signatures of ``user`` since their last good one (or the last unlock)."""
    return SigningFailure.objects.filter(user=user, cleared_at__isnull=True).count()
