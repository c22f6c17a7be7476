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


# Covered only when present (not null): events appended before issue 18 have no ``acted_at``, and
# their canonical JSON, so their hash, is exactly what it was. A present one is in the JSON (its key
# sorts first), so it cannot be changed, added or removed without the hash and the MAC failing.
OPTIONAL_HASHED_FIELDS = ("acted_at",)


_AT = HASHED_FIELDS.index("at")


def _payload(values: tuple[Any, ...] | list[Any], acted_at: datetime | None = None) -> dict[str, Any]:
    payload = dict(zip(HASHED_FIELDS, values, strict=True))
    payload["at"] = _timestamp(values[_AT])
    if acted_at is not None:
        payload["acted_at"] = _timestamp(acted_at)
    return payload


_encode_string = json.encoder.encode_basestring  # the C function the encoder itself uses (ensure_ascii off)
_encode = _CANONICAL.encode


def json_text(value: Any) -> str:
    """A JSON value's canonical text, as it appears inside an event's canonical JSON."""
    return "null" if value is None else _encode(value)


def event_canonical(
    values: tuple[Any, ...],
    at: str,
    *,
    before_json: str | None = None,
    after_json: str | None = None,
    acted_at: str | None = None,
) -> bytes:
    """``canonical_json(_payload(values, acted_at))``, built field by field (about three times
    faster: no dict, no key sorting); ``at`` is ``values``' time already formatted, ``before_json``
    and ``after_json`` (when given) ``json_text`` of its ``before`` and ``after``, ``acted_at`` the
    device's time already formatted, or None when the event has none. Any value of a type the
    columns never hold goes the generic way, so the bytes are always the same."""
    (chain, seq, _, case_id, actor_id, username, name, role, action, object_type, object_id, before, after, reason,
     request_id, client, prev_hash) = values  # fmt: skip
    if (
        type(seq) is not int
        or (case_id is not None and type(case_id) is not int)
        or (actor_id is not None and type(actor_id) is not int)
    ):
        return _generic(values, at, acted_at)
    enc = _encode_string
    if before_json is None:
        before_json = json_text(before)
    if after_json is None:
        after_json = json_text(after)
    try:
        acted = "" if acted_at is None else f"{_ACTED_AT_KEY}{enc(acted_at)},"
        text = (
            f'{{{acted}"action":{enc(action)},"actor_id":{"null" if actor_id is None else actor_id},'
            f'"actor_name":{enc(name)},"actor_role":{enc(role)},"actor_username":{enc(username)},'
            f'"after":{after_json},"at":{enc(at)},"before":{before_json},'
            f'"case_id":{"null" if case_id is None else case_id},"chain":{enc(chain)},"client":{enc(client)},'
            f'"object_id":{enc(object_id)},"object_type":{enc(object_type)},"prev_hash":{enc(prev_hash)},'
            f'"reason":{enc(reason)},"request_id":{enc(request_id)},"seq":{seq}}}'
        )
    except TypeError:  # a column holding something else than a string (a tampered schema)
        return _generic(values, at, acted_at)
    return text.encode("utf-8")


_ACTED_AT_KEY = '"acted_at":'


def _generic(values: tuple[Any, ...], at: str, acted_at: str | None = None) -> bytes:
    payload = dict(zip(HASHED_FIELDS, values, strict=True))
    payload["at"] = at
    if acted_at is not None:
        payload["acted_at"] = acted_at
    return canonical_json(payload)


def event_payload(event: AuditEvent) -> dict[str, Any]:
    """What an event's hash covers: everything it says (the device's time when it has one), and
    the previous event's hash."""
    return _payload([getattr(event, name) for name in HASHED_FIELDS], event.acted_at)


def event_bytes(event: AuditEvent) -> bytes:
    """The exact bytes an event's hash covers (what ``AuditEvent.canonical`` keeps)."""
    return canonical_json(event_payload(event))


def event_hash(event: AuditEvent) -> str:
    return hashlib.sha256(event_bytes(event)).hexdigest()


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
