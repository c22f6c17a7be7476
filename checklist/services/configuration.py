"""Configuration changed by administrators in the admin pages: users, rooms, reminder rules.

The admin collects the change with Django's forms; these services save it and audit it (system
chain) in one transaction, like every other write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.db import transaction

from checklist import audit
from checklist.audit.catalogue import AuditAction
from checklist.models import ReminderRule, Room, User
from checklist.services.case_writes import reminders_resync_open_cases

AUDITED_USER_FIELDS = ("username", "full_name", "email", "is_active", "is_staff", "is_superuser")
ADMIN_PAGES = "changed in the administration pages"


def _user_snapshot(user: User) -> dict[str, Any]:
    data: dict[str, Any] = {name: getattr(user, name) for name in AUDITED_USER_FIELDS}
    data["groups"] = sorted(user.groups.values_list("name", flat=True)) if user.pk else []
    data["rooms"] = sorted(user.rooms.values_list("name", flat=True)) if user.pk else []
    return data


@transaction.atomic
def user_admin_save(
    *, actor: User, user: User, password_changed: bool, memberships_save: Callable[[], None] = lambda: None
) -> User:
    """Save a user as edited in the admin (``user`` carries the form's values; ``memberships_save``
    saves its groups and rooms). Audited (user.created / user.updated) when anything the trail
    tracks changed, or the password was set."""
    existing = User.objects.filter(pk=user.pk).first() if user.pk else None
    before = _user_snapshot(existing) if existing is not None else None
    user.save()
    memberships_save()
    user.access_forget()
    after = _user_snapshot(user)
    if before != after or password_changed:
        audit.append(
            action=AuditAction.USER_UPDATED if existing is not None else AuditAction.USER_CREATED,
            actor=actor,
            obj=user,
            object_type="User",
            before=before,
            after=after,
            reason=ADMIN_PAGES,
        )
    return user


@transaction.atomic
def room_admin_save(*, actor: User, room: Room, staff: Iterable[User]) -> Room:
    """Save a room as edited in the admin, with exactly ``staff`` (who may act on its cases)."""
    change = room.pk is not None
    before = (
        {
            "name": Room.objects.filter(pk=room.pk).values_list("name", flat=True).first(),
            "staff": sorted(room.staff.values_list("username", flat=True)),
        }
        if change
        else None
    )
    room.save()
    room.staff.set(list(staff))
    audit.append(
        action=AuditAction.ROOM_UPDATED if change else AuditAction.ROOM_CREATED,
        actor=actor,
        obj=room,
        before=before,
        after={"name": room.name, "staff": sorted(room.staff.values_list("username", flat=True))},
    )
    return room


@transaction.atomic
def reminder_rule_change(*, actor: User, rule: ReminderRule, changed: Iterable[str]) -> ReminderRule:
    """Save a reminder rule's timing, recipients or on/off as edited in the admin (``rule``
    carries the new values), audited with the old and new values of ``changed``; open cases follow
    the new rule now, not at their next change."""
    fields = list(changed)
    stored = ReminderRule.objects.filter(pk=rule.pk).values(*fields).first() if rule.pk and fields else None
    rule.save()
    audit.append(
        action=AuditAction.REMINDER_RULE_CHANGED,
        actor=actor,
        obj=rule,
        before=stored,
        after={name: getattr(rule, name) for name in fields},
    )
    reminders_resync_open_cases()
    return rule
