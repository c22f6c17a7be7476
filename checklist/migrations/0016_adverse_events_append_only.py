"""A recorded wrong-level treatment is append-only like the rest of the clinical record: migration
0013's triggers refuse UPDATE, DELETE and TRUNCATE on it (no column moves after the INSERT), and
checklist/db_roles.py grants the application role SELECT and INSERT only."""

import importlib

from django.db import migrations

RECORDS: dict[str, dict[str, str]] = {"checklist_adverseevent": {}}


def _0013():
    return importlib.import_module("checklist.migrations.0013_issue13_append_only_records")


def create_triggers(apps, schema_editor):
    _0013().create_triggers_for(schema_editor, RECORDS)


def drop_triggers(apps, schema_editor):
    _0013().drop_triggers_for(schema_editor, RECORDS)


class Migration(migrations.Migration):
    dependencies = [("checklist", "0015_issue13_seal_timestamps")]
    operations = [migrations.RunPython(create_triggers, drop_triggers)]
