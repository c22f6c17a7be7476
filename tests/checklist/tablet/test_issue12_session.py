"""Typing counts as activity, and signing in again returns to the page that was open (issue 12)."""

from __future__ import annotations

import time

import pytest
from django.test import Client, override_settings

from core.middleware import SESSION_LAST_ACTIVITY
from tests.support.workflow import Team

pytestmark = pytest.mark.django_db


@override_settings(RIGHTLEVEL_INACTIVITY_TIMEOUT_MINUTES=15)
def test_the_typing_ping_counts_as_activity_and_a_poll_does_not(team: Team) -> None:
    client = Client()
    client.force_login(team.nurse)
    session = client.session
    session[SESSION_LAST_ACTIVITY] = time.time() - 14 * 60
    session.save()
    assert client.get("/cases/", headers={"X-RightLevel-Passive": "1"}).status_code == 200
    assert client.session[SESSION_LAST_ACTIVITY] < time.time() - 13 * 60  # a poll is not activity
    assert client.post("/activity").status_code == 204
    assert client.session[SESSION_LAST_ACTIVITY] > time.time() - 5


@override_settings(RIGHTLEVEL_INACTIVITY_TIMEOUT_MINUTES=15)
def test_a_timed_out_page_and_switch_user_return_to_the_same_page(team: Team) -> None:
    client = Client()
    client.force_login(team.nurse)
    session = client.session
    session[SESSION_LAST_ACTIVITY] = time.time() - 16 * 60
    session.save()
    response = client.get("/cases/7/")
    assert response["Location"] == "/login/?timeout=1&next=%2Fcases%2F7%2F"
    client.force_login(team.nurse)
    response = client.post("/switch-user/", {"next": "/cases/7/"})
    assert response["Location"] == "/login/?next=%2Fcases%2F7%2F"
    client.force_login(team.nurse)
    response = client.post("/switch-user/", {"next": "https://elsewhere.invalid/"})
    assert response["Location"] == "/login/"  # never to another site
