"""Periodic tasks defined in code and written to django-celery-beat's tables.

Beat runs with the database scheduler, so an operator can pause or retime a task in the admin;
``periodic_tasks_sync`` (run after every ``migrate`` and by ``seed_demo``) creates missing tasks
and restores the task name and arguments of existing ones, leaving their enabled flag alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
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


TOKENS_PURGE_SECONDS = 60 * 60
IDEMPOTENCY_PURGE_SECONDS = 60 * 60
AUDIT_VERIFY_CRONTAB = {"minute": "0", "hour": "2", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*"}


DAILY_DIGEST_CRONTAB = {"minute": "0", "hour": "6", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*"}


# Other apps add their periodic tasks here from their AppConfig.ready (the checklist imports none).
SpecsProvider = Callable[[], list[PeriodicTaskSpec]]
_SPECS_PROVIDERS: list[SpecsProvider] = []


def periodic_task_specs_register(provider: SpecsProvider) -> None:
    if provider not in _SPECS_PROVIDERS:
        _SPECS_PROVIDERS.append(provider)


def periodic_task_specs() -> list[PeriodicTaskSpec]:
    return _checklist_specs() + [spec for provider in _SPECS_PROVIDERS for spec in provider()]


def _checklist_specs() -> list[PeriodicTaskSpec]:
    return [
        PeriodicTaskSpec(
            name="worker heartbeat",
            task="checklist.tasks.heartbeat",
            every_seconds=settings.RIGHTLEVEL_HEARTBEAT_SECONDS,
            description="Proves the worker and beat are alive; shown on /healthz.",
        ),
        PeriodicTaskSpec(
            name="audit seal",
            task="checklist.tasks.audit_seal",
            every_seconds=settings.AUDIT_SEAL_MINUTES * 60,
            description="Seals the head of every audit chain, so a truncated or deleted chain is detected, then "
            "time-stamps the pending seals with the RFC 3161 authority (TSA_URL), retrying with back-off.",
        ),
        PeriodicTaskSpec(
            name="audit verify nightly",
            task="checklist.tasks.audit_verify_nightly",
            crontab=AUDIT_VERIFY_CRONTAB,
            description="Verifies the audit trail since the newest time-stamped seal an intact run covered (the "
            "whole trail on AUDIT_FULL_VERIFY_WEEKDAY or when there is none), logs CRITICAL naming the first "
            "broken event, then seals and time-stamps.",
        ),
        PeriodicTaskSpec(
            name="api tokens purge",
            task="checklist.tasks.tokens_expired_purge",
            every_seconds=TOKENS_PURGE_SECONDS,
            description="Deletes expired API tokens (already refused), one audit event each.",
        ),
        PeriodicTaskSpec(
            name="idempotency keys purge",
            task="checklist.tasks.idempotency_keys_purge",
            every_seconds=IDEMPOTENCY_PURGE_SECONDS,
            description="Deletes Idempotency-Key records (and the answers they keep) older than "
            "RIGHTLEVEL_IDEMPOTENCY_RETENTION_DAYS; a request replayed after that runs again.",
        ),
        PeriodicTaskSpec(
            name="reminder sweep",
            task="checklist.tasks.reminders_sweep",
            every_seconds=settings.RIGHTLEVEL_REMINDER_SWEEP_SECONDS,
            description="Claims due reminders, re-checks them and delivers them (in-app, e-mail, webhook).",
        ),
        PeriodicTaskSpec(
            name="quality daily digest",
            task="checklist.tasks.quality_daily_digest",
            crontab=DAILY_DIGEST_CRONTAB,
            description="Yesterday's near misses and incomplete checklists, to the quality officers.",
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
