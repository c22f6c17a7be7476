"""Reading level-check JSON strictly (contract v2, rule 7). Pure Python, no Django.

``json.loads`` silently keeps the last of two duplicated keys, reads numbers of any length and
accepts ``NaN``; the level check refuses all of these. ``loads_strict`` marks duplicated keys on the
mapping (``duplicate_keys``) so that the engine can name them under the field where they occur, and
raises ``LevelInputError`` for what cannot be read at all: not JSON, numbers longer than
``MAX_NUMBER_DIGITS`` digits, ``NaN``/``Infinity``, nesting deeper than ``MAX_DEPTH``.
"""

from __future__ import annotations

import json
import math
from typing import Any, Final

from levelverify.errors import NON_FIELD_ERRORS, LevelInputError

MAX_DEPTH: Final = 32
MAX_NUMBER_DIGITS: Final = 12

ERR_NOT_JSON: Final = "Not valid JSON: {reason}"
ERR_TOO_DEEP: Final = f"The JSON is nested deeper than {MAX_DEPTH} levels."
ERR_NUMBER_TOO_LONG: Final = "The number {number} is longer than {digits} digits."
ERR_CONSTANT: Final = "{constant} is not a number the level check reads."
ERR_NOT_UTF8: Final = "The request body is not UTF-8 text."


class DuplicateKeysDict(dict[str, Any]):
    """A JSON object in which some keys were given more than once (the last value is kept)."""

    duplicate_keys: tuple[str, ...] = ()


class _Refused(ValueError):
    pass


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) == len(pairs):
        return result
    seen: set[str] = set()
    duplicates: list[str] = []
    for key, _ in pairs:
        if key in seen and key not in duplicates:
            duplicates.append(key)
        seen.add(key)
    marked = DuplicateKeysDict(result)
    marked.duplicate_keys = tuple(duplicates)
    return marked


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def _int(text: str) -> int:
    if _digits(text) > MAX_NUMBER_DIGITS:
        raise _Refused(ERR_NUMBER_TOO_LONG.format(number=_shorten(text), digits=MAX_NUMBER_DIGITS))
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if _digits(text) > MAX_NUMBER_DIGITS or not math.isfinite(value):
        raise _Refused(ERR_NUMBER_TOO_LONG.format(number=_shorten(text), digits=MAX_NUMBER_DIGITS))
    return value


def _constant(text: str) -> Any:
    raise _Refused(ERR_CONSTANT.format(constant=text))


def _shorten(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def loads_strict(text: str | bytes) -> Any:
    """Parse level-check JSON; raises ``LevelInputError`` (``non_field_errors``) when it cannot."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise LevelInputError({NON_FIELD_ERRORS: [ERR_NOT_UTF8]}) from None
    try:
        value = json.loads(
            text, object_pairs_hook=_object, parse_int=_int, parse_float=_float, parse_constant=_constant
        )
    except _Refused as refused:
        raise LevelInputError({NON_FIELD_ERRORS: [str(refused)]}) from None
    except RecursionError:
        raise LevelInputError({NON_FIELD_ERRORS: [ERR_TOO_DEEP]}) from None
    except ValueError as error:  # json.JSONDecodeError and int() limits
        raise LevelInputError({NON_FIELD_ERRORS: [ERR_NOT_JSON.format(reason=error)]}) from None
    if _depth_exceeds(value, MAX_DEPTH):
        raise LevelInputError({NON_FIELD_ERRORS: [ERR_TOO_DEEP]})
    return value
