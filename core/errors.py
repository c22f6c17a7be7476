"""The application's errors: a business rule refused the request.

Services raise them; the API's exception handler (``core.exception_handler``) and the pages turn
them into the one error shape. No web framework here, so domain code can raise them anywhere.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

INVALID_INPUT = "Invalid input."


class ApplicationError(Exception):
    """A business rule refused the request. Views never build error responses by hand."""

    status_code: int = HTTPStatus.BAD_REQUEST.value

    def __init__(
        self,
        message: str,
        *,
        errors: dict[str, list[str]] | None = None,
        status_code: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or {}
        self.extra = extra or {}
        if status_code is not None:
            self.status_code = status_code


class ConflictError(ApplicationError):
    """A write made on a stale view of the case (HTTP 409); carries the current state."""

    status_code = HTTPStatus.CONFLICT.value


class ForbiddenError(ApplicationError):
    """The user may not do this (HTTP 403)."""

    status_code = HTTPStatus.FORBIDDEN.value


class LockedError(ApplicationError):
    """Signing is locked for this user after repeated failures (HTTP 423)."""

    status_code = HTTPStatus.LOCKED.value


def field_error(field: str, message: str) -> ApplicationError:
    """A 400 naming one field."""
    return ApplicationError(INVALID_INPUT, errors={field: [message]})
