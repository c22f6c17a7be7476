"""The one error type for invalid level-check input."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

NON_FIELD_ERRORS = "non_field_errors"


class LevelInputError(ValueError):
    """Invalid input to the level check.

    ``errors`` maps the offending top-level request field (``plan``, ``consent``, ``marking``,
    ``preop_imaging``, ``localizations``, ``anatomy``, ``stage``, or ``non_field_errors``) to
    readable messages; the API returns it as the 400 body.
    """

    errors: dict[str, list[str]]

    def __init__(self, errors: Mapping[str, Iterable[str]]) -> None:
        self.errors = {field: list(messages) for field, messages in errors.items()}
        super().__init__(self._summary())

    def _summary(self) -> str:
        return (
            "; ".join(message for messages in self.errors.values() for message in messages)
            or "invalid level-check input"
        )


class InputErrors:
    """Collects messages across fields so one response can report every problem."""

    def __init__(self) -> None:
        self._errors: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self._errors.setdefault(field, []).append(message)

    def count(self, field: str) -> int:
        return len(self._errors.get(field, ()))

    def __bool__(self) -> bool:
        return bool(self._errors)

    def raise_if_any(self) -> None:
        if self._errors:
            raise LevelInputError(self._errors)
