"""API tokens (issue 13, item 5): stored hashed, expiring, revoked by logout and by any password
change, never listed in the admin, and every issue and revocation audited on the system chain."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from checklist import audit
from checklist.access import roles
from checklist.audit.reconcile import TOKEN_UNTRAILED
from checklist.models import AuditEvent, User
from checklist.services.tokens import (
    REVOKED_EXPIRED,
    REVOKED_LOGOUT,
    REVOKED_PASSWORD_CHANGED,
    REVOKED_PASSWORD_SET,
    token_id,
    tokens_expired_purge,
)
from checklist.tasks import tokens_expired_purge as purge_task
from tests.support.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"
REVOKE_URL = "/api/v1/auth/token/revoke/"
CASES_URL = "/api/v1/cases/"


def _obtain(user: User) -> dict[str, str]:
    response = APIClient().post(TOKEN_URL, {"username": user.username, "password": TEST_PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def _client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def _token_events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, chain=audit.SYSTEM_CHAIN).order_by("seq"))


def _every_stored_text() -> str:
    """Every column of every row of the token table, as the database holds it."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {AuthToken._meta.db_table}")  # noqa: S608 (a model's own table name)
        return " ".join(str(value) for row in cursor.fetchall() for value in row)


def test_the_database_holds_a_digest_never_the_token(nurse: User) -> None:
    token = _obtain(nurse)["token"]
    stored = _every_stored_text()
    assert AuthToken.objects.filter(user=nurse).count() == 1
    assert token not in stored
    assert token[:15] in stored  # knox's lookup prefix; the rest is only a SHA-512 digest
    assert _client(token).get(CASES_URL).status_code == 200


def test_the_old_plaintext_token_table_is_gone() -> None:
    assert "authtoken_token" not in connection.introspection.table_names()


def test_the_answer_shows_the_token_once_with_its_expiry(nurse: User, settings) -> None:
    before = timezone.now()
    body = _obtain(nurse)
    expires = dt.datetime.fromisoformat(body["expires_at"])
    ttl = settings.REST_KNOX["TOKEN_TTL"]
    assert ttl == dt.timedelta(hours=12)
    assert before + ttl <= expires <= timezone.now() + ttl
    assert body["token_id"] == AuthToken.objects.get(user=nurse).digest[:8]
    assert body["token_id"] not in body["token"]


def test_a_token_stops_working_when_it_expires(nurse: User) -> None:
    token = _obtain(nurse)["token"]
    AuthToken.objects.filter(user=nurse).update(expiry=timezone.now() - dt.timedelta(seconds=1))
    response = _client(token).get(CASES_URL)
    assert response.status_code == 401
    # Refused without a write on the request path: the purge deletes it, audited.
    assert AuthToken.objects.filter(user=nurse).exists()
    assert tokens_expired_purge() == 1
    assert not AuthToken.objects.filter(user=nurse).exists()
    (revoked,) = _token_events("token.revoked")
    assert revoked.reason == REVOKED_EXPIRED
    assert revoked.actor is None


def test_the_ttl_is_a_setting(nurse: User, settings) -> None:
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_TTL": dt.timedelta(minutes=5)}
    expires = dt.datetime.fromisoformat(_obtain(nurse)["expires_at"])
    assert expires <= timezone.now() + dt.timedelta(minutes=5)


def test_the_purge_task_runs_in_its_own_audit_context(nurse: User) -> None:
    _obtain(nurse)
    AuthToken.objects.update(expiry=timezone.now() - dt.timedelta(minutes=1))
    assert purge_task.delay().get() == 1
    (revoked,) = _token_events("token.revoked")
    assert revoked.client == "celery tokens_expired_purge"


def test_logout_revokes_the_calling_token_only(nurse: User) -> None:
    first, second = _obtain(nurse)["token"], _obtain(nurse)["token"]
    response = _client(first).post(REVOKE_URL)
    assert response.status_code == 204
    assert _client(first).get(CASES_URL).status_code == 401
    assert _client(second).get(CASES_URL).status_code == 200
    (revoked,) = _token_events("token.revoked")
    assert revoked.reason == REVOKED_LOGOUT
    assert revoked.actor_id == nurse.pk
    assert first not in str(revoked.before) and second not in str(revoked.before)


def test_logout_without_a_token_is_a_400_not_a_500(client: Client, nurse: User) -> None:
    client.force_login(nurse)
    response = client.post(REVOKE_URL, content_type="application/json")
    assert response.status_code in (400, 403)  # a session needs its CSRF token; neither is a 500
    assert APIClient().post(REVOKE_URL).status_code == 401


def test_changing_ones_own_password_revokes_every_token(client: Client, nurse: User) -> None:
    tokens = [_obtain(nurse)["token"] for _ in range(2)]
    client.force_login(nurse)
    response = client.post(
        "/account/password/",
        {
            "old_password": TEST_PASSWORD,
            "new_password1": "a-new-one-for-nina-77",
            "new_password2": "a-new-one-for-nina-77",
        },
    )
    assert response.status_code == 302
    for token in tokens:
        assert _client(token).get(CASES_URL).status_code == 401
    revoked = _token_events("token.revoked")
    assert [e.reason for e in revoked] == [REVOKED_PASSWORD_CHANGED] * 2


