"""Periodic tasks defined in code and written to django-celery-beat's tables.

Beat runs with the database scheduler, so an operator can pause or retime a task in the admin;
``periodic_tasks_sync`` (run after every ``migrate`` and by ``seed_demo``) creates missing tasks
and restores the task name and arguments of existing ones, leaving their enabled flag alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction


@dataclass(frozen=True)
class PeriodicTaskSpec:
    name: str
    task: str
    every_seconds: int | None = None
    crontab: dict[str, str] | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""


def periodic_task_specs() -> list[PeriodicTaskSpec]:
    return [
        PeriodicTaskSpec(
            name="worker heartbeat",
            task="checklist.tasks.heartbeat",
            every_seconds=settings.RIGHTLEVEL_HEARTBEAT_SECONDS,
            description="Proves the worker and beat are alive; shown on /healthz.",
        ),
    ]


@transaction.atomic
def periodic_tasks_sync() -> list[str]:
    """Create or update the beat schedule from ``periodic_task_specs``; return the names touched."""
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    touched: list[str] = []
    for spec in periodic_task_specs():
        defaults: dict[str, Any] = {
            "task": spec.task,
            "kwargs": json.dumps(spec.kwargs, sort_keys=True),
            "description": spec.description,
            "interval": None,
            "crontab": None,
        }
        if spec.every_seconds is not None:
            defaults["interval"], _ = IntervalSchedule.objects.get_or_create(
                every=spec.every_seconds, period=IntervalSchedule.SECONDS
            )
        elif spec.crontab is not None:
            defaults["crontab"], _ = CrontabSchedule.objects.get_or_create(**spec.crontab, timezone=settings.TIME_ZONE)
        PeriodicTask.objects.update_or_create(name=spec.name, defaults=defaults)
        touched.append(spec.name)
    return touched
