"""Who is asking, for the audit trail: the request id and client address of the current request,
task or command. Set by the middleware (and tasks and commands); read when an event is appended."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest


@dataclass(frozen=True)
class AuditContext:
    request_id: str = ""
    client: str = ""


_EMPTY_CONTEXT = AuditContext()


_context: contextvars.ContextVar[AuditContext | None] = contextvars.ContextVar("audit_context", default=None)


@contextmanager
def audit_context(*, request_id: str = "", client: str = "") -> Iterator[None]:
    token = _context.set(AuditContext(request_id=request_id[:64], client=client[:200]))
    try:
        yield
    finally:
        _context.reset(token)


def client_address(request: HttpRequest) -> str | None:
    """The client's address for the sign-in limits (django-axes' AXES_CLIENT_IP_CALLABLE). Behind
    the compose proxy it is the X-Forwarded-For the proxy sets (to the address it saw, replacing
    any the client sent; the right-most entry should a proxy ever append instead)."""
    if settings.RIGHTLEVEL_BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
        if forwarded:
            return forwarded
    return request.META.get("REMOTE_ADDR") or None
