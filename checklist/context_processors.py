from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from core.middleware import PASSIVE_HEADER, inactivity_timeout_seconds


def session_timeout(request: HttpRequest) -> dict[str, Any]:
    """Lets every page show the inactivity countdown."""
    return {
        "inactivity_timeout_seconds": inactivity_timeout_seconds(),
        "passive_header": PASSIVE_HEADER,
    }


def notifications(request: HttpRequest) -> dict[str, Any]:
    """The bell's unread count on every page (one indexed query)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    from checklist.models import Notification

    return {"unread_notifications": Notification.objects.filter(user=user, read_at__isnull=True).count()}
