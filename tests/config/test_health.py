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
    assert body["database"]["ok"] is True
    assert body["database"]["detail"] == connection.vendor
    assert body["broker"] == {"ok": True, "detail": "filesystem"}
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


def test_health_is_503_when_the_database_is_down(client, monkeypatch) -> None:
    from checklist import selectors

    def broken_cursor(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(selectors.connection, "cursor", broken_cursor)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["database"]["ok"] is False
    assert "connection refused" in body["database"]["detail"]


def test_health_needs_no_login(client) -> None:
    assert client.get("/healthz").status_code in (200, 503)
