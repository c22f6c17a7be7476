"""Fault tests with a real Redis and real Celery workers: Redis down, a worker killed mid-delivery,
two workers sweeping at once, a mail relay that never answers. Nothing lost, nothing that was
marked sent sent twice, in-app reminders never held up by an external channel."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.utils import timezone

from checklist import services
from checklist.models import (
    Case,
    Delivery,
    DeliveryChannel,
    DeliveryState,
    Notification,
    NotificationPreference,
    Reminder,
    ReminderRule,
    ReminderState,
    StepAttestation,
    User,
)
from checklist.periodic_tasks import periodic_tasks_sync
from checklist.reminders.sync import reminder_rules_sync
from checklist.selectors import checklist_status
from tests.support.celery_worker import REPO, RedisServer, running_worker, wait_for, worker_env
from tests.support.workflow import case_schedule, evidence_record, team_create

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
                    if step.scan_role == role:  # the nurse's half is the wristband scan
                        services.identity_scan_record(actor=team.nurse, case=other.pk, barcode=other.patient.mrn)
                    else:
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


class Pager(BaseHTTPRequestHandler):
    """A paging receiver that answers at once, except the ``hang_on``-th request, which it holds."""

    hits: list[tuple[str, str]] = []  # (Idempotency-Key, X-RightLevel-Timestamp)
    hang_on = 0
    arrived = threading.Event()

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        Pager.hits.append((self.headers["Idempotency-Key"], self.headers["X-RightLevel-Timestamp"]))
        if len(Pager.hits) == Pager.hang_on:
            Pager.arrived.set()
            time.sleep(30)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_worker_killed_mid_delivery_never_resends_what_was_sent(seeded, redis_server, tmp_path: Path) -> None:
    """Each webhook is its own step with "send attempted" committed first: after the worker is
    killed on the third page, the two already answered are never sent again, the one in flight is
    retried once with the same Idempotency-Key, and every in-app notification exists exactly once."""
    team = seeded
    server = ThreadingHTTPServer(("127.0.0.1", 0), Pager)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Pager.hits, Pager.hang_on = [], 3
    Pager.arrived.clear()
    try:
        NotificationPreference.objects.create(user=team.surgeon, email=False, webhook=True, pager_id="77")
        env = worker_env(redis_server.url, REMINDER_WEBHOOK_URL=f"http://127.0.0.1:{server.server_port}/page",
                         REMINDER_WEBHOOK_SECRET="k", DELIVERY_LEASE_SECONDS="3")  # fmt: skip
        cases = [due_case(team) for _ in range(4)]
        mine = list(Reminder.objects.filter(case__in=cases, recipient=team.surgeon, due_at__lte=timezone.now()))
        assert len(mine) >= 4
        with running_worker(env, tmp_path / "w1.log", "w1@test", "--pool=solo") as worker:
            assert call(env).returncode == 0
            assert Pager.arrived.wait(40), (tmp_path / "w1.log").read_text()
            os.kill(worker.pid, signal.SIGKILL)  # mid-delivery: the pager is still answering the third
            worker.wait(timeout=10)
        # The in-app notifications and the state were committed before any page went out.
        assert {r.state for r in Reminder.objects.filter(pk__in=[r.pk for r in mine])} == {ReminderState.SENT}
        assert Notification.objects.filter(reminder__in=mine).count() == len(mine)
        pages = Delivery.objects.filter(reminder__in=mine, channel=DeliveryChannel.WEBHOOK)
        states = list(pages.values_list("state", flat=True))
        assert (states.count(DeliveryState.SENT), states.count(DeliveryState.ATTEMPTING)) == (2, 1)
        assert states.count(DeliveryState.PENDING) == len(mine) - 3
        answered = {key for key, _ in Pager.hits[:2]}
        in_flight = Pager.hits[2][0]
        Pager.hang_on = 0
        time.sleep(3.5)  # the dead worker's lease on the page in flight runs out
        with running_worker(env, tmp_path / "w2.log", "w2@test", "--pool=solo"):
            assert call(env).returncode == 0
            assert wait_for(lambda: not pages.exclude(state=DeliveryState.SENT).exists(), timeout=40), (
                tmp_path / "w2.log"
            ).read_text()
    finally:
        server.shutdown()
    keys = [key for key, _ in Pager.hits]
    assert set(keys) == {r.dedupe_key for r in mine}
    for key in answered:
        assert keys.count(key) == 1, "a page marked sent was sent again"
    assert keys.count(in_flight) == 2  # retried with the same key: a receiver that honours it drops it
    assert len(keys) == len(mine) + 1
    for reminder in mine:
        assert Notification.objects.filter(reminder=reminder).count() == 1


class SilentSMTP:
    """A "mail relay" that accepts TCP connections and never sends a greeting."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(50)
        self.port = self.sock.getsockname()[1]
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)  # held open, silent

    def close(self) -> None:
        self.sock.close()
        for conn in self.connections:
            conn.close()


