"""Plan versions, signatures, evidence, attestations and level verdicts are append-only (issue 13):
triggers on PostgreSQL and SQLite refuse DELETE (and TRUNCATE) and any UPDATE except of the few
link columns that legitimately move, each only the way it moves:

* ``once``: set once, from NULL (or '') to a value, never changed again (superseded_at,
  signature_id, voided_at…);
* ``true``: a flag that only goes from false to true (durable_mark_placed);
* ``up``: a counter that only grows (version).

The application role is also granted UPDATE on exactly these columns and nothing else
(checklist/db_roles.py). A table owner can still lift the triggers; ``verify_audit`` is what
catches that (keyed events and signatures, and the reconciliation of records with the trail).
"""

from __future__ import annotations

from django.db import migrations

# table -> {column: rule}; every other column never changes after the INSERT.
RECORDS: dict[str, dict[str, str]] = {
    "checklist_planversion": {"signature_id": "once", "signed_at": "once", "superseded_at": "once"},
    "checklist_signature": {},
    "checklist_consent": {"superseded_at": "once"},
    "checklist_sitemarking": {"superseded_at": "once"},
    "checklist_preopimaging": {"superseded_at": "once"},
    "checklist_anatomyrecord": {"superseded_at": "once"},
    "checklist_localization": {
        "superseded_at": "once",
        "confirmed_signature_id": "once",
        "durable_mark_placed": "true",
        "version": "up",
    },
    "checklist_stepattestation": {"voided_at": "once", "voided_reason": "once"},
    "checklist_levelverdict": {},
}

POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION rightlevel_record_append_only() RETURNS trigger AS $$
DECLARE
    old_row jsonb;
    new_row jsonb;
    spec text;
    rule text;
    col text;
    movable text[] := '{}';
BEGIN
    IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'clinical records are append-only: % on % refused', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    old_row := to_jsonb(OLD);
    new_row := to_jsonb(NEW);
    IF TG_NARGS > 0 THEN
        FOREACH spec IN ARRAY TG_ARGV LOOP
            col := split_part(spec, ':', 1);
            rule := split_part(spec, ':', 2);
            movable := movable || col;
            IF new_row -> col IS NOT DISTINCT FROM old_row -> col THEN
                CONTINUE;
            END IF;
            IF (rule = 'once' AND old_row -> col NOT IN ('null'::jsonb, '""'::jsonb))
               OR (rule = 'true' AND (old_row -> col = 'true'::jsonb OR new_row -> col <> 'true'::jsonb))
               OR (rule = 'up' AND (new_row ->> col)::numeric < (old_row ->> col)::numeric) THEN
                RAISE EXCEPTION 'clinical records are append-only: % of % may not change that way', col, TG_TABLE_NAME
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
        END LOOP;
    END IF;
    IF (new_row - movable) IS DISTINCT FROM (old_row - movable) THEN
        RAISE EXCEPTION 'clinical records are append-only: UPDATE on % refused', TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


def _sqlite_update_condition(schema_editor, table: str, rules: dict[str, str]) -> str:
    with schema_editor.connection.cursor() as cursor:
        columns = [info.name for info in schema_editor.connection.introspection.get_table_description(cursor, table)]
    checks = [f'OLD."{c}" IS NOT NEW."{c}"' for c in columns if c not in rules]
    for column, rule in rules.items():
        moved = f'OLD."{column}" IS NOT NEW."{column}"'
        if rule == "once":
            checks.append(f'({moved} AND OLD."{column}" IS NOT NULL AND OLD."{column}" != \'\')')
        elif rule == "true":
            checks.append(f'({moved} AND (OLD."{column}" = 1 OR NEW."{column}" IS NOT 1))')
        elif rule == "up":
            checks.append(f'NEW."{column}" < OLD."{column}"')
    return " OR ".join(checks)


def create_triggers(apps, schema_editor):
    create_triggers_for(schema_editor, RECORDS)


def create_triggers_for(schema_editor, records: dict[str, dict[str, str]]) -> None:
    """The append-only triggers of ``records`` (also used by later migrations for new tables)."""
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_FUNCTION, params=None)
        for table, rules in records.items():
            args = ", ".join(f"'{column}:{rule}'" for column, rule in rules.items())
            schema_editor.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION rightlevel_record_append_only({args});"
            )
            schema_editor.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION rightlevel_record_append_only();"
            )
    elif vendor == "sqlite":
        for table, rules in records.items():
            message = f"clinical records are append-only: UPDATE on {table} refused"
            schema_editor.execute(
                f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
                f"WHEN {_sqlite_update_condition(schema_editor, table, rules)} "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END;"
            )
            schema_editor.execute(
                f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'clinical records are append-only: DELETE on {table} refused'); END;"
            )
    else:  # pragma: no cover - only PostgreSQL and SQLite are supported
        raise RuntimeError(f"No append-only triggers for database vendor {vendor!r}")


def drop_triggers(apps, schema_editor):
    drop_triggers_for(schema_editor, RECORDS)
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS rightlevel_record_append_only();")


def drop_triggers_for(schema_editor, records: dict[str, dict[str, str]]) -> None:
    vendor = schema_editor.connection.vendor
    for table in records:
        if vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};")
        elif vendor == "sqlite":
            for operation in ("update", "delete"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_{operation};")


class Migration(migrations.Migration):
    dependencies = [("checklist", "0012_issue13_keyed_events_and_signatures")]
    operations = [migrations.RunPython(create_triggers, drop_triggers)]
