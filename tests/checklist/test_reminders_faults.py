"""Fault tests with a real Redis and real Celery workers: Redis down, a worker killed mid-delivery,
two workers sweeping at once. Nothing lost, nothing sent twice."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.utils import timezone

from checklist import services
from checklist.models import Case, Notification, NotificationPreference, Reminder, ReminderState, StepAttestation
from checklist.schedules import periodic_tasks_sync
from checklist.selectors import checklist_status
from checklist.services.reminders import reminder_rules_sync
from tests.celery_worker import REPO, RedisServer, running_worker, wait_for, worker_env
from tests.workflow import case_schedule, evidence_record, team_create

pytestmark = [pytest.mark.worker, pytest.mark.redis, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
SWEEP = "checklist.tasks.reminders_sweep"


@pytest.fixture
def redis_server(tmp_path: Path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def seeded():
    # A transactional test starts from a flushed database: restore what migrate writes.
    services.roles_sync()
    reminder_rules_sync()
    periodic_tasks_sync()
    return team_create()


def call(env: dict[str, str], task: str = SWEEP, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "celery", "-A", "config", "call", task],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)  # fmt: skip


def due_case(team) -> Case:
    """A case starting in 30 minutes with no plan: its escalation reminders are due now."""
    return case_schedule(team, scheduled_start=timezone.now() + dt.timedelta(minutes=30))


def test_redis_down_loses_nothing_and_delivers_once_it_is_back(seeded, redis_server, tmp_path: Path) -> None:
    team = seeded
    env = worker_env(redis_server.url, BROKER_CONNECTION_TIMEOUT="1")
    case = due_case(team)
    due = list(Reminder.objects.filter(case=case, state=ReminderState.PENDING, due_at__lte=timezone.now()))
    assert due, "the demo-like case should have reminders due now"

    with running_worker(env, tmp_path / "worker.log", "w1@test", "--pool=solo"):
        redis_server.stop()
        # With Redis down, the nurse keeps working: every write goes to the database only.
        evidence_record(team, case)  # plan signed -> plan reminders cancelled in the same transaction
        other = due_case(team)  # a second case: plan unsigned, its escalation due while Redis is down
        evidence_record(team, other, sign=False)
        services.case_patient_in_room(actor=team.nurse, case=other.pk)
        for step in checklist_status(Case.objects.get(pk=other.pk)):
            if step.phase == "sign_in" and "plan_signed" not in step.evidence:
                for role in step.missing_roles:
                    services.step_attest(actor=team.by_role(role), case=other.pk, step_code=step.code, role=role)
        attested = StepAttestation.objects.filter(run__case=other).count()
        assert attested > 0
        # Beat cannot hand the sweep to a worker now; nothing is lost, the rows wait in the database.
        refused = call(env, timeout=60)
        assert refused.returncode != 0
        waiting = Reminder.objects.filter(case=other, state=ReminderState.PENDING, due_at__lte=timezone.now())
        assert waiting.exists()
        redis_server.start()
        assert call(env).returncode == 0
        assert wait_for(lambda: not Reminder.objects.filter(case=other, state=ReminderState.PENDING,
                                                            due_at__lte=timezone.now()).exists(), timeout=40), \
            (tmp_path / "worker.log").read_text()  # fmt: skip
    sent = Reminder.objects.filter(case=other, state=ReminderState.SENT)
    assert sent.exists()
    assert Notification.objects.filter(reminder__in=sent).count() == sent.count()
    # The first case's plan reminders were cancelled while Redis was down, never sent.
    assert not Reminder.objects.filter(
        case=case, rule__code__startswith="plan_unsigned", state=ReminderState.SENT
    ).exists()
    assert StepAttestation.objects.filter(run__case=other).count() == attested


class SlowPager(BaseHTTPRequestHandler):
    hits: list[str] = []
    arrived = threading.Event()

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        SlowPager.hits.append(json.loads(body)["dedupe_key"])
        SlowPager.arrived.set()
        time.sleep(float(os.environ.get("SLOW_PAGER_SECONDS", "0")))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_worker_killed_mid_delivery_delivers_exactly_once(seeded, redis_server, tmp_path: Path) -> None:
    team = seeded
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowPager)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    SlowPager.hits = []
    SlowPager.arrived.clear()
    os.environ["SLOW_PAGER_SECONDS"] = "30"
    try:
        NotificationPreference.objects.create(user=team.surgeon, email=False, webhook=True, pager_id="77")
        env = worker_env(redis_server.url, REMINDER_WEBHOOK_URL=f"http://127.0.0.1:{server.server_port}/page",
                         REMINDER_WEBHOOK_SECRET="k")  # fmt: skip
        case = due_case(team)
        mine = list(Reminder.objects.filter(case=case, recipient=team.surgeon, due_at__lte=timezone.now()))
        assert mine
        with running_worker(env, tmp_path / "w1.log", "w1@test", "--pool=solo") as worker:
            assert call(env).returncode == 0
            assert SlowPager.arrived.wait(30), (tmp_path / "w1.log").read_text()
            os.kill(worker.pid, signal.SIGKILL)  # mid-delivery: the pager is still answering
            worker.wait(timeout=10)
        # The transaction died with the worker: nothing is marked sent, no notification exists.
        assert {r.state for r in Reminder.objects.filter(pk__in=[r.pk for r in mine])} == {ReminderState.PENDING}
        assert not Notification.objects.filter(reminder__in=mine).exists()
        first_attempt = SlowPager.hits[0]
        os.environ["SLOW_PAGER_SECONDS"] = "0"
        with running_worker(env, tmp_path / "w2.log", "w2@test", "--pool=solo"):
            assert call(env).returncode == 0
            assert wait_for(
                lambda: (
                    not Reminder.objects.filter(pk__in=[r.pk for r in mine]).exclude(state=ReminderState.SENT).exists()
                ),
                timeout=40,
            ), (tmp_path / "w2.log").read_text()
    finally:
        os.environ.pop("SLOW_PAGER_SECONDS", None)
        server.shutdown()
    for reminder in mine:
        assert Notification.objects.filter(reminder=reminder).count() == 1
    # The pager saw the attempt that died and the retry, with the same idempotency key: a receiver
    # that honours it pages the surgeon once per reminder.
    assert set(SlowPager.hits) == {r.dedupe_key for r in mine}
    assert SlowPager.hits.count(first_attempt) == 2


@pytest.mark.postgres
def test_two_workers_sweeping_at_once_send_no_duplicates(seeded, redis_server, tmp_path: Path) -> None:
    team = seeded
    cases = [due_case(team) for _ in range(40)]
    due = Reminder.objects.filter(case__in=cases, state=ReminderState.PENDING, due_at__lte=timezone.now())
    total = due.count()
    assert total >= 80
    env = worker_env(redis_server.url)
    with running_worker(env, tmp_path / "a.log", "a@test", "--concurrency=2"), \
            running_worker(env, tmp_path / "b.log", "b@test", "--concurrency=2"):  # fmt: skip
        for _ in range(8):
            assert call(env).returncode == 0
        assert wait_for(lambda: not due.exists(), timeout=60)
    sent = Reminder.objects.filter(case__in=cases, state=ReminderState.SENT)
    assert sent.count() == total
    assert Notification.objects.filter(reminder__in=sent).count() == total
    assert set(sent.values_list("attempts", flat=True)) == {1}
