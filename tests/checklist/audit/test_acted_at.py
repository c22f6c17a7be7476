"""X-Acted-At (issue 18, item 2): the time the person acted on their device is recorded on every
audit event of the request beside the server's time, covered by the hash and the MAC when present,
while every event without one hashes exactly as before."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from checklist import audit, services
from checklist.audit.canonical import HASHED_FIELDS, _payload, _timestamp, canonical_json, event_canonical
from checklist.models import AuditEvent, Case, StepAttestation
from core.request_context import (
    ACTED_AT_FUTURE,
    ACTED_AT_HEADER,
    ACTED_AT_NO_OFFSET,
    ACTED_AT_UNPARSEABLE,
    acted_at_parse,
)
from tests.support.api_workflow import token_client
from tests.support.tamper import sql, unlocked
from tests.support.workflow import Team, case_schedule, evidence_record

pytestmark = pytest.mark.django_db

# Two days before the request, an hour east of UTC: a queue a tablet kept offline.
OFFLINE = "2026-12-01T08:15:30.250000+01:00"


def _ready(team: Team) -> Case:
    case = case_schedule(team)
    evidence_record(team, case)
    services.case_patient_in_room(actor=team.nurse, case=case.pk)
    return Case.objects.get(pk=case.pk)


def _attest(team: Team, case: Case, acted_at: str | None, client: Any = None) -> Any:
    headers = {} if acted_at is None else {ACTED_AT_HEADER: acted_at}
    body = {"expected_version": case.evidence_version, "role": "nurse"}
    url = f"/api/v1/cases/{case.pk}/steps/consent_signed/attest/"
    return (client or token_client(team.nurse)).post(url, body, format="json", headers=headers)


def _legacy_hash(event: AuditEvent) -> str:
    """The hash as it was computed before issue 18 (no acted_at in the canonical JSON)."""
    payload = dict(zip(HASHED_FIELDS, [getattr(event, name) for name in HASHED_FIELDS], strict=True))
    payload["at"] = _timestamp(event.at)
    return hashlib.sha256(canonical_json(payload)).hexdigest()


def _content_altered(event: AuditEvent) -> list[str]:
    report = audit.verify(reconcile_records=False)
    return [p.message for p in report.problems if p.event_id == event.pk and "content altered" in p.message]


def test_every_event_of_the_request_records_the_device_time_and_the_server_time(team: Team) -> None:
    case = _ready(team)
    before = timezone.now()
    response = _attest(team, case, OFFLINE)
    assert response.status_code == 201, response.content
    events = list(AuditEvent.objects.filter(at__gte=before, request_id=response["X-Request-ID"]))
    assert events and {e.action for e in events} >= {"step.attested"}
    expected = dt.datetime(2026, 12, 1, 7, 15, 30, 250000, tzinfo=dt.UTC)
    for event in events:
        assert event.acted_at == expected
        assert event.at >= before  # the server's own time is kept as well
        assert event.acted_at_differs
        assert event.event_hash == audit.event_hash(event) != _legacy_hash(event)
    assert StepAttestation.objects.count() == 1
    assert audit.verify().ok


def test_events_without_a_device_time_hash_as_before_and_verify(team: Team) -> None:
    case = _ready(team)
    assert _attest(team, case, None).status_code == 201
    events = list(AuditEvent.objects.all())
    assert events and all(e.acted_at is None for e in events)
    assert all(e.event_hash == _legacy_hash(e) for e in events)
    assert audit.verify().ok


@pytest.mark.parametrize("how", ["shift", "remove"])
def test_an_altered_device_time_is_named_by_verify(team: Team, how: str) -> None:
    case = _ready(team)
    assert _attest(team, case, OFFLINE).status_code == 201
    event = AuditEvent.objects.filter(action="step.attested").get()
    assert not _content_altered(event)
    with unlocked():
        if how == "shift":
            value = connection.ops.adapt_datetimefield_value(event.acted_at + dt.timedelta(hours=1))
            assert sql("UPDATE checklist_audit_event SET acted_at = %s WHERE id = %s", [value, event.pk]) == 1
        else:
            assert sql("UPDATE checklist_audit_event SET acted_at = NULL WHERE id = %s", [event.pk]) == 1
    assert _content_altered(event), "verify must name the event whose acted_at was changed"
    report = audit.verify(reconcile_records=False)
    assert report.first_problem is not None and report.first_problem.event_id == event.pk


def test_a_device_time_added_to_an_old_event_is_named_by_verify(team: Team) -> None:
    case = _ready(team)
    event = AuditEvent.objects.filter(case=case).order_by("seq").first()
    assert event is not None and event.acted_at is None
    with unlocked():
        value = connection.ops.adapt_datetimefield_value(event.at - dt.timedelta(days=1))
        assert sql("UPDATE checklist_audit_event SET acted_at = %s WHERE id = %s", [value, event.pk]) == 1
    assert _content_altered(event)


def test_the_device_time_is_under_the_mac_too(team: Team) -> None:
    """Recomputing the hash after changing acted_at (what someone without AUDIT_KEY can do) still
    leaves the MAC, which covers the hash, invalid."""
    case = _ready(team)
    assert _attest(team, case, OFFLINE).status_code == 201
    event = AuditEvent.objects.filter(action="step.attested").get()
    event.acted_at = event.acted_at - dt.timedelta(hours=3)
    forged = audit.event_hash(event)
    with unlocked():
        value = connection.ops.adapt_datetimefield_value(event.acted_at)
        sql(
            "UPDATE checklist_audit_event SET acted_at = %s, event_hash = %s WHERE id = %s",
            [value, forged, event.pk],
        )
    report = audit.verify(reconcile_records=False)
    assert any(p.event_id == event.pk and "MAC" in p.message.upper() for p in report.problems), report.problems


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("yesterday", ACTED_AT_UNPARSEABLE),
        ("2026-13-01T00:00:00+00:00", ACTED_AT_UNPARSEABLE),
        ("2026-12-01T08:15:30", ACTED_AT_NO_OFFSET),
        ("future", None),
    ],
)
def test_a_bad_device_time_is_a_400_and_writes_nothing(team: Team, value: str, message: str | None) -> None:
    case = _ready(team)
    if value == "future":
        value = (timezone.now() + dt.timedelta(hours=25)).isoformat()
        message = ACTED_AT_FUTURE.format(hours=24)
    client = token_client(team.nurse)  # its token.created event is counted
    events = AuditEvent.objects.count()
    response = _attest(team, case, value, client)
    assert response.status_code == 400
    assert response.json() == {"detail": message, "errors": {ACTED_AT_HEADER: [message]}}
    assert AuditEvent.objects.count() == events
    assert not StepAttestation.objects.exists()


def test_a_page_post_with_a_bad_device_time_is_a_400_too(team: Team) -> None:
    client = Client()
    client.force_login(team.nurse)
    response = client.post("/cases/new/", {}, headers={ACTED_AT_HEADER: "2026-12-01 08:15"})
    assert response.status_code == 400
    assert ACTED_AT_NO_OFFSET in response.content.decode()


def test_the_parse_rules() -> None:
    now = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)
    limit = dt.timedelta(hours=24)
    assert acted_at_parse("2026-12-03T09:00:00Z", now=now, max_future=limit) == now
    assert acted_at_parse("2026-12-04T08:59:00+00:00", now=now, max_future=limit) > now  # clock a little ahead
    assert acted_at_parse("2025-01-01T00:00:00-05:00", now=now, max_future=limit).year == 2025  # an old queue
    with pytest.raises(ValueError, match="hours or more after"):
        acted_at_parse("2026-12-04T09:00:01+00:00", now=now, max_future=limit)


def test_the_fast_canonical_form_matches_the_generic_one_with_a_device_time() -> None:
    values = ("case-1", 3, None, 1, 2, "u", "n", "r", "a", "T", "9", None, {"x": 1}, "", "", "", "0" * 64)
    at = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)
    acted = dt.datetime(2026, 12, 1, 7, 15, 30, 250000, tzinfo=dt.UTC)
    full = (*values[:2], at, *values[3:])
    assert event_canonical(full, _timestamp(at), acted_at=_timestamp(acted)) == canonical_json(_payload(full, acted))
    assert event_canonical(full, _timestamp(at)) == canonical_json(_payload(full))
    assert b'"acted_at"' not in event_canonical(full, _timestamp(at))


def test_the_trail_shows_both_times_when_they_differ(team: Team) -> None:
    case = _ready(team)
    assert _attest(team, case, OFFLINE).status_code == 201
    client = token_client(team.quality)
    trail = client.get(f"/api/v1/cases/{case.pk}/audit/")
    assert trail.status_code == 200, trail.content
    attested = [e for e in trail.json()["events"] if e["action"] == "step.attested"]
    assert attested and dt.datetime.fromisoformat(attested[0]["acted_at"]) == dt.datetime.fromisoformat(OFFLINE)
    assert all(e["acted_at"] is None for e in trail.json()["events"] if e["action"] == "case.scheduled")
    page = Client()
    page.force_login(team.quality)
    html = page.get(f"/quality/cases/{case.pk}/").content.decode()
    assert "acted on device at" in html and "received at" in html
