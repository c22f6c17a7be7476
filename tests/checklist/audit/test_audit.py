"""The audit trail is the record: append-only rows, hash chains per case and for the system, seals,
and ``verify_audit`` naming the first broken event after any kind of tampering.

Tampering is done the way an attacker with a SQL prompt would: raw SQL, after dropping the
append-only triggers with migration 0004's own code. Both happen inside the test's transaction,
so the DDL is rolled back with it (PostgreSQL and SQLite both have transactional DDL).
"""

from __future__ import annotations

import datetime as dt
import importlib
import io
import itertools
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from checklist import audit
from checklist.audit import chain as audit_chain
from checklist.audit import sealing
from checklist.models import AuditChainHead, AuditEvent, AuditSeal, Case
from checklist.tasks import audit_verify_nightly
from tests.support.tamper import as_owner, bytes_untied
from tests.support.workflow import Team, case_schedule, evidence_record

pytestmark = pytest.mark.django_db

TRIGGERS = importlib.import_module("checklist.migrations.0004_audit_append_only_triggers")
EVENTS = AuditEvent._meta.db_table
SEALS = AuditSeal._meta.db_table
HEADS = AuditChainHead._meta.db_table


# --- helpers -------------------------------------------------------------------------------------


class _RawEditor:
    """What migration 0004's functions need from a schema editor. (Django's SQLite schema editor
    refuses to open inside a transaction, and these tests must stay inside theirs.)"""

    connection = connection

    def execute(self, sql: str, params: Any = None) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


@contextmanager
def triggers_dropped() -> Iterator[None]:
    """As the owner (the application's role may neither drop triggers nor UPDATE audit rows)."""
    with as_owner():
        TRIGGERS.drop_triggers(None, _RawEditor())
        try:
            with bytes_untied():
                yield
        finally:
            TRIGGERS.create_triggers(None, _RawEditor())


def sql(statement: str, params: list[Any] | tuple[Any, ...] = (), **parts: str) -> int:
    """Run raw SQL; ``{events}``, ``{seals}``, ``{heads}`` and ``{json}`` (a JSON placeholder)
    and any ``parts`` are filled in first."""
    names = {"events": EVENTS, "seals": SEALS, "heads": HEADS, "json": json_placeholder(), **parts}
    with connection.cursor() as cursor:
        cursor.execute(statement.format(**names), params)
        return cursor.rowcount


def json_placeholder() -> str:
    return "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"