@pytest.mark.postgres
def test_a_silent_mail_relay_never_stalls_in_app_reminders(seeded, redis_server, tmp_path: Path) -> None:
    """The worker is stuck in SMTP for EMAIL_TIMEOUT seconds, yet a reminder falling due
    meanwhile is delivered in-app at once, and the e-mail is retried after its backoff."""
    team = seeded
    relay = SilentSMTP()
    timeout = 10
    env = worker_env(redis_server.url, TEST_EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
                     EMAIL_URL=f"smtp://127.0.0.1:{relay.port}", EMAIL_TIMEOUT=str(timeout),
                     DELIVERY_BACKOFF_SECONDS="1")  # fmt: skip
    # One e-mail in all: the first case's plan escalation to the surgeon.
    ReminderRule.objects.exclude(code="plan_unsigned_2h").update(enabled=False)
    User.objects.exclude(pk=team.surgeon.pk).update(email="")
    team.surgeon.email = "surgeon@x.invalid"
    team.surgeon.save()
    log = tmp_path / "worker.log"
    try:
        first = due_case(team)
        first_due = Reminder.objects.filter(case=first, due_at__lte=timezone.now())
        emails = Delivery.objects.filter(reminder__case=first, channel=DeliveryChannel.EMAIL)
        with running_worker(env, log, "w1@test", "--concurrency=2"):
            assert call(env).returncode == 0
            assert wait_for(lambda: Notification.objects.filter(reminder__in=first_due).count() == first_due.count(),
                            timeout=30), log.read_text()  # fmt: skip
            assert wait_for(lambda: len(relay.connections) >= 1, timeout=20), log.read_text()
            stuck_since = time.monotonic()
            assert emails.count() == 1
            # A worker process now sits in the relay's silence. Another case falls due meanwhile
            # (in-app only: the surgeon has just turned e-mail off).
            NotificationPreference.objects.create(user=team.surgeon, email=False)
            second = due_case(team)
            second_due = Reminder.objects.filter(case=second, due_at__lte=timezone.now())
            assert call(env).returncode == 0
            assert wait_for(lambda: Notification.objects.filter(reminder__in=second_due).count()
                            == second_due.count() > 0, timeout=timeout), log.read_text()  # fmt: skip
            assert time.monotonic() - stuck_since < timeout
            assert emails.filter(state=DeliveryState.ATTEMPTING).exists()  # still waiting on the relay
            # The e-mail gives up after EMAIL_TIMEOUT and goes back to the outbox ...
            assert wait_for(lambda: emails.filter(state=DeliveryState.PENDING, attempts=1).exists(),
                            timeout=timeout + 20), log.read_text()  # fmt: skip
            assert "timed out" in emails.filter(attempts=1).first().last_error.lower()
            # ... and the next sweep tries it again.
            time.sleep(1.5)
            assert call(env).returncode == 0
            assert wait_for(lambda: emails.filter(attempts__gte=2).exists(), timeout=timeout + 20), log.read_text()
            assert len(relay.connections) >= 2
    finally:
        relay.close()
    assert not Delivery.objects.filter(channel=DeliveryChannel.EMAIL, state=DeliveryState.SENT).exists()
    assert Reminder.objects.filter(case__in=[first, second], state=ReminderState.SENT).count() == (
        first_due.count() + second_due.count()
    )


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
