"""Issue 15: one authorization model, and a column nothing used.

- The custom Django permissions on ``User`` (and the role groups' links to them) go: nothing read
  them; ``checklist.access.policies`` is the only authority on what a role may do.
- ``Patient.version`` goes: nothing wrote or read it.
"""

from django.db import migrations

# Frozen copy of the codenames declared until now (checklist.access.roles.PERMISSIONS).
CODENAMES = (
    "view_case_record",
    "schedule_case",
    "edit_plan",
    "sign_plan",
    "record_evidence",
    "record_localization",
    "confirm_localization",
    "attest_step",
    "view_audit",
    "export_records",
    "configure_system",
)


def permissions_delete(apps, schema_editor):
    permission = apps.get_model("auth", "Permission")
    # Deleting a permission deletes its group and user links (the join rows cascade).
    permission.objects.filter(content_type__app_label="checklist", codename__in=CODENAMES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("checklist", "0017_issue13_access_tokens"),
    ]

    operations = [
        migrations.AlterModelOptions(name="user", options={}),
        migrations.RunPython(permissions_delete, migrations.RunPython.noop),
        migrations.RemoveField(model_name="patient", name="version"),
    ]
