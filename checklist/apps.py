from __future__ import annotations

from django.apps import AppConfig


class ChecklistConfig(AppConfig):
    name = "checklist"
    verbose_name = "RightLevel checklist"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from checklist import (  # noqa: F401
            signals,  # connects the post_migrate and sign-in handlers
            tasks,  # registers the tasks, which services queue by name (core.queue)
        )
        from checklist.audit.db_roles import grants_after_migrate

        post_migrate.connect(grants_after_migrate, dispatch_uid="checklist.audit.db_roles.grants")
