"""Whether the trail vouches for an API token row: read by authentication and by verification."""

from __future__ import annotations

import hmac

from knox.models import AuthToken

from checklist.audit.canonical import jsonable
from checklist.audit.catalogue import AuditAction
from checklist.audit.chain import SYSTEM_CHAIN
from checklist.audit.keys import audit_keys_by_id, event_genuine, token_binding
from checklist.models import AuditEvent

TOKEN_ID_LENGTH = 8


def token_id(token: AuthToken) -> str:
    """The public name of a token in the trail and the logs: a digest prefix, useless to sign in."""
    return token.digest[:TOKEN_ID_LENGTH]


def token_trailed(token: AuthToken) -> bool:
    """Whether ``token`` was issued by RightLevel: a genuine (keyed, unaltered) ``token.created``
    event names it, its user and its expiry, with the keyed binding of its digest. A row the
    application role (or a SQL injection) inserted into the token table has none."""
    if token.digest in _TRAILED:
        return True
    keys = audit_keys_by_id()
    for event in AuditEvent.objects.filter(
        chain=SYSTEM_CHAIN, action=AuditAction.TOKEN_CREATED, object_type="AuthToken", object_id=token_id(token)
    ):
        after = event.after if isinstance(event.after, dict) else {}
        key = keys.get(str(after.get("binding_key_id", "")))
        if (
            key is not None
            and hmac.compare_digest(str(after.get("binding", "")), token_binding(token.digest, key))
            and after.get("user") == token.user.username
            and after.get("expires_at") == jsonable(token.expiry)
            and event_genuine(event)
        ):
            if len(_TRAILED) >= _TRAILED_MAX:
                _TRAILED.clear()
            _TRAILED.add(token.digest)
            return True
    return False


# Digests already found in the trail, per process: the trail is append-only, so a token once
# found stays found (a revoked one is gone from the token table and never reaches this check).
_TRAILED: set[str] = set()
_TRAILED_MAX = 10_000
