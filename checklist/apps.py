from __future__ import annotations

from django.apps import AppConfig


class ChecklistConfig(AppConfig):
    name = "checklist"
    verbose_name = "RightLevel checklist"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from checklist import signals  # noqa: F401  (connects the post_migrate handlers)
