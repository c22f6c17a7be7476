"""The canonical form of events and seals: the exact bytes that are hashed."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from checklist.models import AuditEvent, AuditSeal

GENESIS_HASH = "0" * 64


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> bytes:
    """Stable bytes for hashing: sorted keys, no whitespace, UTF-8 (the same bytes as
    ``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``)."""
    return _CANONICAL.encode(value).encode("utf-8")


def jsonable(value: Any) -> Any:
    """The JSON value exactly as it will be stored and read back, on SQLite and on PostgreSQL.

    Dates become ISO strings. Floats are brought to the form PostgreSQL's jsonb gives back (an
    integral float of 1e16 or more comes back as an integer, -0.0 as 0.0), so the hash computed
    at append time is the hash recomputed from the stored row. NaN and infinities are refused:
    they are not JSON.
    """
    if value is None:
        return None
    return json.loads(json.dumps(value, default=_json_default, allow_nan=False), parse_float=_parse_float)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _parse_float(text: str) -> float | int:
    number = float(text)
    if number == 0:
        return 0.0
    if abs(number) >= 1e16 and number.is_integer():
        return int(number)
    return number


def _timestamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


# The fields an event's hash covers, in the order ``verify`` reads them. ``id`` is not covered: an
# event is identified by (chain, seq), which is.
HASHED_FIELDS = (
    "chain",
    "seq",
    "at",
    "case_id",
    "actor_id",
    "actor_username",
    "actor_name",
    "actor_role",
    "action",
    "object_type",
    "object_id",
    "before",
    "after",
    "reason",
    "request_id",
    "client",
    "prev_hash",
)


_AT = HASHED_FIELDS.index("at")


def _payload(values: tuple[Any, ...] | list[Any]) -> dict[str, Any]:
    payload = dict(zip(HASHED_FIELDS, values, strict=True))
    payload["at"] = _timestamp(values[_AT])
    return payload


def event_payload(event: AuditEvent) -> dict[str, Any]:
    """What an event's hash covers: everything it says, and the previous event's hash."""
    return _payload([getattr(event, name) for name in HASHED_FIELDS])


def event_hash(event: AuditEvent) -> str:
    return hashlib.sha256(canonical_json(event_payload(event))).hexdigest()


def seal_payload(seal: AuditSeal) -> dict[str, Any]:
    return {
        "seq": seal.seq,
        "at": _timestamp(seal.at),
        "heads": seal.heads,
        "event_count": seal.event_count,
        "prev_hash": seal.prev_hash,
    }


def seal_hash(seal: AuditSeal) -> str:
    return hashlib.sha256(canonical_json(seal_payload(seal))).hexdigest()
