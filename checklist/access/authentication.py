"""API token authentication: django-rest-knox's hashed tokens, with expiry that never writes.

A token is honoured only if the trail says RightLevel issued it (``token_trailed``): a row written
into the token table behind the application's back is refused.

Knox deletes expired tokens while it authenticates a request (and the user's other expired
tokens with it); here an expired token is simply refused, and ``tokens_expired_purge`` (a beat
task) deletes expired tokens with an audit event each, in its own transaction.
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from knox.auth import TokenAuthentication
from rest_framework import exceptions

logger = logging.getLogger(__name__)

INVALID_TOKEN = "Invalid token."  # noqa: S105 (a message)


class ExpiringTokenAuthentication(TokenAuthentication):
    """Knox's token check without its clean-up writes on the request path."""

    def authenticate_credentials(self, token: bytes) -> Any:
        """A token that is not UTF-8 (knox would raise UnicodeDecodeError: a 500) is invalid: 401."""
        try:
            token.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed(INVALID_TOKEN) from exc
        from checklist.audit.tokens import token_id, token_trailed  # DRF imports this module at settings time

        user, auth_token = super().authenticate_credentials(token)
        if not token_trailed(auth_token):
            logger.warning("API token %s refused: no genuine token.created event", token_id(auth_token))
            raise exceptions.AuthenticationFailed(INVALID_TOKEN)
        return user, auth_token

    def _cleanup_token(self, auth_token: Any) -> bool:
        """True (skip this token: "Invalid token.", 401) once it has expired; never deletes."""
        return auth_token.expiry is not None and auth_token.expiry <= timezone.now()


class ExpiringTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """The scheme in the OpenAPI document: ``Authorization: Token <token>``."""

    target_class = ExpiringTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Token")  # noqa: S106
