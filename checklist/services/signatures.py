"""E-signatures (21 CFR Part 11 as the benchmark).

A signature records the signer, the printed name, the time, the meaning and the SHA-256 of the
exact content signed. Signing needs the password again; the first signing of a session needs two
components (username and password), later ones the password (11.200). Failed attempts are
audited; three in a row lock signing for that user and notify the administrators (11.300).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from checklist import audit
from checklist.access import roles
from checklist.access.policies import has_role, require, users_with_roles
from checklist.audit.catalogue import AuditAction
from checklist.level_check import content_hash, current_evidence, localization_content, plan_content
from checklist.models import (
    Case,
    DeliveryChannel,
    Localization,
    PlanVersion,
    Signature,
    SignatureMeaning,
    SigningFailure,
    User,
)
from checklist.reminders.delivery import delivery_enqueue
from checklist.services.accounts import signing_password_require_own
from checklist.services.case_writes import case_lock, now, rule_error
from checklist.services.cases import case_state_commit, verdict_record
from checklist.services.checklist import localization_pass_check
from core.errors import ApplicationError, ForbiddenError, LockedError

logger = logging.getLogger(__name__)

SIGNING_FAILURE_LIMIT = 3
BAD_CREDENTIALS = "The password (and username, at the first signing of a session) did not match. Nothing was signed."
SIGNING_LOCKED = "Signing is locked for {name} after {limit} failed attempts in a row. An administrator must unlock it."
USERNAME_REQUIRED = "First signature of this session: enter your username as well as your password."


def _credentials_ok(actor: User, *, password: str, username: str | None, first_in_session: bool) -> bool:
    if first_in_session and (username or "").strip() != actor.username:
        return False
    return bool(password) and actor.check_password(password)


def _signing_failure_record(*, signer: User, case: Case, meaning: str) -> int:
    """Record a failed attempt in the caller's transaction, which holds the signer's row lock and
    commits before the refusal is raised (so the failure survives it)."""
    SigningFailure.objects.create(user=signer, at=now(), case=case)
    failures = SigningFailure.objects.filter(user=signer, cleared_at__isnull=True).count()
    audit.append(
        action=AuditAction.SIGNATURE_FAILED,
        actor=signer,
        case=case,
        obj=signer,
        object_type="User",
        after={"meaning": meaning, "consecutive_failures": failures},
    )
    if failures >= SIGNING_FAILURE_LIMIT and signer.signing_locked_at is None:
        signer.signing_locked_at = now()
        signer.save(update_fields=["signing_locked_at"])
        audit.append(
            action=AuditAction.SIGNATURE_LOCKED,
            actor=signer,
            case=case,
            obj=signer,
            object_type="User",
            after={"consecutive_failures": failures},
        )
        _notify_admins_of_lock(signer, failures)
    return failures


def _notify_admins_of_lock(user: User, failures: int) -> None:
    """Queue the administrators' e-mail in the outbox (same transaction as the lock); a worker
    sends it, never the request."""
    recipients = list(users_with_roles(roles.ADMIN).exclude(email="").values_list("email", flat=True))
    if not recipients:
        logger.warning("Signing locked for user id %s; no administrator has an e-mail address", user.pk)
        return
    assert user.signing_locked_at is not None
    delivery_enqueue(
        channel=DeliveryChannel.EMAIL,
        key=f"signing-locked:{user.pk}:{user.signing_locked_at.isoformat()}",
        to=recipients,
        subject="RightLevel: signing locked after failed attempts",
        body=(
            f"Signing was locked for {user.full_name} ({user.username}) after {failures} failed signing "
            "attempts in a row. Check with the user, then unlock signing in the administration pages."
        ),
    )


def _signer_authenticate(
    *, actor: User, case: Case, meaning: str, password: str, username: str | None, first_in_session: bool
) -> tuple[User, ApplicationError | None]:
    """Lock the signer's row, then check the lock and the credentials, in the caller's transaction.
    Every signing takes the signer's row before the case's (one lock order), and keeps it to the
    end, so concurrent attempts by one signer are checked one at a time: no more than
    SIGNING_FAILURE_LIMIT wrong passwords are ever tried, and none is accepted after the lock.
    Returns the locked signer and, for wrong credentials, the refusal to raise after commit."""
    signer = User.objects.select_for_update().get(pk=actor.pk)
    signing_password_require_own(signer)  # an administrator who set the password cannot sign as them
    if signer.signing_locked_at is not None:
        raise LockedError(SIGNING_LOCKED.format(name=signer.full_name, limit=SIGNING_FAILURE_LIMIT))
    if _credentials_ok(signer, password=password, username=username, first_in_session=first_in_session):
        return signer, None
    failures = _signing_failure_record(signer=signer, case=case, meaning=meaning)
    if failures >= SIGNING_FAILURE_LIMIT:
        return signer, LockedError(SIGNING_LOCKED.format(name=signer.full_name, limit=SIGNING_FAILURE_LIMIT))
    field = "username" if first_in_session and (username or "").strip() != signer.username else "password"
    message = USERNAME_REQUIRED if field == "username" and not username else BAD_CREDENTIALS
    return signer, ApplicationError(message, errors={field: [message]}, status_code=403)


def _signer_still_unlocked(signer: User) -> None:
    """At commit: refuse the signature if signing got locked meanwhile (the row lock we hold makes
    this hold for the services; this also covers a lock set by any other path)."""
    if User.objects.filter(pk=signer.pk, signing_locked_at__isnull=False).exists():
        raise LockedError(SIGNING_LOCKED.format(name=signer.full_name, limit=SIGNING_FAILURE_LIMIT))


def _signature_create(*, actor: User, case: Case, meaning: str, subject: Any, content: dict[str, Any]) -> Signature:
    SigningFailure.objects.filter(user=actor, cleared_at__isnull=True).update(cleared_at=now())
    signature = Signature(
        case=case,
        signer=actor,
        printed_name=actor.full_name,
        signer_role=actor.role or "",
        meaning=meaning,
        signed_at=now(),
        subject_type=type(subject).__name__,
        subject_id=subject.pk,
        content_hash=content_hash(content),
        content=content,
    )
    audit.signature_key(signature)
    signature.save(force_insert=True)
    audit.append(
        action=AuditAction.SIGNATURE_SIGNED,
        actor=actor,
        case=case,
        obj=signature,
        after={
            "printed_name": signature.printed_name,
            "meaning": meaning,
            "signed_at": signature.signed_at,
            "subject": f"{signature.subject_type} {signature.subject_id}",
            "content_hash": signature.content_hash,
        },
    )
    return signature


def plan_sign(
    *,
    actor: User,
    case: Case | int,
    plan_number: int,
    password: str,
    username: str | None = None,
    first_in_session: bool = True,
    expected_version: int | None = None,
) -> Signature:
    """The case's surgeon (or a designated co-surgeon) signs one plan version."""
    case_obj = Case.objects.select_related("room").get(pk=case.pk if isinstance(case, Case) else case)
    require(actor, "plan.sign", case_obj)
    with transaction.atomic():
        signer, refusal = _signer_authenticate(
            actor=actor,
            case=case_obj,
            meaning=SignatureMeaning.APPROVED_PLAN,
            password=password,
            username=username,
            first_in_session=first_in_session,
        )
        if refusal is None:
            signature = _plan_sign_locked(
                actor=actor, case=case_obj, plan_number=plan_number, expected_version=expected_version
            )
            _signer_still_unlocked(signer)
            return signature
    raise refusal


