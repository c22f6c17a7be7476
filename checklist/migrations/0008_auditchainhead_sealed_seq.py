"""Seals record only the chains that moved since the previous seal: each head remembers the
last_seq a committed seal recorded for it. Existing heads start at 0, so the first seal after
this migration records every chain, as before."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("checklist", "0007_audit_truncate_trigger")]

    operations = [
        migrations.AddField(
            model_name="auditchainhead",
            name="sealed_seq",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.AlterField(
            model_name="auditseal",
            name="heads",
            field=models.JSONField(
                help_text="{chain: [last_seq, last_hash]} for the chains that moved since the last seal"
            ),
        ),
    ]
