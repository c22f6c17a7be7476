"""Data migration: the role groups and their permissions (see checklist.roles)."""

from __future__ import annotations

from django.contrib.auth.management import create_permissions
from django.db import migrations

# Frozen copy of checklist.roles at the time of this migration: a migration must not change
# meaning when the module changes later (roles_sync, run after every migrate, applies new tables).
ROLE_PERMISSIONS = {
    "nurse": ("view_case_record", "schedule_case", "record_evidence", "record_localization", "attest_step"),
    "surgeon": (
        "view_case_record",
        "edit_plan",
        "sign_plan",
        "record_evidence",
        "record_localization",
        "confirm_localization",
        "attest_step",
    ),
    "anesthesia": ("view_case_record", "attest_step"),
    "radiographer": ("view_case_record", "record_evidence", "record_localization", "attest_step"),
    "quality_officer": ("view_case_record", "view_audit", "export_records"),
    "admin": ("view_case_record", "schedule_case", "view_audit", "export_records", "configure_system"),
}


def create_role_groups(apps, schema_editor):
    # Permissions are normally created after all migrations; create them now so groups can hold them.
    app_config = apps.get_app_config("checklist")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(Permission.objects.filter(content_type__app_label="checklist", codename__in=codenames))


def remove_role_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLE_PERMISSIONS)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("checklist", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create_role_groups, remove_role_groups)]
