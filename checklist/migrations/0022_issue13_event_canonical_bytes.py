"""Issue 13: every audit event keeps the exact bytes its hash covers (``canonical``), and on
PostgreSQL a CHECK constraint ties those bytes to the row: the event's hash is their SHA-256, and
the JSON they hold is the JSON of the row's own columns (``jsonb`` equality, field by field).
``verify_audit`` checks once that the constraint is in force (present, validated, this exact
definition), then hashes and MAC-checks the stored bytes instead of rebuilding them from every row
(docs/audit.md, "How verify reads the events").

A CHECK constraint cannot be switched off: not by ``session_replication_role``, not by
``DISABLE TRIGGER``. The owner can drop it; verify then names that and checks every event from
its columns, as before. An event without bytes (NULL) is allowed: the events this migration finds
are given their bytes only when their columns still hash to their stored hash, so a row rewritten
earlier stays NULL and verify keeps recomputing it from its columns and naming it.
"""

from __future__ import annotations

from django.db import migrations, models

TABLE = "checklist_audit_event"
CONSTRAINT = "audit_event_canonical_matches"


def _time(column: str) -> str:
    """A ``timestamptz`` column as the canonical text (``canonical._timestamp``), NULL when Python
    could not have hashed it (a year outside 1 to 9999: ``YYYY`` prints 2026 BC as 2026)."""
    year = f"pg_catalog.date_part('year'::pg_catalog.text, pg_catalog.timezone('UTC'::pg_catalog.text, {column}))"
    return (
        f"CASE WHEN {year} OPERATOR(pg_catalog.>=) 1::pg_catalog.float8 "
        f"AND {year} OPERATOR(pg_catalog.<=) 9999::pg_catalog.float8 "
        f"THEN pg_catalog.to_char(pg_catalog.timezone('UTC'::pg_catalog.text, {column}), "
        '\'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"\'::pg_catalog.text) END'
    )


# The fields of ``canonical.HASHED_FIELDS``, each as the JSON the hash covers: ``at`` as its text.
_FIELDS = (
    "action", "actor_id", "actor_name", "actor_role", "actor_username", "after", "at", "before", "case_id",
    "chain", "client", "object_id", "object_type", "prev_hash", "reason", "request_id", "seq",
)  # fmt: skip


def _object() -> str:
    pairs = ", ".join(f"'{name}'::pg_catalog.text, {_time(name) if name == 'at' else name}" for name in _FIELDS)
    acted = f"pg_catalog.jsonb_build_object('acted_at'::pg_catalog.text, {_time('acted_at')})"
    return (
        f"(pg_catalog.jsonb_build_object({pairs}) OPERATOR(pg_catalog.||) "
        f"CASE WHEN acted_at IS NULL THEN '{{}}'::pg_catalog.jsonb ELSE {acted} END)"
    )


# Every function, operator and type is named in pg_catalog: whoever can create objects in another
# schema cannot slip in an equality that always holds. Holds (TRUE) or fails; never NULL.
CHECK = (
    "canonical IS NULL OR ("
    "(event_hash)::pg_catalog.text OPERATOR(pg_catalog.=) "
    "pg_catalog.encode(pg_catalog.sha256(canonical), 'hex'::pg_catalog.text) "
    "AND (pg_catalog.convert_from(canonical, 'UTF8'::pg_catalog.name))::pg_catalog.jsonb "
    f"OPERATOR(pg_catalog.=) {_object()}) IS TRUE"
)


def constraint_add(schema_editor, table: str = TABLE, *, valid: bool = True) -> None:
    """Add the constraint to ``table`` (verify adds it to a scratch copy to compare definitions)."""
    suffix = "" if valid else " NOT VALID"
    schema_editor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {CONSTRAINT} CHECK ({CHECK}){suffix}", params=None)


BATCH = 2000


def canonical_fill(apps, schema_editor) -> None:
    """Give every event its bytes where its columns still hash to its stored hash; then add the
    constraint, clear the bytes of any row it refuses (so that row is checked from its columns),
    and validate it."""
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite has no such constraint: verify checks every event from its columns there
    import hashlib

    from checklist.audit.canonical import HASHED_FIELDS, OPTIONAL_HASHED_FIELDS, _payload, canonical_json

    AuditEvent = apps.get_model("checklist", "AuditEvent")
    schema_editor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER USER")
    rows = AuditEvent.objects.order_by("id").values_list("id", *HASHED_FIELDS, *OPTIONAL_HASHED_FIELDS, "event_hash")
    last = 0
    with schema_editor.connection.cursor() as cursor:
        while batch := list(rows.filter(id__gt=last)[:BATCH]):
            updates = []
            for row in batch:
                values, acted_at, stored = row[1:-2], row[-2], row[-1]
                try:
                    blob = canonical_json(_payload(values, acted_at))
                except (TypeError, ValueError):
                    continue
                if hashlib.sha256(blob).hexdigest() == stored:
                    updates.append((blob, row[0]))
            cursor.executemany(f"UPDATE {TABLE} SET canonical = %s WHERE id = %s", updates)  # noqa: S608
            last = batch[-1][0]
        constraint_add(schema_editor, valid=False)
        cursor.execute(f"UPDATE {TABLE} SET canonical = NULL WHERE NOT ({CHECK})")  # noqa: S608
        cursor.execute(f"ALTER TABLE {TABLE} VALIDATE CONSTRAINT {CONSTRAINT}")
    schema_editor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER USER")


def canonical_drop(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT IF EXISTS {CONSTRAINT}")


class Migration(migrations.Migration):
    dependencies = [("checklist", "0021_issue18_downtime_backentry")]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="canonical",
            field=models.BinaryField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(canonical_fill, canonical_drop),
    ]
