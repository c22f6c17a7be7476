"""Reminders and escalations: written and cancelled with the case, swept, delivered once."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.core import mail
from django.utils import timezone

from checklist import services
from checklist.models import (
    AuditEvent,
    AuditSeal,
    Delivery,
    DeliveryChannel,
    DeliveryState,
    Notification,
    NotificationPreference,
    Reminder,
    ReminderRule,
    ReminderState,
)
from checklist.reminders import rules as reminder_rules
from checklist.reminders.digest import daily_digest_create
from checklist.reminders.sync import reminders_sweep, webhook_signature, webhook_verify
from tests.support.factories import UserFactory
from tests.support.workflow import case_schedule, evidence_record, team_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def team():
    team = team_create()
    charge = UserFactory(username="charge", roles=["nurse", "charge_nurse"], full_name="Charlie Charge",
                         email="charge@x.invalid")  # fmt: skip
    team.room.staff.add(charge)
    team.charge = charge  # type: ignore[attr-defined]
    for user in (team.nurse, team.surgeon, team.radiographer, team.quality):
        user.email = f"{user.username}@x.invalid"
        user.save()
    return team


def pending(case, code=None):
    rows = Reminder.objects.filter(case=case, state=ReminderState.PENDING)
    return rows.filter(rule__code=code) if code else rows


def test_default_rules_exist_after_migrate() -> None:
    codes = set(ReminderRule.objects.values_list("code", flat=True))
    assert {spec.code for spec in reminder_rules.DEFAULT_RULES} <= codes
    assert Group.objects.filter(name="charge_nurse").exists()


def test_scheduling_a_case_writes_its_reminders_in_the_same_transaction(team) -> None:
    start = timezone.now() + dt.timedelta(hours=30)
    case = case_schedule(team, scheduled_start=start)
    plan_24 = pending(case, "plan_unsigned_24h").get()
    assert plan_24.recipient == team.surgeon
    assert plan_24.due_at == start - dt.timedelta(hours=24)
    assert set(pending(case, "plan_unsigned_2h").values_list("recipient__username", flat=True)) == {"surgeon", "charge"}
    assert set(pending(case, "consent_12h").values_list("recipient__username", flat=True)) == {
        "nurse",
        "charge",
        "surgeon",
    }
    assert set(pending(case, "anatomy_imaging_12h").values_list("recipient__username", flat=True)) == {
        "radiographer", "nurse", "charge"}  # fmt: skip


def test_signing_the_plan_cancels_its_reminders(team) -> None:
    case = case_schedule(team, scheduled_start=timezone.now() + dt.timedelta(hours=30))
    assert pending(case, "plan_unsigned_24h").exists()
    evidence_record(team, case)
    assert not pending(case, "plan_unsigned_24h").exists()
    assert not pending(case, "plan_unsigned_2h").exists()
    assert not pending(case).exists()  # consent, anatomy and imaging are all recorded too
    assert Reminder.objects.filter(case=case, state=ReminderState.CANCELLED).count() >= 6


def test_a_case_due_soon_gets_the_escalation_not_a_stale_first_reminder(team) -> None:
    case = case_schedule(team, scheduled_start=timezone.now() + dt.timedelta(minutes=30))
    assert not pending(case, "plan_unsigned_24h").exists()
    assert pending(case, "plan_unsigned_2h").count() == 2


def test_the_sweep_delivers_due_reminders_once_with_a_clear_message(team, django_capture_on_commit_callbacks) -> None:
    start = timezone.now() + dt.timedelta(hours=30)
    case = case_schedule(team, scheduled_start=start)
    with time_machine.travel(start - dt.timedelta(hours=24) + dt.timedelta(seconds=5), tick=False):
        result = reminders_sweep()
    assert result.sent == 1
    notification = Notification.objects.get(user=team.surgeon)
    assert "Plan not signed 24 h before" in notification.title
    assert notification.link == f"/cases/{case.pk}/"
    assert "No plan recorded" in notification.body or "PLAN" in notification.body.upper()
    [email] = mail.outbox
    assert email.to == [team.surgeon.email]
    assert "OR 1" in email.subject
    assert email.alternatives and "Open the case" in email.alternatives[0][0]
    assert case.patient.mrn not in email.body and case.patient.family_name not in email.body
    assert AuditEvent.objects.filter(case=case, action="reminder.sent").count() == 1
    # Sweeping again sends nothing more: the row is marked sent.
    with time_machine.travel(start - dt.timedelta(hours=24) + dt.timedelta(seconds=10), tick=False):
        assert reminders_sweep().sent == 0
    assert Notification.objects.filter(user=team.surgeon).count() == 1


def test_a_reminder_whose_reason_went_away_is_cancelled_at_delivery(team) -> None:
    start = timezone.now() + dt.timedelta(hours=30)
    case = case_schedule(team, scheduled_start=start)
    reminder = pending(case, "plan_unsigned_24h").get()
    # Simulate a missed cancellation: the plan got signed but the row stayed pending.
    evidence_record(team, case)
    Reminder.objects.filter(pk=reminder.pk).update(state=ReminderState.PENDING, cancelled_at=None)
    with time_machine.travel(start, tick=False):
        result = reminders_sweep()
    assert result.sent == 0
    reminder.refresh_from_db()
    assert reminder.state == ReminderState.CANCELLED


def test_time_out_overdue_localization_overdue_and_stop_escalations(team) -> None:
    case = case_schedule(team, scheduled_start=timezone.now() + dt.timedelta(minutes=5))
    evidence_record(team, case)
    services.case_patient_in_room(actor=team.nurse, case=case.pk)
    case.refresh_from_db()
    overdue = pending(case, "time_out_overdue")
    assert set(overdue.values_list("recipient__username", flat=True)) == {"nurse", "charge", "surgeon"}
    assert overdue.first().due_at == case.patient_in_room_at + dt.timedelta(minutes=15)
    case = case_through_time_out_from_in_room(team, case)
    assert not pending(case, "time_out_overdue").exists()
    assert pending(case, "localization_overdue").get().recipient == team.surgeon
    # A stop opens the 10-minute escalation to the charge nurse and quality officers.
    services.localization_record(actor=team.radiographer, case=case.pk, phase="pre_incision", reference="sacrum",
                                 count=3, label="L2", marker_in_place=True, read_by=team.surgeon)  # fmt: skip
    stop = pending(case, "stop_unresolved")
    assert set(stop.values_list("recipient__username", flat=True)) == {"charge", "quality"}
    services.localization_record(actor=team.radiographer, case=case.pk, phase="pre_incision", reference="sacrum",
                                 count=4, label="L2", marker_in_place=True, read_by=team.surgeon)  # fmt: skip
    # The earlier wrong count still stands in the record, so the stop stays until it is withdrawn;
    # what matters here: the escalation exists while the stop is open.
    assert Reminder.objects.filter(case=case, rule__code="stop_unresolved").exists()


def case_through_time_out_from_in_room(team, case):
    from tests.support.workflow import phase_attest

    phase_attest(team, case, "sign_in")
    phase_attest(team, case, "time_out")
    services.time_out_complete(actor=team.nurse, case=case.pk)
    case.refresh_from_db()
    return case


def test_email_failures_are_retried_with_backoff_and_never_lost(team, monkeypatch) -> None:
    """The in-app notification is committed at once; the e-mail is its own outbox step, retried
    with backoff, and never sent again once marked sent."""
    start = timezone.now() + dt.timedelta(hours=30)
    case = case_schedule(team, scheduled_start=start)
    calls = {"n": 0}

    def flaky_send(self, fail_silently=False):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionRefusedError("mail server down")
        return 1

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", flaky_send)
    due = start - dt.timedelta(hours=24)
    with time_machine.travel(due + dt.timedelta(seconds=1), tick=False):
        first = reminders_sweep()
    assert (first.sent, first.external_sent, first.external_retried) == (1, 0, 1)
    reminder = Reminder.objects.get(case=case, rule__code="plan_unsigned_24h")
    assert reminder.state == ReminderState.SENT
    assert Notification.objects.filter(reminder=reminder).count() == 1  # not held up by the mail server
    email = Delivery.objects.get(reminder=reminder, channel=DeliveryChannel.EMAIL)
    assert email.state == DeliveryState.PENDING and email.attempts == 1
    assert "mail server down" in email.last_error
    with time_machine.travel(due + dt.timedelta(seconds=10), tick=False):
        assert reminders_sweep().external_sent == 0  # backing off
    with time_machine.travel(due + dt.timedelta(minutes=2), tick=False):
        assert reminders_sweep().external_sent == 1
    email.refresh_from_db()
    assert (email.state, email.attempts, calls["n"]) == (DeliveryState.SENT, 2, 2)
    with time_machine.travel(due + dt.timedelta(hours=2), tick=False):
        assert reminders_sweep().external_sent == 0  # a sent channel is never sent again
    assert calls["n"] == 2
    assert Notification.objects.filter(reminder=reminder).count() == 1


def test_webhook_channel_posts_signed_json(team, settings) -> None:
    received: list[tuple[dict[str, str], str, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(({k.lower(): v for k, v in self.headers.items()}, self.path, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        settings.RIGHTLEVEL_WEBHOOK_URL = f"http://127.0.0.1:{server.server_port}/page"
        settings.RIGHTLEVEL_WEBHOOK_SECRET = "s3cret"
        NotificationPreference.objects.create(user=team.surgeon, email=False, webhook=True, pager_id="4411")
        start = timezone.now() + dt.timedelta(hours=30)
        case_schedule(team, scheduled_start=start)
        with time_machine.travel(start - dt.timedelta(hours=24), tick=False):
            assert reminders_sweep().sent == 1
    finally:
        server.shutdown()
    [(headers, path, body)] = received
    assert path == "/page"
    timestamp = headers["x-rightlevel-timestamp"]
    expected = "sha256=" + hmac.new(b"s3cret", timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers["x-rightlevel-signature"] == expected == webhook_signature("s3cret", body, int(timestamp))
    # The timestamp is signed: a receiver refuses a replay outside its window, or a forged time.
    sent_at = int(timestamp)  # the sweep ran at a travelled time
    assert webhook_verify("s3cret", body, timestamp=timestamp, signature=expected, now=sent_at + 5)
    assert not webhook_verify("s3cret", body, timestamp=timestamp, signature=expected, now=sent_at + 3600)
    assert not webhook_verify("s3cret", body, timestamp=str(sent_at + 1), signature=expected, now=sent_at)
    payload = json.loads(body)
    assert payload["pager_id"] == "4411" and payload["recipient"] == "surgeon"
    assert headers["idempotency-key"] == payload["dedupe_key"]
    assert mail.outbox == []  # the surgeon turned e-mail off


def test_daily_digest_reaches_quality_officers_once(team) -> None:
    case = case_schedule(team)
    evidence_record(team, case, consent_side="right")
    services.consent_record(actor=team.nurse, case=case.pk, procedure=case.procedure, levels="L2", side="left",
                            date_signed=timezone.localdate(), witness="W")  # fmt: skip
    today = timezone.localdate()
    first = daily_digest_create(day=today)
    again = daily_digest_create(day=today)
    assert [r.pk for r in first] == [r.pk for r in again]
    assert {r.recipient.username for r in first} == {"quality"}
    assert reminders_sweep().sent == 1
    notification = Notification.objects.get(user=team.quality)
    assert "1 near misses" in notification.title
    assert "consent" in notification.body


def test_the_bell_shows_the_unread_count_and_marks_read(client, team) -> None:
    start = timezone.now() + dt.timedelta(hours=30)
    case_schedule(team, scheduled_start=start)
    with time_machine.travel(start - dt.timedelta(hours=24), tick=False):
        reminders_sweep()
    client.force_login(team.surgeon)
    page = client.get("/notifications/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'class="bell-count">1<' in html
    assert "Plan not signed" in html
    client.post("/notifications/", {})
    assert Notification.objects.get(user=team.surgeon).read_at is not None
    assert "bell-count" not in client.get("/notifications/").content.decode()


def test_the_nightly_audit_result_reaches_quality_officers(team) -> None:
    from checklist.tasks import audit_verify_nightly

    case_schedule(team, scheduled_start=timezone.now() + dt.timedelta(days=3))  # nothing of its own due
    result = audit_verify_nightly.delay().get()
    assert result["ok"] is True
    assert reminders_sweep().sent == 1
    notification = Notification.objects.get(user=team.quality)
    assert notification.title == "Nightly audit verification: trail intact"
    seal = AuditSeal.objects.get()
    assert f"Sealed: seal #{seal.seq}, hash {seal.seal_hash}," in notification.body


def test_an_attestation_that_changes_nothing_reminders_read_leaves_them_alone(team) -> None:
    """The outbox is reconciled only when an input of the rules changed: one step attested in
    the sign-in changes no anchor, condition or state, so no reminder row is read or written."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    case = case_schedule(team, scheduled_start=timezone.now() + dt.timedelta(minutes=5))
    evidence_record(team, case)
    services.case_patient_in_room(actor=team.nurse, case=case.pk)
    before = list(pending(case).order_by("pk").values_list("pk", "due_at"))
    assert pending(case, "time_out_overdue").exists()
    with CaptureQueriesContext(connection) as queries:
        services.step_attest(actor=team.nurse, case=case.pk, step_code="consent_signed")
    assert not [q["sql"] for q in queries if "checklist_reminder" in q["sql"]]
    assert list(pending(case).order_by("pk").values_list("pk", "due_at")) == before

    # The attestation that completes the sign-in changes the state: reminders are reconciled.
    from tests.support.workflow import phase_attest

    with CaptureQueriesContext(connection) as queries:
        phase_attest(team, case, "sign_in")
    assert [q["sql"] for q in queries if "checklist_reminder" in q["sql"]]
    case.refresh_from_db()
    assert case.state == "time_out"
    assert pending(case, "time_out_overdue").exists()  # still outstanding until the time-out closes


