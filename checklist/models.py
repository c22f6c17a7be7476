"""Checklist models. Nothing outside checklist.services writes them."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.functional import cached_property

from checklist import roles


class User(AbstractUser):
    """A person who uses RightLevel. ``full_name`` is the printed name on every signature."""

    full_name = models.CharField(max_length=200, help_text="Printed name shown on signatures.")
    # Signing lock (21 CFR 11.300): set after repeated failed signing attempts.
    signing_locked_at = models.DateTimeField(null=True, blank=True)

    REQUIRED_FIELDS = ["full_name", "email"]

    class Meta:
        db_table = "checklist_user"
        permissions = list(roles.PERMISSIONS)
        constraints = [
            models.CheckConstraint(condition=~models.Q(full_name=""), name="user_full_name_not_empty"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.username

    @cached_property
    def role(self) -> str | None:
        """The role this user acts under (see checklist.roles.ROLES for the order)."""
        return roles.primary_role(frozenset(self.groups.values_list("name", flat=True)))

    @property
    def role_label(self) -> str:
        return roles.ROLE_LABELS.get(self.role or "", "No role")


class WorkerHeartbeat(models.Model):
    """The last time each Celery worker proved it was alive by running the heartbeat task."""

    hostname = models.CharField(max_length=255, unique=True)
    last_seen = models.DateTimeField()
    beats = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.hostname} @ {self.last_seen:%Y-%m-%d %H:%M:%S}"
