from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from checklist.models import User, WorkerHeartbeat


@admin.register(User)
class RightLevelUserAdmin(UserAdmin):
    list_display = ("username", "full_name", "email", "is_active", "is_staff")
    search_fields = ("username", "full_name", "email")
    fieldsets = (
        *(UserAdmin.fieldsets or ()),
        ("Signatures", {"fields": ("full_name", "signing_locked_at")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("username", "full_name", "password1", "password2")}),)


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("hostname", "last_seen", "beats")
    readonly_fields = ("hostname", "last_seen", "beats")
