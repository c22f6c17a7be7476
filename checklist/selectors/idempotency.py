"""Idempotency keys (issue 18): the answer a user's earlier write with a key got."""

from __future__ import annotations

from checklist.models import IdempotencyKey, User


def idempotency_key_get(*, user: User, key: str) -> IdempotencyKey | None:
    return IdempotencyKey.objects.filter(user=user, key=key).first()
