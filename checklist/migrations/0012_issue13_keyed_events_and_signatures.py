"""Every audit event and every signature carries an HMAC under the audit key (AUDIT_KEY, never in
the database) and the key's id. Rows written before this migration have none: ``verify_audit``
names each such event as unkeyed, and such a signature shows as invalid."""

import importlib

from django.db import migrations, models

TRIGGERS = importlib.import_module("checklist.migrations.0004_audit_append_only_triggers")


def triggers_recreate(apps, schema_editor):
    """SQLite adds these columns by rebuilding the table, which drops its triggers: put the
    append-only triggers back (on PostgreSQL this replaces them with the same)."""
    TRIGGERS.drop_triggers(apps, schema_editor)
    TRIGGERS.create_triggers(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [("checklist", "0011_issue12_adverse_events")]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, triggers_recreate),  # reversed: after the rebuild
        migrations.AddField(
            model_name="auditevent",
            name="mac",
            field=models.CharField(blank=True, db_default="", max_length=64),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="mac_key_id",
            field=models.CharField(blank=True, db_default="", max_length=16),
        ),
        migrations.AddField(
            model_name="signature",
            name="mac",
            field=models.CharField(blank=True, db_default="", max_length=64),
        ),
        migrations.AddField(
            model_name="signature",
            name="mac_key_id",
            field=models.CharField(blank=True, db_default="", max_length=16),
        ),
        migrations.RunPython(triggers_recreate, migrations.RunPython.noop),
    ]
