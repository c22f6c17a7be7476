"""Issue 18, item 2: writes queued on a device are replayed exactly once.

- ``AuditEvent.acted_at``: when the person acted on the device (``X-Acted-At``), beside ``at``
  (when the server recorded it). Nullable, added without a default, so no existing row is
  rewritten (the append-only triggers refuse UPDATE); the event's hash covers it only when it is
  present, so every event appended before still verifies (checklist/audit/canonical.py).
- ``IdempotencyKey``: one row per (user, Idempotency-Key), with the answer to replay
  (checklist/idempotency.py). The application role may write and delete it (purged after the
  retention period): it is not one of the append-only tables in checklist/audit/db_roles.py.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("checklist", "0019_issue17_wristband"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="acted_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.CreateModel(
            name="IdempotencyKey",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("key", models.CharField(max_length=100)),
                ("method", models.CharField(max_length=10)),
                ("path", models.TextField(help_text="The path and query string the key was first sent to")),
                ("body_sha256", models.CharField(help_text="SHA-256 of the first request's body", max_length=64)),
                ("status_code", models.PositiveSmallIntegerField(blank=True, null=True)),
                ("response_headers", models.JSONField(blank=True, default=dict)),
                ("response_body", models.BinaryField(blank=True)),
                ("created_at", models.DateTimeField(db_index=True)),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
            ],
            options={
                "db_table": "checklist_idempotency_key",
                "constraints": [
                    models.UniqueConstraint(fields=("user", "key"), name="idempotency_key_user_key_unique")
                ],
            },
        ),
    ]
