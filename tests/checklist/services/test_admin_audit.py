"""Changes made in the admin land in the audit trail; a signing lock is lifted only with a reason."""

from __future__ import annotations

import pytest
from django.utils import timezone

from checklist.access import roles
from checklist.models import AuditEvent, Room, User
from tests.support.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    admin = UserFactory(username="root", roles=[roles.ADMIN], is_staff=True, is_superuser=True, full_name="Ada Admin")
    client.force_login(admin)
    return client


def test_changing_a_user_in_the_admin_is_audited(admin_client) -> None:
    target = UserFactory(username="nina", roles=[roles.NURSE], full_name="Nina Nurse")
    page = admin_client.get(f"/admin/checklist/user/{target.pk}/change/")
    form = page.context["adminform"].form
    skipped = ("groups", "user_permissions", "last_login", "date_joined")
    data = {k: v for k, v in form.initial.items() if v is not None and k not in skipped}
    data.update(full_name="Nina N. Nurse", groups=[g.pk for g in target.groups.all()], email="nina@x.invalid")
    data["date_joined_0"], data["date_joined_1"] = timezone.now().strftime("%Y-%m-%d"), "00:00:00"
    response = admin_client.post(f"/admin/checklist/user/{target.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    event = AuditEvent.objects.filter(action="user.updated", object_id=str(target.pk)).get()
    assert event.actor_username == "root"
    assert event.before["full_name"] == "Nina Nurse"
    assert event.after["full_name"] == "Nina N. Nurse"


def test_a_signing_lock_is_lifted_only_through_the_audited_action(admin_client) -> None:
    locked = UserFactory(username="sid", roles=[roles.SURGEON], full_name="Sid", signing_locked_at=timezone.now())
    response = admin_client.post(
        "/admin/checklist/user/", {"action": "unlock_signing", "_selected_action": [locked.pk]}
    )
    assert response.status_code == 302
    locked.refresh_from_db()
    assert locked.signing_locked_at is None
    event = AuditEvent.objects.get(action="signature.unlocked")
    assert event.reason.startswith("Unlocked in the administration pages")


def test_room_staff_changes_are_audited(admin_client) -> None:
    nurse = UserFactory(username="n2", roles=[roles.NURSE], full_name="N Two")
    response = admin_client.post("/admin/checklist/room/add/", {"name": "OR 9", "staff": [nurse.pk]})
    assert response.status_code == 302
    room = Room.objects.get(name="OR 9")
    event = AuditEvent.objects.get(action="room.created", object_id=str(room.pk))
    assert event.after == {"name": "OR 9", "staff": ["n2"]}
    assert User.objects.get(username="n2").rooms.filter(pk=room.pk).exists()
