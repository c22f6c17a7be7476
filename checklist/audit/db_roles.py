"""Least-privilege PostgreSQL roles (issue 13).

Two roles: the **owner** runs the migrations and owns every table; the **application role**
(``DATABASE_APP_ROLE``), which the web, worker and beat processes connect as, owns nothing and is
granted only what the code needs:

* the audit trail (events, seals, the seals' time-stamps): SELECT and INSERT, never UPDATE or DELETE;
* clinical records (plan versions, signatures, evidence, attestations, verdicts): SELECT, INSERT
  and UPDATE of exactly the link columns that move (migration 0013's ``RECORDS``), which the
  triggers also police;
* every other table: SELECT, INSERT, UPDATE, DELETE;
* never TRUNCATE, REFERENCES or TRIGGER; not being an owner it cannot ALTER, DISABLE or DROP a
  trigger, and not being a superuser it cannot set ``session_replication_role``.

``grants_apply`` runs after every ``migrate`` run by the owner (post_migrate) when
``DATABASE_APP_ROLE`` is set, so new tables are covered; ``manage.py grant_app_role`` runs it
by hand.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

logger = logging.getLogger(__name__)

APPEND_ONLY_TABLES = ("checklist_audit_event", "checklist_audit_seal")
READ_ONLY_TABLES = ("django_migrations",)


# The migrations whose ``RECORDS`` list append-only tables (and the columns that may move).
RECORD_MIGRATIONS = (
    "0013_issue13_append_only_records",
    "0015_issue13_seal_timestamps",
    "0016_adverse_events_append_only",
    "0019_issue17_wristband",
)
# Other apps' migrations with ``RECORDS`` (named as modules: the checklist imports no app's code).
APP_RECORD_MIGRATIONS = (
    "imaging.migrations.0003_append_only",
    "imaging.migrations.0004_second_read",
    "interfaces.migrations.0004_inbound_message_append_only",
)


def record_rules() -> dict[str, dict[str, str]]:
    """Table -> {movable column: rule}, from migration 0013's ``RECORDS`` (clinical records),
    0015's (the seals' time-stamps) and 0016's (recorded wrong-level treatments)."""
    rules: dict[str, dict[str, str]] = {}
    for name in RECORD_MIGRATIONS:
        rules.update(importlib.import_module(f"checklist.migrations.{name}").RECORDS)
    for module in APP_RECORD_MIGRATIONS:
        rules.update(importlib.import_module(module).RECORDS)
    return rules


def grant_statements(connection: BaseDatabaseWrapper, role: str) -> list[str]:
    """The statements that give ``role`` exactly its privileges on every table of the schema."""
    quote = connection.ops.quote_name
    who = quote(role)
    records = record_rules()
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
    statements = [
        f"GRANT USAGE ON SCHEMA public TO {who}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {who}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {who}",
    ]
    for table in sorted(tables):
        name = quote(table)
        if table in APPEND_ONLY_TABLES:
            statements.append(f"GRANT SELECT, INSERT ON {name} TO {who}")
        elif table in records:
            statements.append(f"GRANT SELECT, INSERT ON {name} TO {who}")
            if records[table]:
                columns = ", ".join(quote(column) for column in records[table])
                statements.append(f"GRANT UPDATE ({columns}) ON {name} TO {who}")
        elif table in READ_ONLY_TABLES:
            statements.append(f"GRANT SELECT ON {name} TO {who}")
        else:
            statements.append(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {name} TO {who}")
    statements.append(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {who}")
    return statements


def grants_apply(*, using: str = "default", role: str | None = None) -> int:
    """Grant the application role its privileges, as the owner. Returns the number of statements
    run (0 when there is nothing to do: not PostgreSQL, no role configured, or not the owner)."""
    role = role if role is not None else settings.DATABASE_APP_ROLE
    connection = connections[using]
    if connection.vendor != "postgresql" or not role:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_user, tableowner FROM pg_tables WHERE schemaname = 'public' AND tablename = %s",
            [APPEND_ONLY_TABLES[0]],
        )
        row = cursor.fetchone()
    if row is None or row[0] != row[1] or row[0] == role:
        return 0  # only the owner can grant (after a flush in tests, post_migrate runs as the app role)
    statements = grant_statements(connection, role)
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    logger.info("Granted role %s its privileges (%d statements)", role, len(statements))
    return len(statements)


def grants_after_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    if getattr(sender, "name", "") == "checklist":
        grants_apply(using=using)
