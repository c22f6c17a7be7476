"""Sign-in hardening (issue 14, item 6): nobody can lock an account from elsewhere, password
spraying from one address is refused, and a theatre suite's typos never lock the suite out."""

from __future__ import annotations

import pytest
from django.test import Client

from checklist.access.sign_in import address_throttled_message
from tests.support.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
ATTACKER, THEATRE = "10.0.0.9", "10.0.0.1"


def _login(client: Client, username: str, password: str, address: str):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def test_failures_from_elsewhere_do_not_lock_the_account_here(nurse, settings) -> None:
    attacker = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(attacker, nurse.username, "guess", ATTACKER)
    assert _login(attacker, nurse.username, TEST_PASSWORD, ATTACKER).status_code == 429  # locked there
    assert _login(Client(), nurse.username, TEST_PASSWORD, THEATRE).status_code == 302  # not here


def test_spraying_many_usernames_from_one_address_is_refused(db, settings) -> None:
    settings.RIGHTLEVEL_LOGIN_ADDRESS_FAILURE_LIMIT = 12
    users = [UserFactory(username=f"staff{i}") for i in range(13)]
    sprayer = Client()
    for user in users[:12]:
        assert _login(sprayer, user.username, "Winter2026!", ATTACKER).status_code == 200  # one try each
    refused = _login(sprayer, users[12].username, TEST_PASSWORD, ATTACKER)
    assert refused.status_code == 429
    assert address_throttled_message() in refused.content.decode()
    api = Client().post("/api/v1/auth/token/", {"username": users[12].username, "password": TEST_PASSWORD},
                        content_type="application/json", REMOTE_ADDR=ATTACKER)  # fmt: skip
    assert api.status_code == 429
    assert _login(Client(), users[12].username, TEST_PASSWORD, THEATRE).status_code == 302


def test_a_theatre_suites_typos_never_lock_the_suite_out(db, settings) -> None:
    team = [UserFactory(username=f"nurse{i}") for i in range(8)]
    for user in team:  # every nurse on the shared tablets mistypes twice
        for _ in range(2):
            assert _login(Client(), user.username, "typo", THEATRE).status_code == 200
    for user in team:
        assert _login(Client(), user.username, TEST_PASSWORD, THEATRE).status_code == 302
    assert settings.RIGHTLEVEL_LOGIN_ADDRESS_FAILURE_LIMIT > 8 * 2
