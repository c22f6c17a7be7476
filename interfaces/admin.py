"""The admin pages of the interface: the mapping table (edits audited through the services) and,
read-only, the messages received and the appointments that need review."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest

from core.errors import ApplicationError
from interfaces import services
from interfaces.models import Appointment, InboundMessage, ServiceCodeMapping


@admin.register(ServiceCodeMapping)
class ServiceCodeMappingAdmin(admin.ModelAdmin):
    list_display = ("code", "procedure", "description")
    search_fields = ("code", "description")

    def save_model(self, request: HttpRequest, obj: ServiceCodeMapping, form: Any, change: bool) -> None:
        saved = services.service_code_mapping_save(
            actor=request.user,  # type: ignore[arg-type]
            code=obj.code,
            procedure=obj.procedure,
            description=obj.description,
            mapping=obj if change else None,
        )
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: ServiceCodeMapping) -> None:
        services.service_code_mapping_delete(actor=request.user, mapping=obj)  # type: ignore[arg-type]

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for mapping in queryset:
            self.delete_model(request, mapping)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "sending_facility", "control_id", "message_type", "status", "ack_code", "error")
    list_filter = ("status", "message_type", "sending_facility")
    search_fields = ("control_id",)


@admin.register(Appointment)
class AppointmentAdmin(ReadOnlyAdmin):
    list_display = ("scheduled_start", "sending_facility", "appointment_id", "status", "case", "review_reasons")
    list_filter = ("status", "sending_facility")
    actions = ["reprocess"]

    @admin.action(description="Reprocess (after putting the mapping, room or user right)")
    def reprocess(self, request: HttpRequest, queryset: Any) -> None:
        for appointment in queryset:
            try:
                done = services.appointment_reprocess(actor=request.user, appointment=appointment)  # type: ignore[arg-type]
            except ApplicationError as error:
                self.message_user(request, f"{appointment}: {error}", level=messages.ERROR)
                continue
            if done.case_id:
                self.message_user(request, f"{appointment}: scheduled as case {done.case_id}.")
            else:
                self.message_user(request, f"{appointment}: still needs review: {' '.join(done.review_reasons)}",
                                  level=messages.WARNING)  # fmt: skip
