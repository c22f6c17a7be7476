"""Issue 13 item 4: RFC 3161 time-stamps of the audit seals (append-only), the time-stamping
queue's state, and the scope of verification runs (full or incremental)."""

import importlib

import django.db.models.deletion
from django.db import migrations, models

# The time-stamps are append-only like the clinical records: migration 0013's triggers, no
# column may move. checklist/db_roles.py grants the application role SELECT and INSERT only.
RECORDS: dict[str, dict[str, str]] = {"checklist_audit_seal_timestamp": {}}


def _0013():
    return importlib.import_module("checklist.migrations.0013_issue13_append_only_records")


def create_triggers(apps, schema_editor):
    _0013().create_triggers_for(schema_editor, RECORDS)


def drop_triggers(apps, schema_editor):
    _0013().drop_triggers_for(schema_editor, RECORDS)


class Migration(migrations.Migration):
    dependencies = [
        ("checklist", "0014_issue13_password_set_by_admin"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditTimestampStatus",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("last_attempt_at", models.DateTimeField(blank=True, null=True)),
                ("last_success_at", models.DateTimeField(blank=True, null=True)),
                ("last_error", models.TextField(blank=True)),
                ("failures", models.PositiveIntegerField(default=0, help_text="Failed attempts in a row")),
                ("next_attempt_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "db_table": "checklist_audit_timestamp_status",
            },
        ),
        migrations.AddField(
            model_name="auditverificationrun",
            name="anchor_seal",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="checklist.auditseal",
            ),
        ),
        migrations.AddField(
            model_name="auditverificationrun",
            name="scope",
            field=models.CharField(
                default="full", help_text="full: the whole trail; incremental: since a time-stamped seal", max_length=12
            ),
        ),
        migrations.AddField(
            model_name="auditverificationrun",
            name="start_seal",
            field=models.ForeignKey(
                blank=True,
                help_text="Incremental runs: the time-stamped seal the events were verified from",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="checklist.auditseal",
            ),
        ),
        migrations.CreateModel(
            name="AuditSealTimestamp",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("seal_seq", models.PositiveBigIntegerField()),
                ("seal_hash", models.CharField(help_text="The hash the token vouches for", max_length=64)),
                ("token", models.BinaryField(help_text="The TSA's TimeStampResp, DER (it carries the TimeStampToken)")),
                ("gen_time", models.DateTimeField(help_text="The TSA's genTime")),
                (
                    "tsa_certificate_sha256",
                    models.CharField(help_text="SHA-256 of the TSA certificate (DER)", max_length=64),
                ),
                ("recorded_at", models.DateTimeField()),
                (
                    "seal",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT, related_name="timestamp", to="checklist.auditseal"
                    ),
                ),
            ],
            options={
                "db_table": "checklist_audit_seal_timestamp",
                "ordering": ["seal_seq"],
            },
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
