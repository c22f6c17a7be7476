"""The beat schedule is defined in code and present in a fresh database."""

from __future__ import annotations

import json

import pytest
from django_celery_beat.models import PeriodicTask

from checklist.periodic_tasks import periodic_task_specs, periodic_tasks_sync
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


def test_the_audit_is_sealed_every_5_minutes_and_verified_nightly() -> None:
    seal = PeriodicTask.objects.select_related("interval").get(name="audit seal")
    assert seal.task == "checklist.tasks.audit_seal"
    assert (seal.interval.every, seal.interval.period) == (5 * 60, "seconds")
    nightly = PeriodicTask.objects.select_related("crontab").get(name="audit verify nightly")
    assert nightly.task == "checklist.tasks.audit_verify_nightly"
    crontab = nightly.crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_week, crontab.day_of_month, crontab.month_of_year) == (
        "0",
        "2",
        "*",
        "*",
        "*",
    )


def test_audit_tasks_seal_and_verify_eagerly() -> None:
    from checklist.models import AuditEvent, AuditSeal
    from checklist.tasks import audit_seal, audit_verify_nightly

    first = audit_seal.delay().get()
    assert first["seal"] == 1
    assert first["events"] == 0  # nothing but the seal's own event, appended after it
    assert AuditEvent.objects.get(action="audit.sealed").client == "celery audit_seal"
    nightly = audit_verify_nightly.delay().get()
    assert nightly["ok"] is True
    assert nightly["problems"] == 0
    assert nightly["first_problem"] is None
    assert nightly["events"] == 2  # the first seal's event and the run's start
    assert nightly["seal"] == 2
    from checklist.models import AuditVerificationRun

    run = AuditVerificationRun.objects.get(pk=nightly["run"])
    assert run.requested_by is None and run.ok is True  # the dashboard shows nightly runs too
    assert AuditSeal.objects.count() == 2
