"""Seals record only the chains that moved since the previous seal: each head remembers the
last_seq a committed seal recorded for it. Existing heads start at 0, so the first seal after
this migration records every chain, as before. Seals also carry an HMAC under a key derived from
SECRET_KEY; older seals have none and are vouched for by the first keyed seal after them."""

import importlib

from django.db import migrations, models

TRIGGERS = importlib.import_module("checklist.migrations.0004_audit_append_only_triggers")


def triggers_recreate(apps, schema_editor):
    """SQLite adds a NOT NULL column by rebuilding the table, which drops its triggers: put the
    append-only triggers back (on PostgreSQL this replaces them with the same)."""
    TRIGGERS.drop_triggers(apps, schema_editor)
    TRIGGERS.create_triggers(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [("checklist", "0007_audit_truncate_trigger"), ("checklist", "0004_audit_append_only_triggers")]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, triggers_recreate),  # reversed: after the rebuild
        migrations.AddField(
            model_name="auditchainhead",
            name="sealed_seq",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="auditseal",
            name="mac",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="auditseal",
            name="mac_key_id",
            field=models.CharField(blank=True, max_length=16),
        ),
        migrations.AlterField(
            model_name="auditseal",
            name="heads",
            field=models.JSONField(
                help_text="{chain: [last_seq, last_hash]} for the chains that moved since the last seal"
            ),
        ),
        migrations.RunPython(triggers_recreate, migrations.RunPython.noop),
    ]
