"""The fast canonical form verify recomputes events with (checklist/audit/canonical.py:
event_canonical) is byte for byte the generic one, and verify reads times and JSON exactly."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checklist import audit
from checklist.audit import chain as audit_chain
from checklist.audit.canonical import HASHED_FIELDS, _payload, _timestamp, canonical_json, event_canonical
from tests.support.workflow import case_schedule

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)  # any character but surrogates
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
IDS = st.none() | st.integers(min_value=0, max_value=2**63 - 1)
TIMES = st.datetimes(  # hypothesis takes naive bounds
    min_value=dt.datetime(1, 1, 2),  # noqa: DTZ001
    max_value=dt.datetime(9999, 12, 30),  # noqa: DTZ001
    timezones=st.sampled_from([dt.UTC]),
)


@given(
    text=st.lists(TEXT, min_size=11, max_size=11),
    seq=st.integers(min_value=1, max_value=2**63 - 1),
    case_id=IDS,
    actor_id=IDS,
    before=JSON,
    after=JSON,
    at=TIMES,
)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_event_canonical_is_the_generic_canonical_json(
    text: list[str], seq: int, case_id: int | None, actor_id: int | None, before: Any, after: Any, at: dt.datetime
) -> None:
    chain, username, name, role, action, object_type, object_id, reason, request_id, client, prev = text
    values = (chain, seq, at, case_id, actor_id, username, name, role, action, object_type, object_id, before, after,
              reason, request_id, client, prev)  # fmt: skip
    assert event_canonical(values, _timestamp(at)) == canonical_json(_payload(values))


@pytest.mark.parametrize(
    ("field", "value"),
    [("seq", "3"), ("seq", True), ("case_id", 1.0), ("actor_id", "7"), ("action", None), ("object_id", 42)],
)
def test_a_column_of_another_type_is_encoded_the_generic_way(field: str, value: Any) -> None:
    """A tampered schema (a column of another type) must still give the bytes the generic form
    gives, so it reads as altered, never as something else."""
    values: list[Any] = ["case-1", 3, None, 1, 2, "u", "n", "r", "a", "T", "9", None, {"x": 1}, "", "", "", "0" * 64]
    values[HASHED_FIELDS.index(field)] = value
    generic = dict(zip(HASHED_FIELDS, values, strict=True))
    generic["at"] = "2026-12-02T00:00:00.000000+00:00"
    assert event_canonical(tuple(values), generic["at"]) == canonical_json(generic)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "at",
    [
        dt.datetime(2026, 12, 2, 9, 0, 0, tzinfo=dt.UTC),  # no microseconds: SQLite stores no fraction
        dt.datetime(2026, 12, 2, 23, 59, 59, 999999, tzinfo=dt.UTC),
        dt.datetime(1999, 1, 1, 0, 0, 0, 1, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
    ],
)
def test_verify_reads_every_time_as_it_was_hashed(team, monkeypatch, at: dt.datetime) -> None:
    case = case_schedule(team)
    monkeypatch.setattr(audit_chain.timezone, "now", lambda: at)
    with transaction.atomic():
        audit.append(action="test.time", actor=None, case=case, after={"at": "same"})
        audit.append(action="test.time", actor=None, case=case, after={"at": "same"})  # the same JSON text twice
    report = audit.verify()
    assert report.ok, report.problems
