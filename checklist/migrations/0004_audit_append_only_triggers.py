"""Database triggers that refuse UPDATE and DELETE on audit events and seals (PostgreSQL, SQLite).

Even code that bypasses the ORM, or a person with a SQL prompt and the application's role,
cannot edit or remove an audit row; what a superuser does by dropping the triggers is caught by
``manage.py verify_audit`` (hash chains and seals).
"""

from __future__ import annotations

from django.db import migrations

TABLES = ("checklist_audit_event", "checklist_audit_seal")

POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION rightlevel_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit rows are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def create_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        # params=None: the function's RAISE format uses '%', which must not be read as a placeholder.
        schema_editor.execute(POSTGRES_FUNCTION, params=None)
        for table in TABLES:
            schema_editor.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION rightlevel_audit_append_only();"
            )
    elif vendor == "sqlite":
        for table in TABLES:
            for operation in ("UPDATE", "DELETE"):
                schema_editor.execute(
                    f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'audit rows are append-only: {operation} on {table} refused'); END;"
                )
    else:  # pragma: no cover - only PostgreSQL and SQLite are supported
        raise RuntimeError(f"No append-only triggers for database vendor {vendor!r}")


def drop_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for table in TABLES:
        if vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
        elif vendor == "sqlite":
            for operation in ("update", "delete"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_{operation};")
    if vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS rightlevel_audit_append_only();")


class Migration(migrations.Migration):
    dependencies = [("checklist", "0003_workflow")]
    operations = [migrations.RunPython(create_triggers, drop_triggers)]