def _plan_sign_locked(*, actor: User, case: Case, plan_number: int, expected_version: int | None) -> Signature:
    locked = case_lock(case, expected_version=expected_version)
    plan = PlanVersion.objects.select_for_update().filter(case=locked, number=plan_number).first()
    if plan is None:
        raise rule_error(f"This case has no plan version {plan_number}.", field="plan")
    latest = PlanVersion.objects.filter(case=locked).order_by("-number").values_list("number", flat=True).first()
    if plan.number != latest:
        raise rule_error(f"Plan version {plan.number} was replaced by version {latest}: sign the current one.", "plan")
    if plan.signature_id is not None:
        raise rule_error(f"Plan version {plan.number} is already signed.", field="plan")
    signature = _signature_create(
        actor=actor, case=locked, meaning=SignatureMeaning.APPROVED_PLAN, subject=plan, content=plan_content(plan)
    )
    plan.signature = signature
    plan.signed_at = signature.signed_at
    plan.save(update_fields=["signature", "signed_at"])
    before_state = locked.state
    verdict_record(case=locked, actor=actor, trigger="plan.signed")
    case_state_commit(locked, actor=actor, before_state=before_state, evidence=True)
    return signature


def localization_confirm(
    *,
    actor: User,
    case: Case | int,
    password: str,
    username: str | None = None,
    first_in_session: bool = True,
    expected_version: int | None = None,
) -> Signature:
    """The operating surgeon confirms the level ("confirmed level" signature). Allowed only when
    the level check at the localization stage passes."""
    case_obj = Case.objects.select_related("room").get(pk=case.pk if isinstance(case, Case) else case)
    require(actor, "localization.confirm", case_obj)
    with transaction.atomic():
        signer, refusal = _signer_authenticate(
            actor=actor,
            case=case_obj,
            meaning=SignatureMeaning.CONFIRMED_LEVEL,
            password=password,
            username=username,
            first_in_session=first_in_session,
        )
        if refusal is None:
            signature = _localization_confirm_locked(actor=actor, case=case_obj, expected_version=expected_version)
            _signer_still_unlocked(signer)
            return signature
    raise refusal


