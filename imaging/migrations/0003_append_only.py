"""Level images and the reads made on them are part of the clinical record: append-only, with
checklist migration 0013's triggers. On a level image only the assignment columns move, once
(an unmatched image gets its case), and the version goes up; a read never changes.
checklist/audit/db_roles.py grants the application role SELECT, INSERT and UPDATE of those columns only."""

import importlib

from django.db import migrations

RECORDS: dict[str, dict[str, str]] = {
    "imaging_levelimage": {"case_id": "once", "matched_by": "once", "assigned_by_id": "once", "version": "up"},
    "imaging_imageread": {},
}


def _0013():
    return importlib.import_module("checklist.migrations.0013_issue13_append_only_records")


def create_triggers(apps, schema_editor):
    _0013().create_triggers_for(schema_editor, RECORDS)


def drop_triggers(apps, schema_editor):
    _0013().drop_triggers_for(schema_editor, RECORDS)


class Migration(migrations.Migration):
    dependencies = [
        ("imaging", "0002_image_read"),
        ("checklist", "0016_adverse_events_append_only"),
    ]
    operations = [migrations.RunPython(create_triggers, drop_triggers)]
