"""The admin: configuration by administrators. User changes made here are audited like any write."""

from __future__ import annotations

import contextvars
from typing import Any, cast

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.http import HttpRequest, HttpResponse
from knox.models import AuthToken

from checklist.models import ReminderRule, Room, User, WorkerHeartbeat
from checklist.services.accounts import user_password_admin_set
from checklist.services.configuration import reminder_rule_change, room_admin_save, user_admin_save
from checklist.services.signatures import signing_unlock

UNLOCK_REASON = "Unlocked in the administration pages after checking with the user."


_password_setter: contextvars.ContextVar[User | None] = contextvars.ContextVar("admin_password_setter", default=None)


class AuditedAdminPasswordChangeForm(AdminPasswordChangeForm):
    """The admin's "change password" form, saved through the audited service: the user is told and
    must choose their own password before signing."""

    def save(self, commit: bool = True) -> Any:
        user = super().save(commit=False)
        actor = _password_setter.get()
        if actor is None:  # pragma: no cover - only RightLevelUserAdmin.user_change_password uses this form
            raise RuntimeError("AuditedAdminPasswordChangeForm needs the administrator who sets the password")
        return user_password_admin_set(actor=actor, user=user)


@admin.register(User)
class RightLevelUserAdmin(UserAdmin):
    """Every change made here lands in the audit trail (system chain), like any other write."""

    list_display = ("username", "full_name", "email", "is_active", "is_staff", "signing_locked_at")
    search_fields = ("username", "full_name", "email")
    fieldsets = (
        *(UserAdmin.fieldsets or ()),
        ("Signatures", {"fields": ("full_name", "signing_locked_at", "password_set_by_admin_at")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("username", "full_name", "password1", "password2")}),)
    # A signing lock is lifted only through signing_unlock (audited, with a reason): the action below.
    readonly_fields = ("signing_locked_at", "password_set_by_admin_at", "last_login", "date_joined")
    actions = ["unlock_signing"]
    change_password_form = AuditedAdminPasswordChangeForm

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> HttpResponse:
        token = _password_setter.set(cast(User, request.user))
        try:
            return super().user_change_password(request, id, form_url)
        finally:
            _password_setter.reset(token)

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        """Saved in save_related, through the audited service, together with the groups and rooms."""
        request._rightlevel_password_changed = not change or "password" in form.changed_data  # type: ignore[attr-defined]

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        def memberships_save() -> None:
            super(RightLevelUserAdmin, self).save_related(request, form, formsets, change)

        user_admin_save(
            actor=cast(User, request.user),
            user=form.instance,
            password_changed=getattr(request, "_rightlevel_password_changed", False),
            memberships_save=memberships_save,
        )

    @admin.action(description="Unlock signing for the selected users")
    def unlock_signing(self, request: HttpRequest, queryset: Any) -> None:
        count = 0
        for user in queryset.filter(signing_locked_at__isnull=False):
            signing_unlock(actor=cast(User, request.user), user=user, reason=UNLOCK_REASON)
            count += 1
        self.message_user(request, f"Signing unlocked for {count} user(s).")


@admin.register(ReminderRule)
class ReminderRuleAdmin(admin.ModelAdmin):
    """Reminder timing, recipients and on/off are configuration (changes are audited)."""

    list_display = ("code", "description", "anchor", "offset_minutes", "recipients", "escalation", "enabled")
    list_editable = ("offset_minutes", "enabled")
    readonly_fields = ("code", "anchor", "condition")

    def save_model(self, request: HttpRequest, obj: ReminderRule, form: Any, change: bool) -> None:
        reminder_rule_change(actor=cast(User, request.user), rule=obj, changed=form.changed_data)


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    """Who works in which room decides who may act on its cases: changes are audited."""

    list_display = ("name",)
    filter_horizontal = ("staff",)

    def save_model(self, request: HttpRequest, obj: Room, form: Any, change: bool) -> None:
        """Saved in save_related, through the audited service, with its staff."""

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        room_admin_save(actor=cast(User, request.user), room=form.instance, staff=form.cleaned_data["staff"])


# API tokens have no admin page (issue 13, item 5): the database holds only their digests, and a
# token is issued to its user (POST /api/v1/auth/token/) and revoked by logout or a password change.
if admin.site.is_registered(AuthToken):
    admin.site.unregister(AuthToken)


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("hostname", "last_seen", "beats")
    readonly_fields = ("hostname", "last_seen", "beats")
