from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from checklist.periodic_tasks import periodic_tasks_sync


class Command(BaseCommand):
    help = "Create or refresh the Celery beat schedule from checklist.periodic_tasks (also runs after migrate)."

    def handle(self, *args: Any, **options: Any) -> None:
        for name in periodic_tasks_sync():
            self.stdout.write(f"  scheduled: {name}")
