"""post_migrate hooks: keep the role groups and the beat schedule in step with the code."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.dispatch import receiver


@receiver(post_migrate)
def _sync_after_migrate(sender: AppConfig, **kwargs: Any) -> None:
    if sender.name != "checklist":
        return
    from checklist.schedules import periodic_tasks_sync
    from checklist.services import roles_sync
    from checklist.services.reminders import reminder_rules_sync

    roles_sync()
    periodic_tasks_sync()
    reminder_rules_sync()
