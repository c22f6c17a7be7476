"""The messages received are a record: append-only for the application's database role, like the
checklist's clinical records (checklist migration 0013).

A message row is written once when it arrives. What may move afterwards, and how (the triggers
refuse anything else, on PostgreSQL and SQLite, for every role but a superuser disabling them):

* ``status``, ``error``, ``error_location``: only while the message is held (held -> applied, ...);
* ``processed_at``, ``case_id``, ``reprocessed_as_id``: set once, never changed;
* ``attempts``: only up;
* ``raw``: only blanked (retention, ``messages_raw_purge``, audited);
* no DELETE, no TRUNCATE.

``RECORDS`` names the movable columns: checklist/audit/db_roles.py grants the application role
SELECT, INSERT and UPDATE of exactly these (APP_RECORD_MIGRATIONS).
"""

from django.db import migrations

TABLE = "interfaces_inboundmessage"
MOVABLE = ("status", "error", "error_location", "processed_at", "case_id", "reprocessed_as_id", "attempts", "raw")
RECORDS: dict[str, dict[str, str]] = {TABLE: dict.fromkeys(MOVABLE, "rule in the trigger")}
REFUSED = "HL7 messages are append-only"

POSTGRES_FUNCTION = f"""
CREATE OR REPLACE FUNCTION rightlevel_hl7_message_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION '{REFUSED}: % on % refused', TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (to_jsonb(NEW) - ARRAY[{", ".join(f"'{c}'" for c in MOVABLE)}]::text[])
           IS DISTINCT FROM (to_jsonb(OLD) - ARRAY[{", ".join(f"'{c}'" for c in MOVABLE)}]::text[])
       OR (OLD.status <> 'held' AND (NEW.status, NEW.error, NEW.error_location)
           IS DISTINCT FROM (OLD.status, OLD.error, OLD.error_location))
       OR (OLD.processed_at IS NOT NULL AND NEW.processed_at IS DISTINCT FROM OLD.processed_at)
       OR (OLD.case_id IS NOT NULL AND NEW.case_id IS DISTINCT FROM OLD.case_id)
       OR (OLD.reprocessed_as_id IS NOT NULL AND NEW.reprocessed_as_id IS DISTINCT FROM OLD.reprocessed_as_id)
       OR NEW.attempts < OLD.attempts
       OR (NEW.raw IS DISTINCT FROM OLD.raw AND NEW.raw <> '') THEN
        RAISE EXCEPTION '{REFUSED}: UPDATE on % refused', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


def _sqlite_condition(schema_editor) -> str:
    with schema_editor.connection.cursor() as cursor:
        columns = [c.name for c in schema_editor.connection.introspection.get_table_description(cursor, TABLE)]
    checks = [f'OLD."{c}" IS NOT NEW."{c}"' for c in columns if c not in MOVABLE]
    checks += [
        "(OLD.status != 'held' AND (OLD.status IS NOT NEW.status OR OLD.error IS NOT NEW.error"
        " OR OLD.error_location IS NOT NEW.error_location))",
        "(OLD.processed_at IS NOT NULL AND OLD.processed_at IS NOT NEW.processed_at)",
        "(OLD.case_id IS NOT NULL AND OLD.case_id IS NOT NEW.case_id)",
        "(OLD.reprocessed_as_id IS NOT NULL AND OLD.reprocessed_as_id IS NOT NEW.reprocessed_as_id)",
        "NEW.attempts < OLD.attempts",
        "(OLD.raw IS NOT NEW.raw AND NEW.raw != '')",
    ]
    return " OR ".join(checks)


def create_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_FUNCTION, params=None)
        schema_editor.execute(
            f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION rightlevel_hl7_message_append_only();"
        )
        schema_editor.execute(
            f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
            "FOR EACH STATEMENT EXECUTE FUNCTION rightlevel_hl7_message_append_only();"
        )
    elif vendor == "sqlite":
        schema_editor.execute(
            f"CREATE TRIGGER {TABLE}_no_update BEFORE UPDATE ON {TABLE} WHEN {_sqlite_condition(schema_editor)} "
            f"BEGIN SELECT RAISE(ABORT, '{REFUSED}: UPDATE on {TABLE} refused'); END;"
        )
        schema_editor.execute(
            f"CREATE TRIGGER {TABLE}_no_delete BEFORE DELETE ON {TABLE} "
            f"BEGIN SELECT RAISE(ABORT, '{REFUSED}: DELETE on {TABLE} refused'); END;"
        )
    else:  # pragma: no cover - only PostgreSQL and SQLite are supported
        raise RuntimeError(f"No append-only triggers for database vendor {vendor!r}")


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE};")
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_truncate ON {TABLE};")
    else:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_update;")
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_delete;")


class Migration(migrations.Migration):
    dependencies = [("interfaces", "0003_reprocessed_as")]
    operations = [migrations.RunPython(create_triggers, drop_triggers)]
