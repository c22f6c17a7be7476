"""Time-stamping the audit seals with the RFC 3161 authority at TSA_URL (checklist/audit/timestamps.py).

``audit_timestamps_take`` is called after a seal commits (the Celery seal task, ``seal_audit``,
the verification runs): it asks the TSA for a token for every seal still pending, oldest first,
and stores each one with an ``audit.timestamped`` event on the system chain, in one transaction.
The TSA is only ever called outside a transaction and never by a clinical write: a TSA that is
down leaves the seals pending (the seal itself is already taken), records the error on the status
row the integrity page shows, and the next attempt waits ``TSA_RETRY_SECONDS``, doubling up to an
hour.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from checklist import audit
from checklist.audit import timestamps
from checklist.models import AuditSeal, AuditSealTimestamp, AuditTimestampStatus, User

logger = logging.getLogger(__name__)

MAX_BACKOFF = dt.timedelta(hours=1)
BATCH = 100


@dataclass
class TimestampRun:
    stamped: list[int]  # seal numbers time-stamped now
    pending: int  # seals still waiting for a token
    error: str = ""
    skipped: str = ""  # why nothing was tried (off, or waiting for the next retry)


def audit_timestamp_status() -> AuditTimestampStatus:
    status, _ = AuditTimestampStatus.objects.get_or_create(pk=1)
    return status


def seals_pending():  # type: ignore[no-untyped-def]
    """Seals that have no time-stamp yet and need one (those after TSA_REQUIRED_FROM)."""
    pending = AuditSeal.objects.filter(timestamp__isnull=True)
    since = timestamps.required_from()
    if since is not None:
        pending = pending.filter(at__gte=since)
    return pending.order_by("seq")


def audit_timestamps_take(*, actor: User | None = None, force: bool = False, limit: int = BATCH) -> TimestampRun:
    """Time-stamp the pending seals, oldest first. ``force`` ignores the retry back-off (a person
    asked, e.g. ``seal_audit``). Never raises because the TSA is down."""
    if not timestamps.enabled():
        return TimestampRun(stamped=[], pending=0, skipped="time-stamping is off (TSA_URL is empty)")
    status = audit_timestamp_status()
    now = timezone.now()
    if not force and status.next_attempt_at is not None and status.next_attempt_at > now:
        return TimestampRun(stamped=[], pending=seals_pending().count(), skipped="waiting to retry")
    stamped: list[int] = []
    error = ""
    for seal in list(seals_pending()[:limit]):
        try:
            token = timestamps.token_request(seal)
        except timestamps.TimestampError as exc:
            error = str(exc)
            break
        if _timestamp_record(seal=seal, token=token, actor=actor):
            stamped.append(seal.seq)
    _status_record(error=error, stamped=bool(stamped))
    pending = seals_pending().count()
    if error:
        logger.warning("RightLevel: audit seals not time-stamped (%d pending): %s", pending, error)
    elif stamped:
        logger.info("RightLevel: time-stamped seal(s) %s; %d pending", stamped, pending)
    return TimestampRun(stamped=stamped, pending=pending, error=error)


@transaction.atomic
def _timestamp_record(*, seal: AuditSeal, token: timestamps.Token, actor: User | None) -> bool:
    """Store one token and its audit event; False if another worker stored one first."""
    AuditTimestampStatus.objects.select_for_update().get(pk=1)  # one writer at a time
    if AuditSealTimestamp.objects.filter(seal=seal).exists():
        return False
    stamp = AuditSealTimestamp(
        seal=seal,
        seal_seq=seal.seq,
        seal_hash=seal.seal_hash,
        token=token.response,
        gen_time=token.gen_time,
        tsa_certificate_sha256=token.fingerprint,
        recorded_at=timezone.now(),
    )
    stamp.full_clean()
    stamp.save(force_insert=True)
    audit.append(
        action=timestamps.TIMESTAMPED_ACTION,
        actor=actor,
        obj=stamp,
        after={
            "seal": seal.seq,
            "seal_hash": seal.seal_hash,
            "gen_time": token.gen_time,
            "tsa_certificate_sha256": token.fingerprint,
        },
    )
    return True


@transaction.atomic
def _status_record(*, error: str, stamped: bool) -> None:
    status = AuditTimestampStatus.objects.select_for_update().get(pk=1)
    now = timezone.now()
    status.last_attempt_at = now
    if error:
        status.failures += 1
        status.last_error = error[:2000]
        backoff = dt.timedelta(seconds=settings.TSA_RETRY_SECONDS * 2 ** min(status.failures - 1, 16))
        status.next_attempt_at = now + min(backoff, MAX_BACKOFF)
    else:
        status.failures = 0
        status.next_attempt_at = None
        if stamped:
            status.last_success_at = now
    status.save()


def audit_seal_and_stamp() -> tuple[AuditSeal, TimestampRun]:
    """Seal every chain head that moved, then time-stamp the pending seals (the periodic seal task).
    A TSA that is down leaves the seals pending; the seal never waits for it."""
    new = audit.seal()
    return new, audit_timestamps_take()
