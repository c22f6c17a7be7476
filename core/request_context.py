"""Who is asking, for the audit trail: the request id and client address of the current request,
task or command. Set by the middleware (and tasks and commands); read when an event is appended."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


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
