"""The beat schedule is defined in code and present in a fresh database."""

from __future__ import annotations

import json

import pytest
from django_celery_beat.models import PeriodicTask

from checklist.schedules import periodic_task_specs, periodic_tasks_sync
from checklist.tasks import heartbeat

pytestmark = pytest.mark.django_db


def test_a_fresh_database_has_every_periodic_task() -> None:
    names = set(PeriodicTask.objects.values_list("name", flat=True))
    assert {spec.name for spec in periodic_task_specs()} <= names


def test_sync_restores_a_changed_task_but_keeps_it_paused() -> None:
    task = PeriodicTask.objects.get(name="worker heartbeat")
    task.task = "something.else"
    task.enabled = False
    task.save()
    periodic_tasks_sync()
    task.refresh_from_db()
    assert task.task == "checklist.tasks.heartbeat"
    assert task.enabled is False
    assert json.loads(task.kwargs) == {}


def test_heartbeat_task_records_the_worker_eagerly() -> None:
    from checklist.models import WorkerHeartbeat

    assert heartbeat.delay().get() == 1
    assert heartbeat.delay().get() == 2
    assert WorkerHeartbeat.objects.get().beats == 2
