"""What the interface keeps: every message received (raw), the appointments the EHR sent, and the
hospital's service codes mapped to the seven procedures. Only interfaces.services writes them."""

from __future__ import annotations

from django.db import models

from checklist.models import Case, Procedure


class ServiceCodeMapping(models.Model):
    """One hospital service code (AIS-3.1) and the procedure it means. Edited in the admin, audited."""

    code = models.CharField(max_length=40, unique=True)
    description = models.CharField(max_length=200, blank=True)
    procedure = models.CharField(max_length=60, choices=Procedure.choices)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} → {self.get_procedure_display()}"


class MessageStatus(models.TextChoices):
    APPLIED = "applied", "Applied"
    HELD = "held", "Held (waiting for its appointment)"
    NEEDS_REVIEW = "needs_review", "Applied: appointment needs review"
    IGNORED = "ignored", "Accepted, nothing to change here"
    ERROR = "error", "Error (AE)"
    REJECTED = "rejected", "Rejected (AR)"


class InboundMessage(models.Model):
    """One message as received. ``(sending_facility, control_id)`` is unique among the messages
    accepted (AA): a repeat is answered AA and applied once. A refused message (AE/AR) holds no
    key: the EHR may send it again, corrected, under the same control ID."""

    sending_facility = models.CharField(max_length=200, blank=True)
    control_id = models.CharField(max_length=200, blank=True)
    message_type = models.CharField(max_length=20, blank=True)
    appointment_key = models.CharField(max_length=320, blank=True, db_index=True)
    received_at = models.DateTimeField(db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=MessageStatus.choices)
    ack_code = models.CharField(max_length=2)
    error = models.CharField(max_length=400, blank=True)
    error_location = models.CharField(max_length=20, blank=True)
    attempts = models.PositiveIntegerField(default=1)
    raw = models.TextField(help_text="The message as received (truncated past the size limit).")
    raw_size = models.PositiveIntegerField(default=0)
    peer = models.CharField(max_length=100, blank=True)
    case = models.ForeignKey(Case, on_delete=models.PROTECT, null=True, blank=True, related_name="hl7_messages")
    reprocessed_as = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reprocessed_from",
        help_text="The corrected message an administrator sent in this refused message's place.",
    )

    class Meta:
        ordering = ["received_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sending_facility", "control_id"],
                condition=models.Q(status__in=["applied", "held", "needs_review", "ignored"]),
                name="hl7_message_once_per_facility_control_id",
            )
        ]
        indexes = [models.Index(fields=["status", "appointment_key"])]

    def __str__(self) -> str:
        return f"{self.message_type} {self.sending_facility}/{self.control_id} ({self.status})"


class AppointmentStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled (case created)"
    NEEDS_REVIEW = "needs_review", "Needs review"
    CANCELLED = "cancelled", "Cancelled"
    NO_SHOW = "no_show", "No-show"


class Appointment(models.Model):
    """An appointment the EHR sent (SIU), keyed by sending facility + placer appointment ID. It has
    a case once every identifier resolved; until then it waits, listed for the nurse in charge."""

    sending_facility = models.CharField(max_length=200)
    appointment_id = models.CharField(max_length=100)
    status = models.CharField(max_length=16, choices=AppointmentStatus.choices)
    review_reasons = models.JSONField(default=list, blank=True)
    case = models.OneToOneField(Case, on_delete=models.PROTECT, null=True, blank=True, related_name="appointment")
    mrn = models.CharField(max_length=40)
    service_code = models.CharField(max_length=40, blank=True)
    room_name = models.CharField(max_length=100, blank=True)
    surgeon_id = models.CharField(max_length=100, blank=True)
    scheduled_start = models.DateTimeField(null=True, blank=True)
    last_message = models.ForeignKey(InboundMessage, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["scheduled_start", "id"]
        constraints = [
            models.UniqueConstraint(fields=["sending_facility", "appointment_id"], name="hl7_appointment_once")
        ]

    def __str__(self) -> str:
        return f"Appointment {self.sending_facility}/{self.appointment_id} ({self.status})"

    @property
    def key(self) -> str:
        return appointment_key(self.sending_facility, self.appointment_id)


def appointment_key(facility: str, appointment_id: str) -> str:
    return f"{facility}|{appointment_id}"


class OutboundState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent (AA)"
    FAILED = "failed", "Failed (gave up)"


class OutboundMessage(models.Model):
    """One message to the EHR waiting in the interface's outbox: the signed-out case's record as
    MDM^T02. Written in the sign-out's transaction; built and sent later, outside it, with retries."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="hl7_outbound")
    message_type = models.CharField(max_length=20, default="MDM^T02")
    control_id = models.CharField(max_length=40, unique=True)
    destination = models.CharField(max_length=200)
    state = models.CharField(max_length=12, choices=OutboundState.choices, default=OutboundState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField(db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    ack_code = models.CharField(max_length=2, blank=True)
    last_error = models.CharField(max_length=400, blank=True)

    class Meta:
        ordering = ["next_attempt_at", "id"]

    def __str__(self) -> str:
        return f"{self.message_type} case {self.case_id} ({self.state})"
