"""Issue 18: a checklist step back-entered from the downtime paper keeps the paper's time and who
entered it (``attested_at`` is the entry time). Adding the columns rebuilds the table on SQLite,
which drops its append-only triggers, and the SQLite UPDATE guard lists the table's columns: the
triggers of migration 0013 are dropped first and made again afterwards, with the same rules (the
new columns never change after the INSERT)."""

import importlib

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def _0013():
    return importlib.import_module("checklist.migrations.0013_issue13_append_only_records")


def _records():
    table = "checklist_stepattestation"
    return {table: _0013().RECORDS[table]}


def create_triggers(apps, schema_editor):
    _0013().create_triggers_for(schema_editor, _records())


def drop_triggers(apps, schema_editor):
    _0013().drop_triggers_for(schema_editor, _records())


class Migration(migrations.Migration):
    dependencies = [("checklist", "0020_issue18_idempotency")]

    operations = [
        migrations.RunPython(drop_triggers, create_triggers),
        migrations.AddField(
            model_name="stepattestation",
            name="entered_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="stepattestation",
            name="paper_time",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="stepattestation",
            name="recorded_from_paper",
            field=models.BooleanField(default=False),
        ),
        migrations.AddConstraint(
            model_name="stepattestation",
            constraint=models.CheckConstraint(
                condition=models.Q(recorded_from_paper=False, paper_time__isnull=True, entered_by__isnull=True)
                | models.Q(recorded_from_paper=True, paper_time__isnull=False, entered_by__isnull=False),
                name="paper_attestation_has_paper_time_and_entrant",
            ),
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
