"""Each event keeps the exact bytes its hash covers; on PostgreSQL a CHECK constraint ties them to
the event's hash and columns (migration 0022), and ``verify_audit`` relies on them only while that
constraint is in force. Attacks as the owner, who can lift triggers and drop constraints."""

from __future__ import annotations

import hashlib
import importlib
import json
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction

from checklist import audit
from checklist.audit import verification
from checklist.models import AuditEvent, Case
from tests.support.tamper import as_owner, sql, unlocked
from tests.support.workflow import Team, case_schedule, evidence_record

pytestmark = pytest.mark.django_db

EVENTS = AuditEvent._meta.db_table
TIE = importlib.import_module("checklist.migrations.0022_issue13_event_canonical_bytes")


@pytest.fixture
def case(team: Team) -> Case:
    case = case_schedule(team)
    evidence_record(team, case)
    return case


def _events(case: Case) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(case=case).order_by("seq"))


def _messages(report: verification.VerifyReport) -> list[str]:
    return [problem.describe() for problem in report.problems]


def test_every_event_keeps_the_bytes_its_hash_covers(case: Case) -> None:
    events = _events(case)
    assert events
    for event in events:
        blob = bytes(event.canonical)
        assert blob == audit.event_bytes(event)
        assert hashlib.sha256(blob).hexdigest() == event.event_hash
        assert json.loads(blob)["seq"] == event.seq
    assert audit.verify().ok


postgres = pytest.mark.postgres


def _owner_update(statement: str, params: list[Any]) -> None:
    """As the owner, with the append-only triggers lifted but the constraint left in place."""
    with as_owner():
        sql("SET CONSTRAINTS ALL IMMEDIATE")
        sql(f"ALTER TABLE {EVENTS} DISABLE TRIGGER USER")
        try:
            with transaction.atomic():
                sql(statement, params)
        finally:
            sql(f"ALTER TABLE {EVENTS} ENABLE TRIGGER USER")
            sql("SET CONSTRAINTS ALL DEFERRED")


@postgres
@pytest.mark.parametrize(
    ("statement", "params"),
    [
        ("UPDATE {events} SET reason = %s WHERE id = %s", ["rewritten"]),  # a column, the bytes left alone
        ("UPDATE {events} SET after = %s WHERE id = %s", ['{"levels": "L3"}']),
        ("UPDATE {events} SET event_hash = %s WHERE id = %s", ["ab" * 32]),  # the hash, not the bytes
        ("UPDATE {events} SET canonical = %s WHERE id = %s", [b'{"seq":1}']),  # the bytes, not the columns
    ],
    ids=["column", "json-column", "hash", "bytes"],
)
def test_the_database_refuses_a_row_whose_columns_or_hash_leave_its_bytes(
    case: Case, statement: str, params: list[Any]
) -> None:
    event = _events(case)[1]
    with pytest.raises(IntegrityError, match=TIE.CONSTRAINT):
        _owner_update(statement.format(events=EVENTS), [*params, event.pk])
    assert audit.verify().ok


@postgres
def test_verify_relies_on_the_bytes_only_while_the_constraint_is_in_force(case: Case) -> None:
    report = verification.VerifyReport()
    assert verification._bytes_tied(report) and not report.problems


@postgres
def test_a_dropped_constraint_is_named_and_every_event_is_checked_from_its_columns(case: Case) -> None:
    event = _events(case)[1]
    with as_owner():
        sql("SET CONSTRAINTS ALL IMMEDIATE")
        sql(f"ALTER TABLE {EVENTS} DROP CONSTRAINT {TIE.CONSTRAINT}")
        sql(f"ALTER TABLE {EVENTS} DISABLE TRIGGER USER")
        sql(f"UPDATE {EVENTS} SET reason = %s WHERE id = %s", ["rewritten, bytes left alone", event.pk])  # noqa: S608
        sql(f"ALTER TABLE {EVENTS} ENABLE TRIGGER USER")
    problems = _messages(audit.verify())
    assert problems[0] == f"the database: {verification.TIE_MISSING.format(name=TIE.CONSTRAINT)}"
    assert any(p.startswith(f"chain {event.chain}, event #{event.seq}") and "content altered" in p for p in problems)


@postgres
def test_a_constraint_added_back_without_checking_the_rows_is_named(case: Case) -> None:
    event = _events(case)[1]
    with as_owner():
        sql("SET CONSTRAINTS ALL IMMEDIATE")
        sql(f"ALTER TABLE {EVENTS} DROP CONSTRAINT {TIE.CONSTRAINT}")
        sql(f"ALTER TABLE {EVENTS} DISABLE TRIGGER USER")
        sql(f"UPDATE {EVENTS} SET reason = %s WHERE id = %s", ["rewritten", event.pk])  # noqa: S608
        sql(f"ALTER TABLE {EVENTS} ENABLE TRIGGER USER")
        sql(f"ALTER TABLE {EVENTS} ADD CONSTRAINT {TIE.CONSTRAINT} CHECK ({TIE.CHECK}) NOT VALID")
    problems = _messages(audit.verify())
    assert problems[0] == f"the database: {verification.TIE_NOT_VALIDATED.format(name=TIE.CONSTRAINT)}"
    assert any("content altered" in p for p in problems), problems
    assert event.pk


