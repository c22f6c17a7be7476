"""Users, roles and worker heartbeats."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from checklist import audit
from checklist.access import roles
from checklist.audit.catalogue import AuditAction
from checklist.models import User, WorkerHeartbeat


@transaction.atomic
def roles_sync() -> list[str]:
    """Make sure every role and designation group exists (after every ``migrate``). Groups carry
    no Django permissions: ``checklist.access.policies`` decides what each role may do."""
    names = [*roles.ROLES, *roles.DESIGNATIONS]
    for name in names:
        Group.objects.get_or_create(name=name)
    return names


@transaction.atomic
def user_create(
    *,
    username: str,
    full_name: str,
    password: str,
    role_names: Iterable[str],
    email: str = "",
    is_staff: bool = False,
    is_superuser: bool = False,
    actor: User | None = None,
) -> User:
    """Create a user in the given role groups. Unknown roles are refused. Audited on the system chain."""
    role_names = list(role_names)
    unknown = sorted(set(role_names) - set(roles.ROLES) - set(roles.DESIGNATIONS))
    if unknown:
        raise ValueError(f"Unknown role(s): {', '.join(unknown)}")
    user = User(
        username=username,
        full_name=full_name,
        email=email,
        is_staff=is_staff,
        is_superuser=is_superuser,
    )
    user.set_password(password)
    user.full_clean()
    user.save()
    user.groups.set(Group.objects.filter(name__in=role_names))
    user.access_forget()
    audit.append(
        action=AuditAction.USER_CREATED, actor=actor, obj=user, object_type="User", after=_user_json(user, role_names)
    )
    return user


def _user_json(user: User, role_names: Iterable[str]) -> dict[str, object]:
    return {
        "username": user.username,
        "full_name": user.full_name,
        "email": user.email,
        "roles": sorted(role_names),
        "is_active": user.is_active,
        "is_staff": user.is_staff,
        "is_superuser": user.is_superuser,
    }


@transaction.atomic
def user_ensure(
    *,
    username: str,
    full_name: str,
    password: str,
    role_names: Iterable[str],
    email: str = "",
    is_staff: bool = False,
    is_superuser: bool = False,
    actor: User | None = None,
) -> tuple[User, bool]:
    """Create the user if absent, else bring its name, roles and password in line (demo seeding)."""
    role_names = list(role_names)
    existing = User.objects.filter(username=username).first()
    if existing is None:
        return (
            user_create(
                username=username,
                full_name=full_name,
                password=password,
                role_names=role_names,
                email=email,
                is_staff=is_staff,
                is_superuser=is_superuser,
                actor=actor,
            ),
            True,
        )
    before = _user_json(existing, existing.groups.values_list("name", flat=True))
    password_changed = not existing.check_password(password)
    existing.full_name = full_name
    existing.email = email
    existing.is_staff = is_staff
    existing.is_superuser = is_superuser
    existing.is_active = True
    if password_changed:
        existing.set_password(password)
    existing.full_clean()
    existing.save()
    existing.groups.set(Group.objects.filter(name__in=role_names))
    existing.access_forget()
    after = _user_json(existing, role_names)
    if after != before or password_changed:
        audit.append(
            action=AuditAction.USER_UPDATED,
            actor=actor,
            obj=existing,
            object_type="User",
            before=before,
            after={**after, "password_changed": password_changed},
        )
    return existing, False


def heartbeat_record(*, hostname: str) -> WorkerHeartbeat:
    """Note that ``hostname`` is alive now. Operational telemetry, not a clinical record."""
    now = timezone.now()
    with transaction.atomic():
        beat, created = WorkerHeartbeat.objects.select_for_update().get_or_create(
            hostname=hostname, defaults={"last_seen": now, "beats": 1}
        )
        if not created:
            beat.last_seen = now
            beat.beats += 1
            beat.save(update_fields=["last_seen", "beats"])
    return beat
