"""An administrator who sets a surgeon's password cannot sign as the surgeon (issue 13, item 5):
the change is audited on the system chain, the user is told by e-mail, and no signature is
accepted until they choose their own password."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client

from checklist import audit, services
from checklist.access import roles
from checklist.models import AuditEvent, Case, Signature, User
from checklist.services.accounts import SIGN_AFTER_ADMIN_RESET
from core.errors import LockedError
from tests.support.factories import TEST_PASSWORD, UserFactory
from tests.support.workflow import Team, case_schedule, evidence_record

pytestmark = pytest.mark.django_db

ADMIN_SET = "set-by-the-administrator-1"
OWN = "chosen-by-the-surgeon-42"


@pytest.fixture
def planned(team: Team) -> Case:
    case = case_schedule(team)
    evidence_record(team, case, sign=False)
    return case


@pytest.fixture
def admin_client(client: Client) -> Client:
    admin = UserFactory(username="root", roles=[roles.ADMIN], is_staff=True, is_superuser=True, full_name="Ada Admin")
    client.force_login(admin)
    return client


def _admin_sets_password(admin_client: Client, user: User, password: str) -> None:
    response = admin_client.post(
        f"/admin/checklist/user/{user.pk}/password/",
        {"password1": password, "password2": password, "usable_password": "true"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]


def _sign(team: Team, case: Case, password: str) -> Signature:
    return services.plan_sign(
        actor=User.objects.get(pk=team.surgeon.pk),
        case=case,
        plan_number=1,
        password=password,
        username=team.surgeon.username,
    )


def test_an_admin_password_reset_is_audited_and_told_to_the_user(
    admin_client: Client, team: Team, django_capture_on_commit_callbacks
) -> None:
    surgeon = team.surgeon
    surgeon.email = "sid@hospital.invalid"
    surgeon.save(update_fields=["email"])
    with django_capture_on_commit_callbacks(execute=True):
        _admin_sets_password(admin_client, surgeon, ADMIN_SET)
    event = AuditEvent.objects.get(action="user.password_set")
    assert event.chain == audit.SYSTEM_CHAIN
    assert (event.actor_username, event.object_type, event.object_id) == ("root", "User", str(surgeon.pk))
    assert event.after == {"username": surgeon.username, "usable": True, "must_choose_own": True}
    assert ADMIN_SET not in str(event.after) and "pbkdf2" not in str(event.after).lower()
    assert [m.to for m in mail.outbox] == [["sid@hospital.invalid"]]
    assert "set the password of your RightLevel account" in mail.outbox[0].body
    surgeon.refresh_from_db()
    assert surgeon.password_set_by_admin_at is not None and surgeon.check_password(ADMIN_SET)
    assert audit.verify().ok


def test_the_admin_cannot_sign_as_the_user_after_resetting_the_password(
    admin_client: Client, team: Team, planned: Case
) -> None:
    """The attack: reset the surgeon's password in the admin, then sign with it."""
    _admin_sets_password(admin_client, team.surgeon, ADMIN_SET)
    with pytest.raises(LockedError, match="set by an administrator"):
        _sign(team, planned, ADMIN_SET)
    assert not Signature.objects.filter(case=planned).exists()
    assert not AuditEvent.objects.filter(action="signature.signed").exists()


def test_once_the_user_chooses_their_own_password_they_can_sign_again(
    admin_client: Client, team: Team, planned: Case
) -> None:
    _admin_sets_password(admin_client, team.surgeon, ADMIN_SET)
    surgeon_client = Client()
    surgeon_client.force_login(User.objects.get(pk=team.surgeon.pk))  # with the password now set
    page = surgeon_client.get("/account/password/")
    assert page.status_code == 200 and "set by an administrator" in page.content.decode()
    response = surgeon_client.post(
        "/account/password/", {"old_password": ADMIN_SET, "new_password1": OWN, "new_password2": OWN}
    )
    assert response.status_code == 302 and response["Location"] == "/account/password/done/"
    assert surgeon_client.get("/account/password/done/").status_code == 200  # still signed in
    surgeon = User.objects.get(pk=team.surgeon.pk)
    assert surgeon.password_set_by_admin_at is None and surgeon.check_password(OWN)
    changed = AuditEvent.objects.get(action="user.password_changed")
    assert changed.actor_username == surgeon.username and changed.before == {"set_by_administrator": True}
    signature = _sign(team, planned, OWN)
    assert signature.signer_id == surgeon.pk
    assert audit.verify().ok


def test_a_user_who_never_had_an_admin_set_password_signs_as_before(team: Team, planned: Case) -> None:
    assert _sign(team, planned, TEST_PASSWORD).signer_id == team.surgeon.pk
    assert SIGN_AFTER_ADMIN_RESET.startswith("Your password was set by an administrator")
