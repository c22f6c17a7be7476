"""Passwords set by administrators (issue 13, item 5): audited, told to the user, and never enough
to sign as them. After an administrator sets or resets a password the user must choose their own
before signing anything, so whoever set it cannot impersonate them. Either way the user's API
tokens are revoked: a token obtained with the old password must not outlive it."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction

from checklist import audit
from checklist.access import roles
from checklist.access.policies import has_role
from checklist.audit.catalogue import AuditAction
from checklist.models import User
from checklist.services.case_writes import now
from checklist.services.tokens import REVOKED_PASSWORD_CHANGED, REVOKED_PASSWORD_SET, tokens_revoke_all
from core.errors import ForbiddenError, LockedError

logger = logging.getLogger(__name__)

SIGN_AFTER_ADMIN_RESET = (
    "Your password was set by an administrator. Choose your own password (Account: change password) "
    "before signing anything."
)
ADMIN_ONLY = "Only an administrator can set another user's password."


@transaction.atomic
def user_password_admin_set(*, actor: User, user: User) -> User:
    """An administrator set or reset ``user``'s password (``user.password`` already holds the new
    hash): saved, audited on the system chain, and the user is told by e-mail and must choose
    their own password before signing."""
    if not (actor.is_superuser or has_role(actor, roles.ADMIN)):
        raise ForbiddenError(ADMIN_ONLY)
    locked = User.objects.select_for_update().get(pk=user.pk)
    locked.password = user.password
    locked.password_set_by_admin_at = now()
    locked.save(update_fields=["password", "password_set_by_admin_at"])
    audit.append(
        action=AuditAction.USER_PASSWORD_SET,
        actor=actor,
        obj=locked,
        object_type="User",
        after={"username": locked.username, "usable": locked.has_usable_password(), "must_choose_own": True},
        reason="password set by an administrator",
    )
    tokens_revoke_all(actor=actor, user=locked, reason=REVOKED_PASSWORD_SET)
    transaction.on_commit(lambda: _tell_user(locked, actor))
    return locked


@transaction.atomic
def user_password_change_own(*, actor: User) -> User:
    """The user chose their own password (``actor.password`` holds the new hash)."""
    locked = User.objects.select_for_update().get(pk=actor.pk)
    was_set_by_admin = locked.password_set_by_admin_at is not None
    locked.password = actor.password
    locked.password_set_by_admin_at = None
    locked.save(update_fields=["password", "password_set_by_admin_at"])
    audit.append(
        action=AuditAction.USER_PASSWORD_CHANGED,
        actor=locked,
        obj=locked,
        object_type="User",
        before={"set_by_administrator": was_set_by_admin},
        after={"set_by_administrator": False},
    )
    tokens_revoke_all(actor=locked, user=locked, reason=REVOKED_PASSWORD_CHANGED)
    return locked


def signing_password_require_own(actor: User) -> None:
    """Refuse to sign while the password is one an administrator set (read from the database)."""
    set_by_admin = User.objects.filter(pk=actor.pk).values_list("password_set_by_admin_at", flat=True).first()
    if set_by_admin is not None:
        raise LockedError(SIGN_AFTER_ADMIN_RESET)


def _tell_user(user: User, actor: User) -> None:
    if not user.email:
        logger.warning("Password of user id %s set by an administrator; the user has no e-mail address", user.pk)
        return
    send_mail(
        subject="RightLevel: your password was set by an administrator",
        message=(
            f"{actor.full_name or actor.username} set the password of your RightLevel account ({user.username}). "
            "Sign in with it and choose your own password before you sign anything; until then RightLevel "
            "will not accept your signature. If you did not ask for this, tell your RightLevel administrator "
            "and the quality officer."
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[user.email],
        fail_silently=True,
    )