def verify_command(*args: str) -> tuple[int, str]:
    """Run ``manage.py verify_audit``; return (exit status, standard output)."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("verify_audit", "--no-progress", *args, stdout=out, stderr=err)
    return int(exited.value.code or 0), out.getvalue()


def events_of(case: Case) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(chain=audit.case_chain(case.pk)).order_by("seq"))


def named(event: AuditEvent) -> str:
    """How verify_audit names a still-present event."""
    return f"chain {event.chain}, event #{event.seq} (id {event.pk}, action {event.action})"


def first_line(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("First broken event:"))


@pytest.fixture
def cases(team: Team) -> tuple[Case, Case]:
    """Two cases with a few dozen events between them, on two chains (plus the system chain)."""
    first, second = case_schedule(team), case_schedule(team)
    evidence_record(team, first)
    evidence_record(team, second, levels="L3")
    assert len(events_of(first)) >= 8
    return first, second


# --- append-only triggers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "statement"),
    [
        (EVENTS, "UPDATE {events} SET action = 'tampered' WHERE id = %s"),
        (EVENTS, "DELETE FROM {events} WHERE id = %s"),
        (SEALS, "UPDATE {seals} SET event_count = 0 WHERE id = %s"),
        (SEALS, "DELETE FROM {seals} WHERE id = %s"),
    ],
    ids=["update-event", "delete-event", "update-seal", "delete-seal"],
)
def test_the_database_refuses_raw_update_and_delete_of_audit_rows(cases, table: str, statement: str) -> None:
    audit.seal()
    row_id = (AuditEvent if table == EVENTS else AuditSeal).objects.order_by("id").values_list("id", flat=True)[0]
    # As the owner: the triggers hold even for the role that owns the tables (the application's
    # role is refused earlier, by its privileges: tests/checklist/audit/test_db_roles.py).
    with as_owner(), pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        sql(statement, [row_id])
    # The savepoint rolled back; the row is still there, untouched, and the trail still verifies.
    assert (AuditEvent if table == EVENTS else AuditSeal).objects.filter(pk=row_id).exists()
    assert audit.verify().ok


def test_the_orm_cannot_edit_or_delete_audit_rows_either(cases) -> None:
    event = AuditEvent.objects.order_by("id").first()
    assert event is not None
    event.reason = "rewritten"
    with pytest.raises(DatabaseError), transaction.atomic():
        event.save()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(chain=event.chain).update(reason="rewritten")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).reason == ""


def test_whole_table_delete_is_refused(cases) -> None:
    count = AuditEvent.objects.count()
    with pytest.raises(DatabaseError), transaction.atomic():
        sql("DELETE FROM {events}")
    assert AuditEvent.objects.count() == count


@pytest.mark.postgres
def test_truncate_is_refused_on_postgresql(cases) -> None:
    """Row triggers do not see TRUNCATE; migration 0007's statement trigger does. (SQLite has no
    TRUNCATE: DELETE without WHERE fires the row triggers, tested above.)"""
    assert connection.vendor == "postgresql"
    with as_owner(), pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        sql("TRUNCATE {events}")
    with as_owner(), pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        sql("TRUNCATE {seals} CASCADE")  # (verification runs refer to seals)


# --- chains --------------------------------------------------------------------------------------


def test_each_case_has_its_own_contiguous_chain(cases) -> None:
    first, second = cases
    for case in cases:
        events = events_of(case)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert {e.case_id for e in events} == {case.pk}
        assert events[0].prev_hash == audit.GENESIS_HASH
        for previous, event in itertools.pairwise(events):
            assert event.prev_hash == previous.event_hash
        head = AuditChainHead.objects.get(chain=audit.case_chain(case.pk))
        assert (head.last_seq, head.last_hash) == (events[-1].seq, events[-1].event_hash)
    assert not {e.pk for e in events_of(first)} & {e.pk for e in events_of(second)}
    # Events outside any case (here: patient registrations) go to the system chain.
    system = list(AuditEvent.objects.filter(chain=audit.SYSTEM_CHAIN).order_by("seq"))
    assert [e.action for e in system] == ["patient.registered", "patient.registered"]
    assert all(e.case_id is None for e in system)


def test_appends_on_two_cases_interleave_without_sharing_a_chain(team) -> None:
    first, second = case_schedule(team), case_schedule(team)
    with transaction.atomic():
        a1 = audit.append(action="test.one", actor=team.nurse, case=first)
        b1 = audit.append(action="test.one", actor=team.nurse, case=second)
        a2 = audit.append(action="test.two", actor=team.nurse, case=first)
    assert (a1.chain, b1.chain) == (audit.case_chain(first.pk), audit.case_chain(second.pk))
    assert a2.seq == a1.seq + 1
    assert a2.prev_hash == a1.event_hash
    assert b1.prev_hash != a1.event_hash
    assert audit.verify().ok


def test_an_append_after_a_rolled_back_append_continues_the_chain_from_the_database(team) -> None:
    """The head an append leaves is remembered for the next append; a savepoint rolled back after
    it (or a head moved by anyone else) makes that hint stale, and the next append reads the head."""
    case = case_schedule(team)
    with transaction.atomic():
        kept = audit.append(action="test.kept", actor=team.nurse, case=case)
        with pytest.raises(RuntimeError), transaction.atomic():
            audit.append(action="test.rolled_back", actor=team.nurse, case=case)
            audit.append(action="test.rolled_back", actor=team.nurse, obj=case)  # the system chain too
            raise RuntimeError("undo both")
        after = audit.append(action="test.after", actor=team.nurse, case=case)
        system = audit.append(action="test.after", actor=team.nurse, obj=case)
    assert (after.seq, after.prev_hash) == (kept.seq + 1, kept.event_hash)
    previous = AuditEvent.objects.filter(chain=audit.SYSTEM_CHAIN, seq=system.seq - 1).get()
    assert system.prev_hash == previous.event_hash
    assert not AuditEvent.objects.filter(action="test.rolled_back").exists()
    # A head moved behind this thread's back (another process): the stale hint is not trusted.
    with transaction.atomic():
        audit.append(action="test.hinted", actor=team.nurse, case=case)
        head = AuditChainHead.objects.get(chain=audit.case_chain(case.pk))
        moved = audit_chain._event_build(
            head.chain, head.last_seq, head.last_hash, action="test.elsewhere", actor=None, case=case, obj=None,
            object_type="", object_id="", before=None, after=None, reason="",
        )  # fmt: skip
        moved.save(force_insert=True)
        AuditChainHead.objects.filter(pk=head.pk).update(last_seq=moved.seq, last_hash=moved.event_hash)
        last = audit.append(action="test.after_elsewhere", actor=team.nurse, case=case)
    assert (last.seq, last.prev_hash) == (moved.seq + 1, moved.event_hash)
    assert audit.verify().ok


def test_append_outside_a_transaction_is_refused(team, monkeypatch) -> None:
    case = case_schedule(team)
    # As in autocommit, outside the transaction every test runs in.
    monkeypatch.setattr(audit_chain, "connection", SimpleNamespace(in_atomic_block=False))
    with pytest.raises(RuntimeError, match="inside the transaction"):
        audit.append(action="test.loose", actor=team.nurse, case=case)


def test_the_hash_covers_every_column_but_the_id_and_itself(cases) -> None:
    columns = {f.attname for f in AuditEvent._meta.concrete_fields}
    assert columns - set(audit.HASHED_FIELDS) - set(audit.OPTIONAL_HASHED_FIELDS) == {
        "id",
        "event_hash",
        "mac",
        "mac_key_id",
        "canonical",  # the hashed bytes themselves
    }, "a new audit column must be hashed"
    event = events_of(cases[0])[2]
    original = audit.event_hash(event)
    assert original == event.event_hash
    changes: dict[str, Any] = {
        "chain": "case-999999",
        "seq": event.seq + 1,
        "at": event.at + dt.timedelta(microseconds=1),
        "case_id": 999999,
        "actor_id": 999999,
        "actor_username": "mallory",
        "actor_name": "Mallory",
        "actor_role": "admin",
        "action": "consent.withdrawn",
        "object_type": "Forged",
        "object_id": "999999",
        "before": {"levels": "L3"},
        "after": {"levels": "L4"},
        "reason": "none",
        "request_id": "forged",
        "client": "psql",
        "prev_hash": "f" * 64,
    }
    assert set(changes) == set(audit.HASHED_FIELDS)
    for name, value in changes.items():
        saved = getattr(event, name)
        setattr(event, name, value)
        assert audit.event_hash(event) != original, f"{name} is not covered by the hash"
        setattr(event, name, saved)
    assert audit.event_hash(event) == original


def test_canonical_json_is_stable() -> None:
    assert audit.canonical_json({"b": 1, "a": [1, "é"]}) == '{"a":[1,"é"],"b":1}'.encode()
    assert audit.canonical_json({"a": 1, "b": 2}) == audit.canonical_json({"b": 2, "a": 1})


def test_json_values_hash_the_same_after_a_round_trip_through_the_database(team) -> None:
    """PostgreSQL's jsonb rewrites some numbers (1e20 comes back as an integer, -0.0 as 0); the
    appended hash must be the one recomputed from the stored row."""
    case = case_schedule(team)
    odd = {"big": 1e20, "neg_zero": -0.0, "small": 1.5e-7, "third": 1 / 3, "when": dt.date(2024, 2, 29), "n": 2**70}
    with transaction.atomic():
        audit.append(action="test.numbers", actor=None, case=case, after=odd, before=["ü", None, True])
    assert audit.verify().ok
    with pytest.raises(ValueError), transaction.atomic():
        audit.append(action="test.nan", actor=None, case=case, after={"x": float("nan")})


# --- verify and seal on an intact trail -----------------------------------------------------------


def test_verify_audit_exits_0_with_a_summary_on_an_intact_trail(cases) -> None:
    code, out = verify_command()
    total = AuditEvent.objects.count()
    assert code == 0
    assert out.strip() == (
        f"Audit trail intact: {total} events in 3 chains, 0 seals verified. "
        "Time-stamps: time-stamping is off (TSA_URL is empty): no seal is time-stamped."
    )


def test_seal_audit_seals_every_chain_and_a_sealed_trail_verifies(cases) -> None:
    out = io.StringIO()
    call_command("seal_audit", stdout=out)
    total_before = AuditEvent.objects.count() - 1  # the seal's own event is appended after it
    assert f"seal #1, 3 chain(s), {total_before} event(s)" in out.getvalue()
    call_command("seal_audit", stdout=out)
    first, second = AuditSeal.objects.order_by("seq")
    assert second.prev_hash == first.seal_hash
    assert set(second.heads) == {"system", *(audit.case_chain(c.pk) for c in cases)}
    assert second.event_count == sum(seq for seq, _ in second.heads.values())
    sealed_events = AuditEvent.objects.filter(action="audit.sealed").order_by("seq")
    assert [e.after["seal"] for e in sealed_events] == [1, 2]
    assert sealed_events[1].client == "manage.py seal_audit"
    code, out_text = verify_command()
    assert code == 0
    assert "2 seals verified. Time-stamps: time-stamping is off" in out_text


def test_verify_reports_progress_for_every_event(cases) -> None:
    seen: list[int] = []
    report = audit.verify(progress=seen.append)
    assert report.ok
    assert sum(seen) == report.events == AuditEvent.objects.count()


def test_the_progress_bar_shows_on_long_runs_or_when_asked(cases, capsys, monkeypatch) -> None:
    from checklist.management.commands import verify_audit

    with pytest.raises(SystemExit):
        call_command("verify_audit", "--progress", stdout=io.StringIO())
    assert "verify_audit" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        call_command("verify_audit", stdout=io.StringIO())
    assert "verify_audit" not in capsys.readouterr().err  # a short trail: no bar
    monkeypatch.setattr(verify_audit, "PROGRESS_THRESHOLD", 1)
    with pytest.raises(SystemExit):
        call_command("verify_audit", stdout=io.StringIO())
    assert "verify_audit" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        call_command("verify_audit", "--no-progress", stdout=io.StringIO())
    assert capsys.readouterr().err == ""


# --- tampering -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "make_value"),
    [
        ("action", lambda e, other: "consent.withdrawn"),
        ("actor_username", lambda e, other: "mallory"),
        ("actor_id", lambda e, other: other.pk),
        ("reason", lambda e, other: "quietly corrected"),
        ("object_id", lambda e, other: "424242"),
        ("at", lambda e, other: e.at - dt.timedelta(hours=1)),
        ("before", lambda e, other: {"levels": "L3", "side": "right"}),
        ("after", lambda e, other: {"levels": "L3", "side": "right"}),
    ],
)
def test_an_edited_event_is_named(team, cases, column: str, make_value: Any) -> None:
    event = events_of(cases[0])[3]
    value = make_value(event, team.quality)
    placeholder = "%s"
    if column in ("before", "after"):
        value, placeholder = json.dumps(value), json_placeholder()
    elif column == "at":
        value = connection.ops.adapt_datetimefield_value(value)
    with triggers_dropped():
        assert (
            sql(
                "UPDATE {events} SET {column} = {placeholder} WHERE id = %s",
                [value, event.pk],
                column=column,
                placeholder=placeholder,
            )
            == 1
        )
    tampered = AuditEvent.objects.get(pk=event.pk)
    code, out = verify_command()
    assert code == 1
    assert first_line(out) == f"First broken event: {named(tampered)}: " + (
        f"content altered: stored hash {event.event_hash[:12]}… but the content hashes to "
        f"{audit.event_hash(tampered)[:12]}…"
    )
    further = audit.verify().problems[1:]
    if column in ("object_id", "after"):
        # The plan row no longer matches what the trail says about it (checklist/audit/reconcile.py).
        assert further and all("audit event" in p.message for p in further)
    else:
        assert "No further problems." in out
    assert {p.chain for p in audit.verify().problems} == {event.chain}


def test_an_edited_event_whose_hash_was_recomputed_is_named_by_its_mac_and_the_next_link(cases) -> None:
    events = events_of(cases[0])
    event, following = events[3], events[4]
    event.after = {"levels": "L3"}
    forged = audit.event_hash(event)
    with triggers_dropped():
        sql(
            "UPDATE {events} SET after = {json}, event_hash = %s WHERE id = %s",
            [json.dumps(event.after), forged, event.pk],
        )
    code, out = verify_command("--all")
    assert code == 1
    assert first_line(out) == f"First broken event: {named(event)}: {audit.EVENT_MAC_INVALID}"
    assert f"{named(following)}: link to the previous event broken" in out


def test_a_deleted_middle_event_is_named(cases) -> None:
    events = events_of(cases[0])
    gone, next_one = events[4], events[5]
    with triggers_dropped():
        assert sql("DELETE FROM {events} WHERE id = %s", [gone.pk]) == 1
    code, out = verify_command()
    assert code == 1
    assert first_line(out) == (f"First broken event: {named(next_one)}: sequence broken: event #{gone.seq} is missing")
    messages = [p.message for p in audit.verify().problems[1:]]
    assert messages[0].startswith("link to the previous event broken")  # at the same event
    # and the record the deleted event was about no longer matches the trail (or has none).
    assert all("audit event" in m for m in messages[1:])


def test_a_tail_deleted_after_a_seal_is_named_as_truncated(cases) -> None:
    audit.seal()
    _truncate_and_expect_it_named(cases[0], keep=-3)


def _truncate_and_expect_it_named(case: Case, *, keep: int) -> None:
    """Delete the case chain's tail after ``events[keep]``, wind its head back as a careful
    attacker would, and check that verify_audit names the sealed event that is gone."""
    events = events_of(case)
    last, new_last = events[-1], events[keep]
    chain = last.chain
    with triggers_dropped():
        sql("DELETE FROM {events} WHERE chain = %s AND seq > %s", [chain, new_last.seq])
        sql(
            "UPDATE {heads} SET last_seq = %s, last_hash = %s WHERE chain = %s",
            [new_last.seq, new_last.event_hash, chain],
        )
    code, out = verify_command()
    assert code == 1
    assert first_line(out) == (
        f"First broken event: chain {chain}, event #{last.seq}: "
        f"sealed event #{last.seq} is missing: the chain was truncated (it now ends at event #{new_last.seq}) "
        "after it was sealed"
    )


def test_a_whole_case_chain_deleted_after_a_seal_is_named(cases) -> None:
    audit.seal()
    victim = cases[1]
    chain = audit.case_chain(victim.pk)
    last = events_of(victim)[-1]
    with triggers_dropped():
        sql("DELETE FROM {events} WHERE chain = %s", [chain])
        sql("DELETE FROM {heads} WHERE chain = %s", [chain])
    code, out = verify_command("--all")
    assert code == 1
    assert first_line(out) == (
        f"First broken event: chain {chain}, event #{last.seq}: "
        f"sealed event #{last.seq} is missing: the chain was deleted after it was sealed"
    )
    assert f"case {victim.pk} has no audit trail at all" in out


# --- incremental seals ---------------------------------------------------------------------------


def _note(case: Case) -> None:
    with transaction.atomic():
        audit.append(action="test.noted", actor=None, case=case, after={"n": 1})


def _seal_committed(capture) -> AuditSeal:
    """Seal as production does: the heads are marked sealed once the seal has committed."""
    with capture(execute=True):
        return audit.seal()


def test_a_seal_records_only_the_chains_that_moved_since_the_one_before(
    cases, django_capture_on_commit_callbacks
) -> None:
    first = _seal_committed(django_capture_on_commit_callbacks)
    chains = set(AuditChainHead.objects.exclude(last_seq=0).values_list("chain", flat=True)) - {audit.SYSTEM_CHAIN}
    assert chains == {audit.case_chain(c.pk) for c in cases}
    assert chains | {audit.SYSTEM_CHAIN} == set(first.heads)

    _note(cases[0])
    second = _seal_committed(django_capture_on_commit_callbacks)
    # The case that moved, and the system chain (the first seal's own event moved it).
    assert set(second.heads) == {audit.case_chain(cases[0].pk), audit.SYSTEM_CHAIN}
    assert second.heads[audit.case_chain(cases[0].pk)][0] == events_of(cases[0])[-1].seq
    # event_count still counts every event in every chain when the seal was taken.
    assert second.event_count == AuditEvent.objects.count() - 1  # less the second seal's own event

    third = _seal_committed(django_capture_on_commit_callbacks)
    assert set(third.heads) == {audit.SYSTEM_CHAIN}
    code, out = verify_command()
    assert code == 0, out
    assert "3 seals verified. Time-stamps:" in out


def test_a_chain_sealed_only_by_an_older_seal_is_still_protected(cases, django_capture_on_commit_callbacks) -> None:
    _seal_committed(django_capture_on_commit_callbacks)
    _note(cases[0])
    latest = _seal_committed(django_capture_on_commit_callbacks)
    quiet = audit.case_chain(cases[1].pk)
    assert quiet not in latest.heads  # sealed by seal #1 only
    _truncate_and_expect_it_named(cases[1], keep=-2)


def test_a_lost_sealed_mark_only_means_a_chain_is_sealed_again(cases, django_capture_on_commit_callbacks) -> None:
    """The marks are written after the seal commits; a crash in between loses them. The next seal
    then records those chains again, at the same heads, which the verification accepts."""
    with django_capture_on_commit_callbacks(execute=False):
        first = audit.seal()  # committed, but its marks never written
    assert set(AuditChainHead.objects.values_list("sealed_seq", flat=True)) == {0}
    second = _seal_committed(django_capture_on_commit_callbacks)
    assert set(second.heads) >= set(first.heads) - {audit.SYSTEM_CHAIN}
    for chain in set(first.heads) - {audit.SYSTEM_CHAIN}:
        assert second.heads[chain] == first.heads[chain]
    code, out = verify_command()
    assert code == 0, out
    # A mark never goes backwards, even if an older seal's marks arrive late.
    head = AuditChainHead.objects.get(chain=audit.case_chain(cases[0].pk))
    sealing._heads_mark_sealed([(head.pk, 1)])
    head.refresh_from_db()
    assert head.sealed_seq == head.last_seq


def test_a_case_chain_deleted_before_any_seal_is_still_detected(cases) -> None:
    victim = cases[0]
    with triggers_dropped():
        sql("DELETE FROM {events} WHERE case_id = %s", [victim.pk])
        sql("DELETE FROM {heads} WHERE chain = %s", [audit.case_chain(victim.pk)])
    code, out = verify_command()
    assert code == 1
    assert first_line(out) == (
        f"First broken event: chain {audit.case_chain(victim.pk)}: case {victim.pk} has no audit trail at all"
    )


def test_a_forged_event_appended_with_a_bogus_hash_is_named(team, cases) -> None:
    last = events_of(cases[0])[-1]
    at = connection.ops.adapt_datetimefield_value(last.at + dt.timedelta(seconds=5))
    with triggers_dropped():
        sql(
            "INSERT INTO {events} (chain, seq, case_id, at, actor_id, actor_username, actor_name, actor_role, "
            "action, object_type, object_id, before, after, reason, request_id, client, prev_hash, event_hash) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, '', '', NULL, {json}, '', '', '', %s, %s)",
            [
                last.chain,
                last.seq + 1,
                last.case_id,
                at,
                team.surgeon.pk,
                team.surgeon.username,
                team.surgeon.full_name,
                "surgeon",
                "localization.confirmed",
                json.dumps({"level": "L2"}),
                last.event_hash,
                "0123456789abcdef" * 4,
            ],
        )
    forged = AuditEvent.objects.get(chain=last.chain, seq=last.seq + 1)
    code, out = verify_command()
    assert code == 1
    assert first_line(out).startswith(f"First broken event: {named(forged)}: content altered")


@pytest.mark.parametrize("how", ["swap-content", "swap-seq"])
def test_two_reordered_events_are_named(cases, how: str) -> None:
    events = events_of(cases[0])
    a, b = events[2], events[5]
    with triggers_dropped():
        if how == "swap-content":
            columns = [c for c in audit.HASHED_FIELDS if c not in ("chain", "seq")] + ["event_hash"]
            rows = {
                row[0]: row[1:] for row in AuditEvent.objects.filter(pk__in=[a.pk, b.pk]).values_list("pk", *columns)
            }
            assignments = ", ".join(
                f"{c} = {json_placeholder() if c in ('before', 'after') else '%s'}" for c in columns
            )
            for target, source in ((a.pk, b.pk), (b.pk, a.pk)):
                values = [
                    json.dumps(v) if c in ("before", "after") and v is not None else v
                    for c, v in zip(columns, rows[source], strict=True)
                ]
                values = [
                    connection.ops.adapt_datetimefield_value(v) if c == "at" else v
                    for c, v in zip(columns, values, strict=True)
                ]
                sql("UPDATE {events} SET {assignments} WHERE id = %s", [*values, target], assignments=assignments)
        else:
            sql("UPDATE {events} SET seq = %s WHERE id = %s", [10**9, a.pk])
            sql("UPDATE {events} SET seq = %s WHERE id = %s", [a.seq, b.pk])
            sql("UPDATE {events} SET seq = %s WHERE id = %s", [b.seq, a.pk])
    now_at_a = AuditEvent.objects.get(chain=a.chain, seq=a.seq)
    code, out = verify_command()
    assert code == 1
    assert first_line(out).startswith(f"First broken event: {named(now_at_a)}: ")
    problems = audit.verify().problems
    assert {p.seq for p in problems} >= {a.seq, b.seq}


def test_an_edited_seal_is_named(cases) -> None:
    seal = audit.seal()
    with triggers_dropped():
        sql("UPDATE {seals} SET event_count = event_count + 1 WHERE id = %s", [seal.pk])
    code, out = verify_command()
    assert code == 1
    # The seal log is reported after the chains; the seal's own event in the system chain is fine.
    assert first_line(out) == f"First broken event: seal #1 (id {seal.pk}): seal content altered"


# --- keyed seals -----------------------------------------------------------------------------------


def test_a_seal_rewritten_without_the_key_is_named(cases) -> None:
    """Someone who can write the tables recomputes the seal's hash after editing it, as the
    published algorithm allows; without the server's key the MAC gives them away."""
    seal = audit.seal()
    assert len(seal.mac) == 64 and seal.mac_key_id == next(iter(audit.seal_keys()))
    seal.event_count += 1
    forged_hash = audit.seal_hash(seal)
    with triggers_dropped():
        sql(
            "UPDATE {seals} SET event_count = %s, seal_hash = %s WHERE id = %s",
            [seal.event_count, forged_hash, seal.pk],
        )
    code, out = verify_command("--all")
    assert code == 1
    assert f"seal #1 (id {seal.pk}): {audit.SEAL_MAC_INVALID}" in out