def test_a_rule_changed_in_the_admin_applies_to_open_cases_at_once(team, client) -> None:
    """New timing moves the pending reminders not yet tried; switching a rule off cancels them;
    a reminder already being retried keeps its backoff."""
    start = timezone.now() + dt.timedelta(hours=30)
    case = case_schedule(team, scheduled_start=start)
    retried_case = case_schedule(team, scheduled_start=start + dt.timedelta(hours=1))
    rule = ReminderRule.objects.get(code="plan_unsigned_24h")
    retried = pending(retried_case, "plan_unsigned_24h").get()
    Reminder.objects.filter(pk=retried.pk).update(attempts=1, due_at=retried.due_at + dt.timedelta(seconds=60))
    admin = UserFactory(username="root", roles=["admin"], is_staff=True, is_superuser=True, full_name="Ada Admin")
    client.force_login(admin)
    url = f"/admin/checklist/reminderrule/{rule.pk}/change/"

    def post(**changes):
        form = client.get(url).context["adminform"].form
        data = {name: form.initial.get(name) for name in form.fields}
        data["recipients"] = json.dumps(data["recipients"])
        data = {k: v for k, v in data.items() if v is not None}
        data.pop("enabled", None)
        data.update(changes)
        response = client.post(url, data)
        assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response

    post(offset_minutes=-25 * 60, enabled="on")
    assert pending(case, "plan_unsigned_24h").get().due_at == start - dt.timedelta(hours=25)
    assert pending(retried_case, "plan_unsigned_24h").get().due_at == retried.due_at + dt.timedelta(seconds=60)
    assert AuditEvent.objects.filter(action="reminder_rule.changed", actor_username="root").exists()

    post(offset_minutes=-25 * 60)  # the enabled box left unticked: the rule is off
    assert not pending(case, "plan_unsigned_24h").exists()
    assert not pending(retried_case, "plan_unsigned_24h").exists()
    assert pending(case, "plan_unsigned_2h").exists()  # the other rules are untouched