def _localization_confirm_locked(*, actor: User, case: Case, expected_version: int | None) -> Signature:
    locked = case_lock(case, expected_version=expected_version)
    if locked.time_out_completed_at is None:
        raise rule_error("Complete the time-out before confirming the level.")
    verdict = verdict_record(case=locked, actor=actor, trigger="localization.confirm")
    if verdict.verdict != "pass" or verdict.stage != "localization":
        missing = "; ".join(f["message"] for f in verdict.findings if f["severity"] != "warning")
        raise rule_error(f"The level cannot be confirmed yet: {missing}")
    evidence = current_evidence(locked)
    assert evidence.plan is not None
    usable = [x for x in evidence.localizations if x.marker_in_place]
    if any(x.confirmed_signature_id for x in usable):
        raise rule_error("The level is already confirmed for these images.")
    signature = _signature_create(
        actor=actor,
        case=locked,
        meaning=SignatureMeaning.CONFIRMED_LEVEL,
        subject=usable[-1],
        content=localization_content(locked, usable, evidence.plan),
    )
    Localization.objects.filter(pk=usable[-1].pk).update(confirmed_signature=signature)
    before_state = locked.state
    localization_pass_check(locked, actor=actor)
    case_state_commit(locked, actor=actor, before_state=before_state)
    return signature


@transaction.atomic
def signing_unlock(*, actor: User, user: User, reason: str) -> User:
    """An administrator lifts a signing lock after checking with the user."""
    if not has_role(actor, roles.ADMIN):
        raise ForbiddenError("Only an administrator can unlock signing.")
    if not reason.strip():
        raise rule_error("Say why signing is being unlocked.", field="reason")
    locked = User.objects.select_for_update().get(pk=user.pk)
    before = locked.signing_locked_at
    locked.signing_locked_at = None
    locked.save(update_fields=["signing_locked_at"])
    SigningFailure.objects.filter(user=locked, cleared_at__isnull=True).update(cleared_at=now())
    audit.append(
        action=AuditAction.SIGNATURE_UNLOCKED,
        actor=actor,
        obj=locked,
        object_type="User",
        before={"signing_locked_at": before},
        after={"signing_locked_at": None},
        reason=reason,
    )
    return locked