def test_a_removed_mac_is_named_unless_a_keyed_seal_follows(cases) -> None:
    first = audit.seal()
    with triggers_dropped():
        sql("UPDATE {seals} SET mac = '', mac_key_id = '' WHERE id = %s", [first.pk])
    code, out = verify_command()
    assert code == 1
    assert first_line(out) == f"First broken event: seal #1 (id {first.pk}): {audit.SEAL_UNKEYED}"
    # A seal from before keyed seals is vouched for by the keyed seal after it (its hash covers
    # the earlier seal's hash).
    audit.seal()
    code, out = verify_command()
    assert code == 0, out


def test_rotating_the_audit_key_keeps_old_seals_checkable_through_the_fallbacks(cases, settings) -> None:
    seal = audit.seal()
    old_key = settings.AUDIT_KEY
    settings.AUDIT_KEY = "a-new-audit-key-after-rotation-0123456789abcdefghijklmnopqrstuv"
    settings.AUDIT_KEY_FALLBACKS = [old_key]
    code, out = verify_command()
    assert code == 0, out
    settings.AUDIT_KEY_FALLBACKS = []
    code, out = verify_command("--json")
    assert code == 1
    report = json.loads(out)
    unknown = audit.SEAL_KEY_UNKNOWN.format(key_id=seal.mac_key_id)
    assert f"seal #1 (id {seal.pk}): {unknown}" in [p["description"] for p in report["problems"]]
    # Every event keyed with the old key is named too.
    assert audit.EVENT_KEY_UNKNOWN.format(key_id=seal.mac_key_id) in report["first_problem"]["message"]


