"""Create the demo users (one per role) and, as the workflow grows, a day of demo L2 cases.

Idempotent: running it again brings the same users back to the documented state.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from checklist import roles
from checklist.schedules import periodic_tasks_sync
from checklist.services import roles_sync, user_ensure

DEMO_PASSWORD = "rightlevel-demo"  # noqa: S105 - documented demo password

DEMO_USERS: tuple[dict[str, Any], ...] = (
    {"username": "nurse", "full_name": "Nora Nurse, RN", "role_names": [roles.NURSE]},
    {"username": "surgeon", "full_name": "Dr. Sam Surgeon", "role_names": [roles.SURGEON]},
    {"username": "anesthesia", "full_name": "Dr. Ana Anesthesia", "role_names": [roles.ANESTHESIA]},
    {"username": "radiographer", "full_name": "Ray Radiographer", "role_names": [roles.RADIOGRAPHER]},
    {"username": "quality", "full_name": "Quinn Quality", "role_names": [roles.QUALITY_OFFICER]},
    {
        "username": "admin",
        "full_name": "Ada Admin",
        "role_names": [roles.ADMIN],
        "is_staff": True,
        "is_superuser": True,
    },
)


class Command(BaseCommand):
    help = "Create demo users for every role (password 'rightlevel-demo') and demo data. Idempotent."

    def handle(self, *args: Any, **options: Any) -> None:
        roles_sync()
        periodic_tasks_sync()
        for spec in DEMO_USERS:
            user, created = user_ensure(
                password=DEMO_PASSWORD, email=f"{spec['username']}@demo.rightlevel.invalid", **spec
            )
            verb = "created" if created else "kept"
            self.stdout.write(f"  {verb} {user.username:<13} {user.role_label}")
        self.stdout.write(self.style.SUCCESS(f"Demo users ready; password for all: {DEMO_PASSWORD}"))
