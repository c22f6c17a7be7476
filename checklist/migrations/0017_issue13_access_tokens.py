"""Issue 13, items 5 and 6: API tokens move from DRF's ``authtoken`` (the key in clear) to
django-rest-knox (only a digest, expiring). The old table is dropped with every token in it: API
clients sign in again (POST /api/v1/auth/token/). Nothing is copied, because a plaintext key cannot
be turned into a token that was never shown, and keeping it would keep the secret in the database."""

from django.db import migrations

DROP_OLD_TOKENS = "DROP TABLE IF EXISTS authtoken_token"


class Migration(migrations.Migration):
    dependencies = [
        ("checklist", "0016_adverse_events_append_only"),
        ("knox", "0009_extend_authtoken_field"),
    ]

    operations = [migrations.RunSQL(DROP_OLD_TOKENS, reverse_sql=migrations.RunSQL.noop)]