def test_a_deleted_last_seal_is_named_through_its_event(cases) -> None:
    audit.seal()
    second = audit.seal()
    sealed_event = AuditEvent.objects.get(action="audit.sealed", after__seal=2)
    with triggers_dropped():
        sql("DELETE FROM {seals} WHERE id = %s", [second.pk])
    code, out = verify_command()
    assert code == 1
    assert first_line(out) == f"First broken event: {named(sealed_event)}: records seal #2, which is missing"


def test_json_report_lists_every_problem(cases) -> None:
    events = events_of(cases[0])
    with triggers_dropped():
        sql("UPDATE {events} SET reason = 'x' WHERE id IN (%s, %s)", [events[1].pk, events[6].pk])
    code, out = verify_command("--json")
    report = json.loads(out)
    assert code == 1
    assert report["ok"] is False
    assert report["problem_count"] == 2
    assert report["first_problem"]["chain"] == events[1].chain
    assert report["first_problem"]["seq"] == events[1].seq
    assert report["first_problem"]["event_id"] == events[1].pk
    assert report["first_problem"]["action"] == events[1].action
    assert [p["seq"] for p in report["problems"]] == [events[1].seq, events[6].seq]


def test_the_nightly_task_logs_the_first_broken_event_and_still_seals(cases, caplog) -> None:
    event = events_of(cases[1])[2]
    with triggers_dropped():
        sql("UPDATE {events} SET reason = 'x' WHERE id = %s", [event.pk])
    with caplog.at_level(logging.INFO):
        result = audit_verify_nightly.delay().get()
    assert result["ok"] is False
    assert result["problems"] == 1
    assert result["seal"] == 1
    critical = [r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(critical) == 1
    assert f"chain {event.chain}, event #{event.seq} (id {event.pk}" in critical[0]


# --- the demo data ---------------------------------------------------------------------------------


def test_the_seeded_demo_verifies_and_a_tampered_demo_event_is_named() -> None:
    call_command("seed_demo", stdout=io.StringIO())
    code, out = verify_command()
    assert code == 0, out
    assert out.startswith("Audit trail intact:")
    event = AuditEvent.objects.filter(case__isnull=False).order_by("chain", "seq").first()
    assert event is not None, "seed_demo creates demo cases"
    with triggers_dropped():
        sql("UPDATE {events} SET actor_username = 'mallory' WHERE id = %s", [event.pk])
    code, out = verify_command()
    assert code == 1
    assert first_line(out).startswith(
        f"First broken event: chain {event.chain}, event #{event.seq} (id {event.pk}, action {event.action}): "
        "content altered"
    )


def test_an_event_moved_to_another_case_is_named(cases) -> None:
    event = events_of(cases[0])[2]
    with triggers_dropped():
        sql("UPDATE {events} SET case_id = %s WHERE id = %s", [cases[1].pk, event.pk])
    code, out = verify_command("--all")
    assert code == 1
    assert first_line(out) == (f"First broken event: {named(event)}: filed in the wrong chain (case id {cases[1].pk})")
    assert "content altered" in out


@pytest.mark.postgres
def test_an_event_time_moved_to_the_same_day_bc_is_named(cases) -> None:
    """PostgreSQL prints 2026 BC as 2026 (``YYYY``): verify, which has the database format the time,
    must still see the era."""
    event = events_of(cases[0])[3]
    with triggers_dropped():
        moved = "(((at AT TIME ZONE 'UTC')::text || ' BC')::timestamp AT TIME ZONE 'UTC')"
        assert sql(f"UPDATE {{events}} SET at = {moved} WHERE id = %s", [event.pk]) == 1  # noqa: S608
    problem = audit.verify().first_problem
    assert problem is not None
    assert (problem.event_id, problem.seq) == (event.pk, event.seq)
    assert problem.message.startswith(f"content altered: stored hash {event.event_hash[:12]}…")


@pytest.mark.postgres
def test_a_to_char_of_the_attackers_on_the_search_path_cannot_hide_a_moved_time(cases) -> None:
    """verify has PostgreSQL format the time: every function it calls is pg_catalog's, named so,
    whatever schema comes first on the search path and whatever it defines there."""
    event = events_of(cases[0])[3]
    hashed_with = event.at.astimezone(dt.UTC).isoformat(timespec="microseconds")  # as canonical writes it
    with triggers_dropped():
        assert sql("UPDATE {events} SET at = at + interval '1 hour' WHERE id = %s", [event.pk]) == 1
    with as_owner():
        sql("CREATE SCHEMA IF NOT EXISTS forged")
        for signature in ("timestamp without time zone, text", "timestamp with time zone, text"):
            sql(
                f"CREATE FUNCTION forged.to_char({signature}) RETURNS text LANGUAGE sql AS $$ SELECT '{hashed_with}' $$"
            )
        sql("GRANT USAGE ON SCHEMA forged TO PUBLIC")
    try:
        sql("SET search_path = forged, pg_catalog, public")
        problem = audit.verify().first_problem
    finally:
        sql("RESET search_path")
        with as_owner():
            sql("DROP SCHEMA forged CASCADE")
    assert problem is not None and (problem.event_id, problem.seq) == (event.pk, event.seq)
    assert problem.message.startswith("content altered")
