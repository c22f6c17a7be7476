"""post_migrate hooks (keep the role groups and the beat schedule in step with the code) and the
access events of signing in and out."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_migrate
from django.dispatch import receiver
from django.http import HttpRequest


@receiver(post_migrate)
def _sync_after_migrate(sender: AppConfig, **kwargs: Any) -> None:
    if sender.name != "checklist":
        return
    from checklist.periodic_tasks import periodic_tasks_sync
    from checklist.reminders.sync import reminder_rules_sync
    from checklist.services import roles_sync

    roles_sync()
    periodic_tasks_sync()
    reminder_rules_sync()


# --- access events: sign-in, failed sign-in, sign-out (issue 13, item 6) ------------------------

LOGOUT_REASON_ATTR = "_rightlevel_logout_reason"


def request_channel(request: HttpRequest | None) -> str:
    """Where a sign-in came through: the API, the admin, or the tablet's pages."""
    if request is None:
        return "command"
    if request.path.startswith("/api/"):
        return "api"
    if request.path.startswith("/admin/"):
        return "admin"
    return "page"


@receiver(user_logged_in, dispatch_uid="checklist.access.signed_in")
def _signed_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    from checklist.services.record_access import access_sign_in

    access_sign_in(user=user, channel=request_channel(request))


@receiver(user_login_failed, dispatch_uid="checklist.access.sign_in_failed")
def _sign_in_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    from checklist.services.record_access import access_sign_in_fail

    username = credentials.get("username")
    access_sign_in_fail(username=username if isinstance(username, str) else "", channel=request_channel(request))


@receiver(user_logged_out, dispatch_uid="checklist.access.signed_out")
def _signed_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is None:  # the session had no user: nobody signed out
        return
    from checklist.services.record_access import access_sign_out

    reason = str(getattr(request, LOGOUT_REASON_ATTR, "")) if request is not None else ""
    access_sign_out(user=user, channel=request_channel(request), reason=reason)
