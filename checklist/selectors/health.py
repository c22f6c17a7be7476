"""What the health check reads: the database, the broker, the worker's heartbeat, the reminder backlog."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.db import connection
from django.utils import timezone

from checklist.models import (
    WorkerHeartbeat,
)


@dataclass(frozen=True)
class ComponentStatus:
    ok: bool
    detail: str


def database_status() -> ComponentStatus:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means "down"; the reason is reported
        return ComponentStatus(False, f"{type(exc).__name__}: {exc}")
    return ComponentStatus(True, connection.vendor)


def broker_status(*, timeout_seconds: int = 2) -> ComponentStatus:
    """Open (and close) a connection to the Celery broker without sending anything."""
    from celery import current_app as app

    url = str(app.conf.broker_url or "")
    if url.startswith("filesystem://"):
        options: dict[str, Any] = app.conf.broker_transport_options or {}
        folder = Path(options.get("data_folder_in", ""))
        if folder.is_dir() and _writable(folder):
            return ComponentStatus(True, "filesystem")
        return ComponentStatus(False, "filesystem broker folder is missing or not writable")
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout_seconds)
            transport = conn.transport_cls
    except Exception as exc:  # noqa: BLE001
        return ComponentStatus(False, f"{type(exc).__name__}: {exc}")
    return ComponentStatus(True, str(transport))


def _writable(folder: Path) -> bool:
    import os

    return os.access(folder, os.W_OK)


def worker_last_heartbeat() -> datetime | None:
    beat = WorkerHeartbeat.objects.order_by("-last_seen").values_list("last_seen", flat=True).first()
    return beat


@dataclass(frozen=True)
class ReminderBacklog:
    """How long the oldest due reminder (in-app) and the oldest due external delivery have
    waited, in seconds (None: nothing due), and whether that is past the stall threshold."""

    oldest_due_seconds: int | None
    oldest_delivery_due_seconds: int | None
    stalled: bool


def reminder_backlog(*, stall_minutes: int, now: datetime | None = None) -> ReminderBacklog:
    from checklist.models import Delivery, DeliveryState, Reminder, ReminderState

    at = now or timezone.now()
    due = (
        Reminder.objects.filter(state=ReminderState.PENDING, due_at__lte=at)
        .order_by("due_at")
        .values_list("due_at", flat=True)
        .first()
    )
    # A delivery backing off after a failure is due again later; one whose time has passed waits
    # for a worker.
    delivery_due = (
        Delivery.objects.filter(state__in=(DeliveryState.PENDING, DeliveryState.ATTEMPTING), next_attempt_at__lte=at)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    ages = [int((at - t).total_seconds()) if t else None for t in (due, delivery_due)]
    stalled = any(age is not None and age > stall_minutes * 60 for age in ages)
    return ReminderBacklog(oldest_due_seconds=ages[0], oldest_delivery_due_seconds=ages[1], stalled=stalled)
