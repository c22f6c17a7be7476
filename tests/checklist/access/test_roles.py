"""Role groups after migrate, and the demo users."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from checklist.access import roles
from checklist.management.commands.seed_demo import DEMO_PASSWORD
from checklist.models import User

pytestmark = pytest.mark.django_db


def test_every_role_group_exists_with_its_permissions_after_migrate() -> None:
    for role, codenames in roles.ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=role)
        assert set(group.permissions.values_list("codename", flat=True)) == set(codenames)


def test_admins_and_quality_officers_cannot_attest_or_sign() -> None:
    for role in (roles.ADMIN, roles.QUALITY_OFFICER):
        codenames = set(Group.objects.get(name=role).permissions.values_list("codename", flat=True))
        assert not codenames & {"attest_step", "sign_plan", "record_evidence", "record_localization"}


def test_only_surgeons_sign_plans() -> None:
    signers = Group.objects.filter(permissions__codename="sign_plan").values_list("name", flat=True)
    assert list(signers) == [roles.SURGEON]


def test_seed_demo_creates_one_user_per_role_and_is_idempotent() -> None:
    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_demo", stdout=io.StringIO())
    expected = {
        "nurse": roles.NURSE,
        "surgeon": roles.SURGEON,
        "anesthesia": roles.ANESTHESIA,
        "radiographer": roles.RADIOGRAPHER,
        "quality": roles.QUALITY_OFFICER,
        "admin": roles.ADMIN,
    }
    assert User.objects.filter(username__in=expected).count() == len(expected)
    for username, role in expected.items():
        user = User.objects.get(username=username)
        assert user.role == role
        assert user.check_password(DEMO_PASSWORD)
        assert user.full_name


def test_full_name_is_required() -> None:
    from django.core.exceptions import ValidationError

    user = User(username="noname")
    user.set_password("x-long-password")
    with pytest.raises(ValidationError) as excinfo:
        user.full_clean()
    assert "full_name" in excinfo.value.message_dict


def test_usernames_are_unique(make_user) -> None:
    from django.db import IntegrityError

    make_user(username="dup")
    with pytest.raises(IntegrityError):
        User.objects.create(username="dup", full_name="Other")
