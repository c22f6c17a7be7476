"""GET /healthz with the database and the broker up and down."""

from __future__ import annotations

import pytest
from django.db import OperationalError, connection

from config.celery import app as celery_app

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_url():
    """Point the Celery app at another broker for one test and restore it afterwards."""
    saved_url = celery_app.conf.broker_url
    saved_options = celery_app.conf.broker_transport_options

    def use(url: str, options: dict | None = None) -> None:
        celery_app.conf.broker_url = url
        celery_app.conf.broker_transport_options = options or {}

    yield use
    celery_app.conf.broker_url = saved_url
    celery_app.conf.broker_transport_options = saved_options


def test_health_is_200_with_the_embedded_filesystem_broker(client, broker_url, tmp_path) -> None:
    (tmp_path / "queue").mkdir()
    broker_url("filesystem://", {"data_folder_in": str(tmp_path / "queue")})
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == {"ok": True}
    assert body["broker"] == {"ok": True}
    assert response["Cache-Control"] == "no-store"


def test_health_is_503_when_the_filesystem_broker_folder_is_gone(client, broker_url, tmp_path) -> None:
    broker_url("filesystem://", {"data_folder_in": str(tmp_path / "missing")})
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"]["ok"] is False


@pytest.mark.redis
def test_health_is_200_with_a_real_redis(client, broker_url, redis_url) -> None:
    broker_url(redis_url)
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    assert response.json()["broker"]["ok"] is True


def test_health_is_503_when_redis_is_down(client, broker_url) -> None:
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    broker_url("redis://127.0.0.1:1/0")
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["broker"]["ok"] is False
    assert body["database"]["ok"] is True


def test_health_is_503_when_redis_is_down_and_says_nothing_of_where_it_is(client, broker_url, caplog) -> None:
    """Component booleans only: no host, port or error text in an answer anyone may read; the
    reason goes to the log."""
    broker_url("redis://127.0.0.1:1/0")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"] == {"ok": False}
    text = response.content.decode()
    for leak in ("127.0.0.1", "redis", "refused", "Error", connection.vendor):
        assert leak not in text, leak
    assert any("broker unavailable" in r.getMessage() for r in caplog.records)


def test_health_is_503_when_the_database_is_down(client, monkeypatch) -> None:
    from checklist.selectors import health

    def broken_cursor(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(health.connection, "cursor", broken_cursor)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == {"ok": False}
    assert "connection refused" not in response.content.decode()


def test_health_needs_no_login(client) -> None:
    assert client.get("/healthz").status_code in (200, 503)


def _reminder_due(minutes_ago: float):
    import datetime as dt

    from django.utils import timezone

    from checklist.models import Reminder, ReminderRule
    from tests.support.factories import UserFactory

    now = timezone.now()
    return Reminder.objects.create(
        rule=ReminderRule.objects.get(code="plan_unsigned_24h"), recipient=UserFactory(), occurrence="x",
        dedupe_key=f"health-{minutes_ago}", due_at=now - dt.timedelta(minutes=minutes_ago), created_at=now,
    )  # fmt: skip


def test_health_reports_the_oldest_due_reminder_and_is_503_once_the_sweep_stalls(client, settings) -> None:
    settings.RIGHTLEVEL_REMINDER_STALL_MINUTES = 10
    assert client.get("/healthz").json()["reminders"] == {
        "ok": True, "oldest_due_seconds": None, "oldest_delivery_due_seconds": None,
    }  # fmt: skip
    _reminder_due(minutes_ago=2)
    fresh = client.get("/healthz").json()["reminders"]
    assert fresh["ok"] is True and 110 <= fresh["oldest_due_seconds"] <= 130
    _reminder_due(minutes_ago=11)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["reminders"]["ok"] is False
    assert response.json()["reminders"]["oldest_due_seconds"] >= 660


def test_health_is_503_when_an_external_delivery_waits_past_the_threshold(client, settings) -> None:
    import datetime as dt

    from django.utils import timezone

    from checklist.models import Delivery, DeliveryState

    settings.RIGHTLEVEL_REMINDER_STALL_MINUTES = 10
    now = timezone.now()
    backing_off = Delivery.objects.create(channel="email", key="a", to=["a@x.invalid"], created_at=now,
                                          next_attempt_at=now + dt.timedelta(minutes=5))  # fmt: skip
    assert client.get("/healthz").json()["reminders"]["oldest_delivery_due_seconds"] is None
    Delivery.objects.filter(pk=backing_off.pk).update(
        next_attempt_at=now - dt.timedelta(minutes=12), state=DeliveryState.ATTEMPTING
    )
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["reminders"]["oldest_delivery_due_seconds"] >= 720
