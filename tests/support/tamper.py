"""Tampering the way an attacker with a SQL prompt would, for the tests that prove it is refused
or named by ``verify_audit``.

On PostgreSQL the suite logs in as the owner role (which created the test database and ran the
migrations) and runs as the application role (``SET ROLE``, Django's ``assume_role``), so every
test exercises the application's real privileges. ``as_owner()`` is the attacker who also holds
the owner's credentials: ``RESET ROLE`` inside the test's own transaction, so what they do is
rolled back with it. On SQLite there are no roles and it does nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

from django.db import connection


def app_role() -> str:
    """The role the application runs as in this test session ('' on SQLite or without roles)."""
    return str(connection.settings_dict.get("OPTIONS", {}).get("assume_role") or "")


@contextmanager
def as_owner() -> Iterator[None]:
    role = app_role()
    if connection.vendor != "postgresql" or not role:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("RESET ROLE")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"SET ROLE {connection.ops.quote_name(role)}")


def current_role() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user" if connection.vendor == "postgresql" else "SELECT ''")
        return str(cursor.fetchone()[0])


def sql(statement: str, params: Sequence[Any] = ()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.rowcount


def json_param(value: Any) -> str:
    """A JSON value for a raw statement: use with ``json_placeholder()``."""
    return json.dumps(value)


def json_placeholder() -> str:
    return "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"


AUDIT_TABLES = ("checklist_audit_event", "checklist_audit_seal")


class _RawEditor:
    """What the trigger migrations' functions need from a schema editor (Django's SQLite schema
    editor refuses to open inside a transaction, and these tests must stay inside theirs)."""

    connection = connection

    def execute(self, statement: str, params: Any = None) -> None:
        with connection.cursor() as cursor:
            cursor.execute(statement, params)


def _sqlite_trigger_modules() -> list[Any]:
    import importlib

    return [
        importlib.import_module("checklist.migrations.0004_audit_append_only_triggers"),
        importlib.import_module("checklist.migrations.0013_issue13_append_only_records"),
        importlib.import_module("checklist.migrations.0015_issue13_seal_timestamps"),
        importlib.import_module("checklist.migrations.0016_adverse_events_append_only"),
        importlib.import_module("checklist.migrations.0019_issue17_wristband"),
    ]


def _tie() -> Any:
    import importlib

    return importlib.import_module("checklist.migrations.0022_issue13_event_canonical_bytes")


EVENTS = "checklist_audit_event"


@contextmanager
def bytes_untied() -> Iterator[None]:
    """As the owner on PostgreSQL (nothing on SQLite): drop the constraint that ties each event's
    stored hashed bytes to its columns for the block; afterwards clear the bytes of every event
    they no longer match and add the constraint back. That is an attacker's best move, since an
    event without bytes is checked from its columns: what the block did is then named as it was
    before the bytes were kept."""
    if connection.vendor != "postgresql":
        yield
        return
    tie = _tie()
    # ALTER TABLE refuses while deferred foreign-key checks are pending: run them now.
    sql("SET CONSTRAINTS ALL IMMEDIATE")
    sql(f"ALTER TABLE {EVENTS} DROP CONSTRAINT {tie.CONSTRAINT}")
    try:
        yield
    finally:
        sql("SET CONSTRAINTS ALL IMMEDIATE")
        sql(f"UPDATE {EVENTS} SET canonical = NULL WHERE NOT ({tie.CHECK})")  # noqa: S608
        tie.constraint_add(_RawEditor())
        sql("SET CONSTRAINTS ALL DEFERRED")


@contextmanager
def unlocked(tables: Sequence[str] = AUDIT_TABLES) -> Iterator[None]:
    """As the owner, lift the append-only triggers (``ALTER TABLE … DISABLE TRIGGER USER``, which
    only the owner may do) on ``tables`` for the block, then put them back; everything in the
    block runs as the owner. On SQLite, drop and recreate the triggers.

    With the events table, the owner also unties the stored hashed bytes (``bytes_untied``)."""
    with as_owner():
        if connection.vendor == "postgresql":
            # ALTER TABLE refuses while deferred foreign-key checks are pending: run them now.
            sql("SET CONSTRAINTS ALL IMMEDIATE")
            for table in tables:
                sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            try:
                with bytes_untied() if EVENTS in tables else nullcontext():
                    yield
            finally:
                sql("SET CONSTRAINTS ALL IMMEDIATE")
                for table in tables:
                    sql(f"ALTER TABLE {table} ENABLE TRIGGER USER")
                sql("SET CONSTRAINTS ALL DEFERRED")
        else:
            modules = _sqlite_trigger_modules()
            for module in modules:
                module.drop_triggers(None, _RawEditor())
            try:
                yield
            finally:
                for module in modules:
                    module.create_triggers(None, _RawEditor())
