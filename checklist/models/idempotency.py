"""Idempotency keys: a write sent again with the same ``Idempotency-Key`` gets the first answer."""

from __future__ import annotations

from django.db import models

from checklist.models.people import User


class IdempotencyKey(models.Model):
    """One write a user's device sent with an ``Idempotency-Key``, and the answer it got.

    Written by ``checklist.idempotency.IdempotencyMiddleware`` in the transaction of the write it
    guards. Operational, not the record: the write itself is audited by its service; this row only
    lets a repeat be answered without running it again. Purged after
    ``RIGHTLEVEL_IDEMPOTENCY_RETENTION_DAYS``."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=100)
    method = models.CharField(max_length=10)
    path = models.TextField(help_text="The path and query string the key was first sent to")
    body_sha256 = models.CharField(max_length=64, help_text="SHA-256 of the first request's body")
    # Null only inside the transaction that runs the write (claimed, not answered yet): the row and
    # its answer commit together, so no committed row is ever without one.
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    response_body = models.BinaryField(blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "checklist_idempotency_key"
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_user_key_unique")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.key})"
