"""In-app notifications: what each user has read, and how each wants to be reached."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from checklist import audit
from checklist.audit.catalogue import AuditAction
from checklist.models import Notification, NotificationPreference, User


def notification_mark_read(*, actor: User, notification_ids: Iterable[int] | None = None) -> int:
    """Mark the actor's notifications read (all when no ids are given)."""
    unread = Notification.objects.filter(user=actor, read_at__isnull=True)
    if notification_ids is not None:
        unread = unread.filter(pk__in=list(notification_ids))
    return unread.update(read_at=timezone.now())


@transaction.atomic
def notification_preference_set(
    *, actor: User, email: bool, webhook: bool, pager_id: str = ""
) -> NotificationPreference:
    preference, _ = NotificationPreference.objects.select_for_update().get_or_create(user=actor)
    before = {"email": preference.email, "webhook": preference.webhook, "pager_id": preference.pager_id}
    preference.email, preference.webhook, preference.pager_id = email, webhook, pager_id.strip()[:60]
    preference.save()
    audit.append(action=AuditAction.NOTIFICATION_PREFERENCE_CHANGED, actor=actor, obj=preference, before=before,
                 after={"email": email, "webhook": webhook, "pager_id": preference.pager_id})  # fmt: skip
    return preference
