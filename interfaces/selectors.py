"""Reads of the interface: the appointments waiting for the nurse in charge, and what the
administrators' interface page shows (traffic per hour, errors, held messages)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, QuerySet
from django.db.models.functions import TruncHour
from django.utils import timezone

from checklist.access import roles
from checklist.access.policies import has_role
from checklist.models import User
from interfaces.hl7 import Hl7Error, message_read
from interfaces.models import Appointment, AppointmentStatus, InboundMessage, MessageStatus

REFUSED = (MessageStatus.ERROR, MessageStatus.REJECTED)


def may_resolve_appointments(user: User) -> bool:
    """The nurse in charge (the charge-nurse designation) and administrators resolve appointments."""
    return user.is_authenticated and (has_role(user, roles.CHARGE_NURSE) or has_role(user, roles.ADMIN))


def may_manage_interface(user: User) -> bool:
    return user.is_authenticated and has_role(user, roles.ADMIN)


@dataclass(frozen=True)
class ReviewItem:
    appointment: Appointment
    patient: str  # "FAMILY, Given" as the EHR sent it ("" when the raw message is gone)
    procedure_code: str
    reasons: list[str]


def appointments_needing_review() -> QuerySet[Appointment]:
    return (
        Appointment.objects.filter(status=AppointmentStatus.NEEDS_REVIEW, case__isnull=True)
        .select_related("last_message")
        .order_by("scheduled_start", "id")
    )


def review_items(limit: int = 50) -> list[ReviewItem]:
    """The appointments that need review, each with the patient's name read from the EHR's
    newest message for it and the reasons it is not a case yet."""
    items = []
    for appointment in appointments_needing_review()[:limit]:
        patient = ""
        if appointment.last_message.raw:
            try:
                message = message_read(appointment.last_message.raw)
                patient = f"{message.family_name.upper()}, {message.given_name}"
            except Hl7Error:
                patient = ""
        items.append(ReviewItem(appointment, patient, appointment.service_code, list(appointment.review_reasons)))
    return items


def appointment_for_review(appointment_id: int) -> Appointment | None:
    return appointments_needing_review().filter(pk=appointment_id).first()


@dataclass(frozen=True)
class InterfacePage:
    per_hour: list[tuple[dt.datetime, int, int]]  # hour start, received, refused
    refused: list[InboundMessage]
    held: list[InboundMessage]
    needs_review: int
    received_today: int


def interface_page(*, now: dt.datetime | None = None, hours: int = 24, limit: int = 100) -> InterfacePage:
    """Messages received per hour over the last ``hours`` hours (every hour listed, empty ones as
    0), the refused messages not yet reprocessed (newest first) and the held ones (oldest first)."""
    now = now or timezone.now()
    current = timezone.localtime(now).replace(minute=0, second=0, microsecond=0)
    since = current - dt.timedelta(hours=hours - 1)
    rows = (
        InboundMessage.objects.filter(received_at__gte=since)
        .annotate(hour=TruncHour("received_at"))
        .values("hour", "status")
        .annotate(n=Count("id"))
    )
    received: dict[dt.datetime, int] = {}
    refused: dict[dt.datetime, int] = {}
    for row in rows:
        hour = timezone.localtime(row["hour"]).replace(minute=0, second=0, microsecond=0)
        received[hour] = received.get(hour, 0) + row["n"]
        if row["status"] in REFUSED:
            refused[hour] = refused.get(hour, 0) + row["n"]
    per_hour = []
    for step in range(hours):
        hour = since + dt.timedelta(hours=step)
        per_hour.append((hour, received.get(hour, 0), refused.get(hour, 0)))
    return InterfacePage(
        per_hour=per_hour,
        refused=list(
            InboundMessage.objects.filter(status__in=REFUSED, reprocessed_as__isnull=True)
            .defer("raw")
            .order_by("-received_at", "-id")[:limit]
        ),
        held=list(
            InboundMessage.objects.filter(status=MessageStatus.HELD).defer("raw").order_by("received_at", "id")[:limit]
        ),
        needs_review=appointments_needing_review().count(),
        received_today=sum(n for _, n, _ in per_hour),
    )


def message_for_admin(message_id: int) -> InboundMessage | None:
    return InboundMessage.objects.select_related("reprocessed_as", "case").filter(pk=message_id).first()