@postgres
@pytest.mark.parametrize(
    "check",
    [
        "true",
        "canonical IS NULL OR event_hash = pg_catalog.encode(pg_catalog.sha256(canonical), 'hex')",
        # One column no longer tied: its value is taken from the bytes themselves.
        TIE.CHECK.replace(
            "'reason'::pg_catalog.text, reason,",
            "'reason'::pg_catalog.text, (pg_catalog.convert_from(canonical, 'UTF8')::jsonb ->> 'reason'),",
        ),
    ],
    ids=["always", "hash-only", "a-column-left-out"],
)
def test_a_constraint_of_the_same_name_that_checks_less_is_named(case: Case, check: str) -> None:
    event = _events(case)[1]
    with as_owner():
        sql("SET CONSTRAINTS ALL IMMEDIATE")
        sql(f"ALTER TABLE {EVENTS} DROP CONSTRAINT {TIE.CONSTRAINT}")
        sql(f"ALTER TABLE {EVENTS} ADD CONSTRAINT {TIE.CONSTRAINT} CHECK ({check})")
        sql(f"ALTER TABLE {EVENTS} DISABLE TRIGGER USER")
        sql(f"UPDATE {EVENTS} SET reason = %s WHERE id = %s", ["rewritten", event.pk])  # noqa: S608
        sql(f"ALTER TABLE {EVENTS} ENABLE TRIGGER USER")
    problems = _messages(audit.verify())
    assert problems[0] == f"the database: {verification.TIE_ALTERED.format(name=TIE.CONSTRAINT)}"
    assert any(p.startswith(f"chain {event.chain}, event #{event.seq}") for p in problems[1:]), problems


@postgres
def test_an_event_whose_bytes_were_cleared_is_checked_from_its_columns(case: Case) -> None:
    """The constraint lets an event without bytes through (the rows found rewritten when the bytes
    were introduced): verify rebuilds it from its columns, so clearing the bytes to edit the
    columns gains the attacker nothing."""
    event = _events(case)[2]
    with unlocked([EVENTS]):
        sql(f"UPDATE {EVENTS} SET canonical = NULL, reason = %s WHERE id = %s", ["rewritten", event.pk])  # noqa: S608
    problems = _messages(audit.verify())
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"chain {event.chain}, event #{event.seq} (id {event.pk}, action {event.action})")
    assert "content altered" in problems[0]


@postgres
def test_a_seal_event_is_still_checked_against_its_seal(case: Case) -> None:
    seal = audit.seal()
    sealed = AuditEvent.objects.get(chain=audit.SYSTEM_CHAIN, action=audit.SEALED_ACTION)
    assert audit.verify().ok
    after = {**sealed.after, "seal_hash": "cd" * 32}
    with unlocked([EVENTS]):
        sql(f"UPDATE {EVENTS} SET after = CAST(%s AS jsonb) WHERE id = %s", [json.dumps(after), sealed.pk])  # noqa: S608
    problems = _messages(audit.verify())
    assert any(f"records a different hash for seal #{seal.seq}" in p for p in problems), problems


@postgres
def test_the_migration_gives_bytes_to_intact_events_only(case: Case) -> None:
    """``canonical_fill`` (migration 0022) on a trail without bytes: an event whose columns still
    hash to its hash gets them; a rewritten one stays without, and the constraint is back."""
    events = _events(case)
    rewritten = events[1]
    from django.apps import apps

    with as_owner():
        sql("SET CONSTRAINTS ALL IMMEDIATE")
        sql(f"ALTER TABLE {EVENTS} DROP CONSTRAINT {TIE.CONSTRAINT}")
        sql(f"ALTER TABLE {EVENTS} DISABLE TRIGGER USER")
        sql(f"UPDATE {EVENTS} SET canonical = NULL")  # noqa: S608
        sql(f"UPDATE {EVENTS} SET reason = %s WHERE id = %s", ["rewritten", rewritten.pk])  # noqa: S608
        sql(f"ALTER TABLE {EVENTS} ENABLE TRIGGER USER")
        with connection.schema_editor(atomic=False) as editor:
            TIE.canonical_fill(apps, editor)
    kept = dict(AuditEvent.objects.filter(case=case).values_list("id", "canonical"))
    assert kept[rewritten.pk] is None
    assert all(bytes(blob) == audit.event_bytes(e) for e in events if (blob := kept[e.pk]) is not None)
    assert sum(blob is not None for blob in kept.values()) == len(events) - 1
    report = verification.VerifyReport()
    assert verification._bytes_tied(report), report.problems
    problems = _messages(audit.verify())
    assert len(problems) == 1 and "content altered" in problems[0], problems


def _verify_json(*args: str) -> tuple[int, dict[str, Any]]:
    import io

    from django.core.management import call_command

    out = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("verify_audit", "--no-progress", "--json", *args, stdout=out, stderr=io.StringIO())
    return int(exited.value.code or 0), json.loads(out.getvalue())


def test_from_columns_rebuilds_every_event_and_says_so(case: Case) -> None:
    code, report = _verify_json("--from-columns")
    assert code == 0 and report["read"] == "columns", report
    code, report = _verify_json()
    assert code == 0
    assert report["read"] == ("hashes" if connection.vendor == "postgresql" else "columns")


@postgres
def test_from_columns_names_a_column_edited_behind_a_constraint_that_was_made_to_look_in_force(case: Case) -> None:
    """What only a superuser who edits the catalogue could do (here: the constraint dropped, the
    column edited, the constraint added back NOT VALID and marked validated in pg_constraint is
    beyond the owner, so the column is edited with the bytes cleared instead): ``--from-columns``
    trusts no constraint and rebuilds the event from its columns."""
    event = _events(case)[1]
    with unlocked([EVENTS]):
        sql(f"UPDATE {EVENTS} SET reason = %s WHERE id = %s", ["rewritten", event.pk])  # noqa: S608
    code, report = _verify_json("--from-columns")
    assert code == 1 and report["read"] == "columns"
    assert report["first_problem"]["event_id"] == event.pk
    assert "content altered" in report["first_problem"]["message"]
