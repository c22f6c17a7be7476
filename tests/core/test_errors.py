"""The application's errors (core.errors, no web framework) and the one API error shape
(core.exception_handler)."""

from __future__ import annotations

from http import HTTPStatus

from core.errors import INVALID_INPUT, ApplicationError, ConflictError, ForbiddenError, LockedError, field_error
from core.exception_handler import api_exception_handler
from levelverify.errors import LevelInputError


def test_each_kind_of_refusal_carries_its_status() -> None:
    assert ApplicationError("no").status_code == HTTPStatus.BAD_REQUEST
    assert ConflictError("stale").status_code == HTTPStatus.CONFLICT
    assert ForbiddenError("not yours").status_code == HTTPStatus.FORBIDDEN
    assert LockedError("locked").status_code == HTTPStatus.LOCKED
    assert ApplicationError("gone", status_code=410).status_code == 410


def test_a_field_error_names_its_field() -> None:
    error = field_error("levels", "Unknown level 'L9'.")
    assert (error.message, error.errors) == (INVALID_INPUT, {"levels": ["Unknown level 'L9'."]})


def test_the_handler_answers_every_refusal_in_the_one_shape() -> None:
    response = api_exception_handler(ConflictError("Stale.", extra={"current": {"version": 3}}), {})
    assert response is not None
    assert response.status_code == 409
    assert response.data == {"detail": "Stale.", "errors": {}, "current": {"version": 3}}
    engine = api_exception_handler(LevelInputError({"anatomy": ["lumbar must be 4, 5 or 6"]}), {})
    assert engine is not None
    assert (engine.status_code, engine.data["detail"]) == (400, INVALID_INPUT)
    assert engine.data["errors"] == {"anatomy": ["lumbar must be 4, 5 or 6"]}
