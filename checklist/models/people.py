"""People: the users of every role."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.functional import cached_property

from checklist.access import roles


class User(AbstractUser):
    """A person who uses RightLevel. ``full_name`` is the printed name on every signature."""

    full_name = models.CharField(max_length=200, help_text="Printed name shown on signatures.")
    # Signing lock (21 CFR 11.300): set after repeated failed signing attempts.
    signing_locked_at = models.DateTimeField(null=True, blank=True)
    # Set when an administrator sets the password; cleared when the user chooses their own. While
    # set, the user may not sign anything: an administrator cannot sign as someone else.
    password_set_by_admin_at = models.DateTimeField(null=True, blank=True)

    REQUIRED_FIELDS = ["full_name", "email"]

    class Meta:
        db_table = "checklist_user"
        constraints = [
            models.CheckConstraint(condition=~models.Q(full_name=""), name="user_full_name_not_empty"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.username

    @cached_property
    def group_names(self) -> frozenset[str]:
        """The names of this user's groups (their roles), read once per user object."""
        return frozenset(self.groups.values_list("name", flat=True))

    @cached_property
    def room_ids(self) -> frozenset[int]:
        """The rooms this user is on the staff of, read once per user object (one per request)."""
        # Room.staff's table, reached from this side (models.cases imports this module, not back).
        return frozenset(self.rooms.through.objects.filter(user_id=self.pk).values_list("room_id", flat=True))

    def roles_known(self, group_names: frozenset[str]) -> None:
        """Set the roles read with this user (``users_by_username``), saving their own read."""
        self.__dict__["group_names"] = group_names
        self.__dict__.pop("role", None)

    def access_forget(self) -> None:
        """Drop the cached roles and rooms (after the user's groups or rooms change)."""
        for name in ("group_names", "role", "room_ids"):
            self.__dict__.pop(name, None)

    @cached_property
    def role(self) -> str | None:
        """The role this user acts under (see checklist.access.roles.ROLES for the order)."""
        return roles.primary_role(self.group_names)

    @property
    def role_label(self) -> str:
        return roles.ROLE_LABELS.get(self.role or "", "No role")
