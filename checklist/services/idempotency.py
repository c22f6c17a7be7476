"""Idempotency keys (issue 18): the rows that let a write sent again be answered, not run again.

Operational rows, not the record: the write a key guards is audited by its own service, in the
same transaction as the key (``checklist.idempotency``), so neither commits without the other.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from checklist.models import IdempotencyKey, User
from checklist.services.case_writes import now


def idempotency_key_claim(*, user: User, key: str, method: str, path: str, body_sha256: str) -> IdempotencyKey | None:
    """Insert the key's row, or None if the user already has one by that key.

    Runs inside the request's transaction, which the row keeps claimed until it ends. On
    PostgreSQL a second request inserting the same (user, key) waits on the unique index until
    the first commits (then it gets None, and the first's answer to replay) or rolls back (then
    its insert goes through and it runs the write itself). A savepoint keeps the request's
    transaction usable after the unique violation."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("idempotency_key_claim must run inside the request's transaction")
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(
                user=user, key=key, method=method, path=path, body_sha256=body_sha256, created_at=now()
            )
    except IntegrityError:
        return None


def idempotency_key_complete(
    *, record: IdempotencyKey, status_code: int, headers: dict[str, str], body: bytes
) -> IdempotencyKey:
    """Store the answer a claimed key's write got, in the same transaction as the write."""
    record.status_code = status_code
    record.response_headers = headers
    record.response_body = body
    record.save(update_fields=["status_code", "response_headers", "response_body"])
    return record


def idempotency_key_release(*, record: IdempotencyKey) -> None:
    """Forget a claimed key whose answer is not kept (a refusal that may change: 401, 403, 429…),
    so the same key may be sent again and run; the write's transaction still commits."""
    record.delete()


def idempotency_keys_expired_purge(*, at: Any = None) -> int:
    """Delete the keys older than ``RIGHTLEVEL_IDEMPOTENCY_RETENTION_DAYS`` (a beat task)."""
    cutoff = (at or now()) - timedelta(days=int(settings.RIGHTLEVEL_IDEMPOTENCY_RETENTION_DAYS))
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
