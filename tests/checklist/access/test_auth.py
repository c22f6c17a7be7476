"""Login, lockout, the token endpoint and automatic logoff."""

from __future__ import annotations

import time

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from checklist.models import User
from core.middleware import PASSIVE_HEADER, SESSION_LAST_ACTIVITY

pytestmark = pytest.mark.django_db


def _login(client: Client, username: str, password: str):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_login_page_has_the_named_fields(client: Client) -> None:
    response = client.get(reverse("login"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="username"' in html
    assert 'name="password"' in html
    assert 'type="submit"' in html


def test_login_with_good_credentials_lands_on_home(client: Client, nurse: User, password: str) -> None:
    response = _login(client, nurse.username, password)
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    landing = client.get(reverse("home"), follow=True)
    assert landing.status_code == 200
    assert landing.redirect_chain[-1][0] == reverse("case-list")  # the OR team lands on today's cases
    assert nurse.full_name in landing.content.decode()


def test_login_with_a_wrong_password_shows_a_form_error(client: Client, nurse: User) -> None:
    response = _login(client, nurse.username, "wrong")
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_pages_require_login(client: Client) -> None:
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_login_locks_out_after_repeated_failures(client: Client, nurse: User, password: str, settings) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, nurse.username, "wrong")
    locked = _login(client, nurse.username, password)  # even the right password is refused now
    assert locked.status_code == 429
    assert "Account locked" in locked.content.decode()
    assert "_auth_user_id" not in client.session


def test_lockout_is_per_username_not_per_tablet(
    client: Client, nurse: User, surgeon: User, password: str, settings
) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, nurse.username, "wrong")
    # Same client address (a shared tablet): another person can still sign in.
    assert _login(client, surgeon.username, password).status_code == 302


def test_token_endpoint_returns_a_token_that_authenticates(api_client, nurse: User, password: str) -> None:
    response = api_client.post("/api/v1/auth/token/", {"username": nurse.username, "password": password}, format="json")
    assert response.status_code == 200
    token = response.json()["token"]
    assert len(token) == 64  # django-rest-knox: 32 random bytes, hex
    # Each call issues a new token (the first is never shown again); both authenticate.
    again = api_client.post("/api/v1/auth/token/", {"username": nurse.username, "password": password}, format="json")
    assert again.json()["token"] != token
    for key in (token, again.json()["token"]):
        api_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        assert api_client.get("/api/v1/cases/").status_code == 200


def test_token_endpoint_refuses_bad_credentials_with_a_field_level_400(api_client, nurse: User) -> None:
    response = api_client.post("/api/v1/auth/token/", {"username": nurse.username, "password": "nope"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["non_field_errors"]


def test_token_endpoint_names_missing_fields(api_client) -> None:
    response = api_client.post("/api/v1/auth/token/", {"username": "x"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "Invalid input."
    assert "password" in body["errors"]


def test_token_endpoint_rejects_malformed_json_with_400(api_client) -> None:
    response = api_client.post("/api/v1/auth/token/", b"{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"]["non_field_errors"]


def test_token_endpoint_respects_the_lockout(api_client, nurse: User, password: str, settings) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        api_client.post("/api/v1/auth/token/", {"username": nurse.username, "password": "x"}, format="json")
    response = api_client.post("/api/v1/auth/token/", {"username": nurse.username, "password": password}, format="json")
    assert response.status_code == 429
    assert "locked" in response.json()["detail"]


@override_settings(RIGHTLEVEL_INACTIVITY_TIMEOUT_MINUTES=15)
def test_inactivity_logs_the_user_out(client: Client, nurse: User) -> None:
    client.force_login(nurse)
    assert client.get(reverse("case-list")).status_code == 200
    session = client.session
    session[SESSION_LAST_ACTIVITY] = time.time() - 16 * 60
    session.save()
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"] == "/login/?timeout=1&next=%2F"  # back to the page after signing in
    assert "_auth_user_id" not in client.session
    page = client.get(response["Location"])
    assert "signed out after a period without activity" in page.content.decode()


@override_settings(RIGHTLEVEL_INACTIVITY_TIMEOUT_MINUTES=15)
def test_background_polls_do_not_count_as_activity(client: Client, nurse: User) -> None:
    client.force_login(nurse)
    client.get(reverse("home"))
    session = client.session
    earlier = time.time() - 10 * 60
    session[SESSION_LAST_ACTIVITY] = earlier
    session.save()
    client.get(reverse("home"), headers={PASSIVE_HEADER: "1"})
    assert client.session[SESSION_LAST_ACTIVITY] == earlier
    client.get(reverse("home"))
    assert client.session[SESSION_LAST_ACTIVITY] > earlier


@override_settings(RIGHTLEVEL_INACTIVITY_TIMEOUT_MINUTES=1)
def test_inactivity_timeout_is_configurable_and_api_gets_401(client: Client, nurse: User) -> None:
    client.force_login(nurse)
    client.get(reverse("home"))
    session = client.session
    session[SESSION_LAST_ACTIVITY] = time.time() - 61
    session.save()
    response = client.get("/api/schema/")
    assert response.status_code == 401
    assert "1 minutes" in response.json()["detail"]


def test_switch_user_ends_the_session(client: Client, nurse: User) -> None:
    client.force_login(nurse)
    response = client.post(reverse("switch-user"))
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session
