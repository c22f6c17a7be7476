"""Role groups after migrate, and the demo users."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command

from checklist.access import policies, roles
from checklist.management.commands.seed_demo import DEMO_PASSWORD
from checklist.models import User

pytestmark = pytest.mark.django_db


def test_every_role_group_exists_after_migrate_and_carries_no_django_permission() -> None:
    # One authorization model (issue 15): the policy matrix decides; the groups only say who holds a role.
    for name in (*roles.ROLES, *roles.DESIGNATIONS):
        group = Group.objects.get(name=name)
        assert list(group.permissions.all()) == []
    assert not Permission.objects.filter(content_type__app_label="checklist", codename="sign_plan").exists()


def test_admins_and_quality_officers_cannot_attest_or_sign() -> None:
    for role in (roles.ADMIN, roles.QUALITY_OFFICER):
        for action in ("step.attest", "plan.sign", "localization.record", "localization.confirm", "consent.record"):
            assert role not in policies.MATRIX[action], (role, action)


def test_only_surgeons_sign_plans_and_confirm_localizations() -> None:
    assert policies.MATRIX["plan.sign"] == {roles.SURGEON}
    assert policies.MATRIX["localization.confirm"] == {roles.SURGEON}


def test_has_role_and_users_with_roles_read_the_groups(team) -> None:
    assert policies.has_role(team.surgeon, roles.SURGEON)
    assert not policies.has_role(team.surgeon, roles.ADMIN)
    surgeons = set(policies.users_with_roles(roles.SURGEON))
    assert team.surgeon in surgeons
    assert team.nurse not in surgeons
    team.surgeon.is_active = False
    team.surgeon.save(update_fields=["is_active"])
    assert team.surgeon not in set(policies.users_with_roles(roles.SURGEON))
    assert team.surgeon in set(policies.users_with_roles(roles.SURGEON, active_only=False))


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


def test_no_code_outside_the_access_package_reads_group_membership_itself() -> None:
    """Every decision by role goes through ``policies`` (``has_role``, ``users_with_roles``): a
    lookup of the groups table elsewhere is a second authorization model."""
    import re
    from pathlib import Path

    reads = re.compile(r"groups__name|\.groups\.(filter|all|exists|values|get)\(")
    root = Path(__file__).resolve().parents[3]
    found = [
        f"{path.relative_to(root)}:{number}"
        for package in ("checklist", "interfaces", "imaging", "quality", "core")
        for path in sorted((root / package).rglob("*.py"))
        if "migrations" not in path.parts and "access" not in path.relative_to(root).parts[:2]
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if reads.search(line)
    ]
    assert found == []
