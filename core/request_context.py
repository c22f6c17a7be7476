"""Who is asking, for the audit trail: the request id and client address of the current request,
task or command, and when the person acted on their device (``X-Acted-At``, for writes a device
queued offline and sent later). Set by the middleware (and tasks and commands); read when an event
is appended."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.http import HttpRequest


@dataclass(frozen=True)
class AuditContext:
    request_id: str = ""
    client: str = ""
    acted_at: datetime | None = None  # aware; None when the request did not say


_EMPTY_CONTEXT = AuditContext()


_context: contextvars.ContextVar[AuditContext | None] = contextvars.ContextVar("audit_context", default=None)


@contextmanager
def audit_context(*, request_id: str = "", client: str = "", acted_at: datetime | None = None) -> Iterator[None]:
    token = _context.set(AuditContext(request_id=request_id[:64], client=client[:200], acted_at=acted_at))
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


ACTED_AT_HEADER = "X-Acted-At"
ACTED_AT_UNPARSEABLE = "X-Acted-At must be an ISO 8601 date and time, such as 2026-12-03T09:15:00+01:00."
ACTED_AT_NO_OFFSET = (
    "X-Acted-At must carry its offset from UTC (such as +01:00 or Z): without it the time is ambiguous."
)
ACTED_AT_FUTURE = "X-Acted-At is {hours:g} hours or more after the server's time: check the device's clock."


def acted_at_parse(value: str, *, now: datetime, max_future: timedelta) -> datetime:
    """The device's time from an ``X-Acted-At`` header, or ValueError with the reason. A time long
    past is accepted (a device may send a queue it kept offline for days); one more than
    ``max_future`` ahead of ``now`` is a device clock gone wrong and is refused."""
    try:
        acted_at = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(ACTED_AT_UNPARSEABLE) from None
    if acted_at.tzinfo is None or acted_at.utcoffset() is None:
        raise ValueError(ACTED_AT_NO_OFFSET)
    if acted_at - now > max_future:
        raise ValueError(ACTED_AT_FUTURE.format(hours=max_future.total_seconds() / 3600))
    return acted_at
