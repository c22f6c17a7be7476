"""API tokens (issue 13, item 5): django-rest-knox stores only a SHA-512 digest of each token, the
token expires (``REST_KNOX["TOKEN_TTL"]``, 12 hours by default), and every issue and revocation is
an audit event on the system chain naming the token by its id (the first 8 characters of the
digest), never the token itself. The plaintext exists once: in the answer to the request that
created it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from knox.models import AuthToken

from checklist import audit
from checklist.audit.catalogue import AuditAction
from checklist.audit.tokens import token_id, token_trailed  # noqa: F401 - re-exported
from checklist.models import User
from checklist.services.case_writes import now

# Why a token stopped working (the event's reason).
REVOKED_LOGOUT = "logout"
REVOKED_PASSWORD_CHANGED = "password changed by its user"  # noqa: S105 (a reason, not a secret)
REVOKED_PASSWORD_SET = "password set by an administrator"  # noqa: S105
REVOKED_EXPIRED = "expired"


def _token_json(token: AuthToken) -> dict[str, Any]:
    expiry: datetime | None = token.expiry
    return {"token_id": token_id(token), "user": token.user.username, "expires_at": expiry}


@transaction.atomic
def token_create(*, actor: User, user: User, channel: str = "api") -> tuple[AuthToken, str]:
    """Issue an API token for ``user``; returns the row and the plaintext, which is never stored
    and never shown again. Audited (``token.created``) on the system chain."""
    token, plaintext = AuthToken.objects.create(user=user)
    key = audit.audit_keys()[0]
    audit.append(
        action=AuditAction.TOKEN_CREATED,
        actor=actor,
        object_type="AuthToken",
        object_id=token_id(token),
        after={
            **_token_json(token),
            "channel": channel,
            "binding": audit.token_binding(token.digest, key),
            "binding_key_id": key.key_id,
        },
    )
    return token, plaintext


@transaction.atomic
def token_revoke(*, actor: User | None, token: AuthToken, reason: str) -> None:
    """Delete one token (the calling client's, at logout). Audited (``token.revoked``)."""
    _revoke(actor=actor, tokens=[token], reason=reason)


@transaction.atomic
def tokens_revoke_all(*, actor: User | None, user: User, reason: str) -> int:
    """Delete every token of ``user`` (a password change or an administrator's reset). One
    ``token.revoked`` event per token; none when the user had none."""
    tokens = list(AuthToken.objects.select_related("user").filter(user=user))
    _revoke(actor=actor, tokens=tokens, reason=reason)
    return len(tokens)


@transaction.atomic
def tokens_expired_purge() -> int:
    """Delete tokens past their expiry (a beat task); each deletion is audited."""
    tokens = list(AuthToken.objects.select_related("user").filter(expiry__lte=now()).order_by("created")[:1000])
    _revoke(actor=None, tokens=tokens, reason=REVOKED_EXPIRED)
    return len(tokens)


def _revoke(*, actor: User | None, tokens: list[AuthToken], reason: str) -> None:
    for token in tokens:
        before = _token_json(token)
        AuthToken.objects.filter(digest=token.digest).delete()
        audit.append(
            action=AuditAction.TOKEN_REVOKED,
            actor=actor,
            object_type="AuthToken",
            object_id=before["token_id"],
            before=before,
            reason=reason,
        )