def test_an_administrator_setting_a_password_revokes_every_token(client: Client, nurse: User) -> None:
    token = _obtain(nurse)["token"]
    admin = UserFactory(username="root", roles=[roles.ADMIN], is_staff=True, is_superuser=True)
    client.force_login(admin)
    response = client.post(
        f"/admin/checklist/user/{nurse.pk}/password/",
        {"password1": "set-by-admin-1234", "password2": "set-by-admin-1234", "usable_password": "true"},
    )
    assert response.status_code == 302
    assert _client(token).get(CASES_URL).status_code == 401
    (revoked,) = _token_events("token.revoked")
    assert revoked.reason == REVOKED_PASSWORD_SET
    assert revoked.actor_id == admin.pk


def test_creation_is_audited_without_the_token(nurse: User) -> None:
    body = _obtain(nurse)
    (created,) = _token_events("token.created")
    assert created.actor_id == nurse.pk
    assert created.object_type == "AuthToken"
    assert created.object_id == body["token_id"]
    assert created.after["user"] == nurse.username
    assert created.after["channel"] == "api"
    assert body["token"] not in str(created.after)
    assert created.client.startswith("127.0.0.1")


def test_there_is_no_token_admin_page(client: Client) -> None:
    admin = UserFactory(username="root", roles=[roles.ADMIN], is_staff=True, is_superuser=True)
    client.force_login(admin)
    index = client.get("/admin/")
    assert index.status_code == 200
    assert b"knox" not in index.content.lower()
    assert b"authtoken" not in index.content.lower()
    assert b"Auth token" not in index.content
    assert client.get("/admin/knox/authtoken/").status_code == 404
    assert client.get("/admin/authtoken/tokenproxy/").status_code == 404


def test_a_malformed_token_is_a_401(nurse: User) -> None:
    assert _client("not-hex-at-all-\u00e9" * 3).get(CASES_URL).status_code == 401
    assert _client("0" * 64).get(CASES_URL).status_code == 401


def test_no_token_for_a_password_an_administrator_set(nurse: User) -> None:
    User.objects.filter(pk=nurse.pk).update(password_set_by_admin_at=timezone.now())
    response = APIClient().post(TOKEN_URL, {"username": nurse.username, "password": TEST_PASSWORD}, format="json")
    assert response.status_code == 403
    assert "choose your own password" in response.json()["detail"]
    assert not AuthToken.objects.filter(user=nurse).exists()
    (refused,) = AuditEvent.objects.filter(action="access.sign_in_failed")
    assert refused.after["username"] == nurse.username


def test_revoking_takes_no_body(nurse: User) -> None:
    token = _obtain(nurse)["token"]
    client = _client(token)
    for body, content_type in (
        (b"null", "application/json"),
        (b'{"x": 1}', "application/json"),
        (b"\xff\xfe", "application/json"),
    ):
        response = client.generic("POST", REVOKE_URL, body, content_type=content_type)
        assert response.status_code == 400, (body, response.content)
    assert client.get(CASES_URL).status_code == 200  # still signed in
    assert client.post(REVOKE_URL, {}, format="json").status_code == 204


# --- a token row written behind the application's back ---------------------------------------------


def test_a_token_row_inserted_behind_the_applications_back_is_refused_and_named(nurse: User) -> None:
    """The application role may INSERT into the token table (it must, to sign people in), so a SQL
    injection could add a token for anyone. Only a token whose genuine ``token.created`` event
    carries the keyed binding of its digest is honoured, and ``verify_audit`` names the others."""
    genuine = _obtain(nurse)["token"]
    forged, plaintext = AuthToken.objects.create(user=nurse)  # no event: what a raw INSERT leaves
    assert _client(genuine).get(CASES_URL).status_code == 200
    assert _client(plaintext).get(CASES_URL).status_code == 401
    report = audit.verify()
    assert not report.ok
    assert [p.message for p in report.problems] == [TOKEN_UNTRAILED.format(token_id=token_id(forged), user=nurse)]


def test_a_forged_event_for_a_forged_token_does_not_make_it_valid(nurse: User) -> None:
    """Copying a genuine token.created event's binding onto another token does not help: the
    binding is a keyed MAC of the digest, and an event written without the key is not genuine."""
    _obtain(nurse)
    event = _token_events("token.created")[-1]
    forged, plaintext = AuthToken.objects.create(user=nurse)
    with transaction.atomic():
        audit.append(  # as if the attacker could append: same binding, the forged token's id and expiry
            action="token.created",
            actor=nurse,
            object_type="AuthToken",
            object_id=token_id(forged),
            after={**event.after, "token_id": token_id(forged), "expires_at": audit.jsonable(forged.expiry)},
        )
    assert _client(plaintext).get(CASES_URL).status_code == 401
