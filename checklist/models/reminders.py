"""Reminder rules, reminders, in-app notifications and the delivery outbox."""

from __future__ import annotations

from django.db import models

from checklist.models.cases import Case
from checklist.models.people import User


class ReminderRule(models.Model):
    """When to remind whom about what. Defaults come from checklist.reminders.rules; the timing,
    recipients and on/off switch are editable in the admin."""

    code = models.CharField(max_length=60, unique=True)
    description = models.CharField(max_length=300)
    anchor = models.CharField(max_length=30, help_text="What the offset counts from.")
    offset_minutes = models.IntegerField(help_text="Minutes after the anchor (negative = before).")
    condition = models.CharField(max_length=40, help_text="What must still be true for the reminder to go out.")
    recipients = models.JSONField(help_text="Recipient groups, e.g. ['surgeon', 'charge_nurse'].")
    escalation = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class ReminderState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


class Reminder(models.Model):
    """One reminder to one person, written or cancelled in the same transaction as the change
    that makes it due or moot; the beat sweep claims due rows and delivers them."""

    rule = models.ForeignKey(ReminderRule, on_delete=models.PROTECT, related_name="reminders")
    case = models.ForeignKey(Case, on_delete=models.PROTECT, null=True, blank=True, related_name="reminders")
    recipient = models.ForeignKey(User, on_delete=models.PROTECT, related_name="reminders")
    occurrence = models.CharField(max_length=60, help_text="Which occurrence of the rule (anchor time or stop id).")
    dedupe_key = models.CharField(max_length=200, unique=True)
    due_at = models.DateTimeField()
    state = models.CharField(max_length=12, choices=ReminderState.choices, default=ReminderState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)

    class Meta:
        db_table = "checklist_reminder"
        ordering = ["due_at", "id"]
        indexes = [
            # The sweep's query: pending rows that are due, oldest first.
            models.Index(fields=["due_at"], condition=models.Q(state="pending"), name="reminder_pending_due_idx"),
            models.Index(fields=["case", "state"], name="reminder_case_state_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} → {self.recipient_id} at {self.due_at:%Y-%m-%d %H:%M}"


class Notification(models.Model):
    """An in-app notification (the bell)."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="notifications")
    reminder = models.OneToOneField(
        Reminder, on_delete=models.PROTECT, null=True, blank=True, related_name="notification"
    )
    case = models.ForeignKey(Case, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    title = models.CharField(max_length=200)
    body = models.TextField()
    link = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_unread_idx")]

    def __str__(self) -> str:
        return self.title


class NotificationPreference(models.Model):
    """Per-user channels. In-app notifications are always on; e-mail and paging are choices."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="notification_preference")
    email = models.BooleanField(default=True)
    webhook = models.BooleanField(default=False, help_text="Also page through the hospital's paging webhook.")
    pager_id = models.CharField(max_length=60, blank=True)

    def __str__(self) -> str:
        return f"preferences of {self.user_id}"


class DeliveryChannel(models.TextChoices):
    EMAIL = "email", "E-mail"
    WEBHOOK = "webhook", "Webhook"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    ATTEMPTING = "attempting", "Send attempted"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Delivery(models.Model):
    """One external send (an e-mail or a webhook POST) waiting in the outbox. Written in the
    transaction that delivers the in-app notification (or that locks signing); sent later, outside
    any transaction, by ``deliveries_send``. "Send attempted" is committed before the network is
    touched and a row marked sent is never sent again."""

    reminder = models.ForeignKey(Reminder, on_delete=models.PROTECT, null=True, blank=True, related_name="deliveries")
    channel = models.CharField(max_length=12, choices=DeliveryChannel.choices)
    key = models.CharField(max_length=200, help_text="Idempotency key the receiver sees (one send per channel).")
    to = models.JSONField(default=list, blank=True, help_text="E-mail addresses (the webhook URL is configured).")
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    html = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=12, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField()
    attempted_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        db_table = "checklist_delivery"
        ordering = ["next_attempt_at", "id"]
        verbose_name_plural = "deliveries"
        constraints = [models.UniqueConstraint(fields=["channel", "key"], name="delivery_channel_key_unique")]
        indexes = [
            models.Index(
                fields=["channel", "next_attempt_at"],
                condition=models.Q(state__in=["pending", "attempting"]),
                name="delivery_due_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.key} ({self.state})"
