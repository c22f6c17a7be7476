"""PostgreSQL: also refuse TRUNCATE on audit events and seals (row triggers do not see TRUNCATE).

SQLite has no TRUNCATE: its DELETE triggers (migration 0004) already cover "delete everything".
"""

from __future__ import annotations

from django.db import migrations

TABLES = ("checklist_audit_event", "checklist_audit_seal")


FUNCTION = """
CREATE OR REPLACE FUNCTION rightlevel_audit_no_truncate() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit rows are append-only: TRUNCATE on % refused', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def create_truncate_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION rightlevel_audit_no_truncate();"
        )


def drop_truncate_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};")
    schema_editor.execute("DROP FUNCTION IF EXISTS rightlevel_audit_no_truncate();")


class Migration(migrations.Migration):
    dependencies = [("checklist", "0006_reminders"), ("checklist", "0004_audit_append_only_triggers")]
    operations = [migrations.RunPython(create_truncate_triggers, drop_truncate_triggers)]
