"""The external half of the outbox: e-mails and webhook POSTs, each its own step.

A ``Delivery`` row is written in the transaction that decides the message is due (the reminder
sweep, which commits the in-app notification with it; the signing lock). ``deliveries_send`` then
works outside any transaction and holds no row lock while it talks to the network:

1. claim one due row with a conditional UPDATE that also commits "send attempted" (state
   ``attempting``, attempts + 1) and a lease (``next_attempt_at`` = now + lease);
2. send it, with the channel's own timeout (``EMAIL_TIMEOUT``, ``RIGHTLEVEL_WEBHOOK_TIMEOUT``);
3. mark it sent, or back to pending with exponential backoff (failed after ``MAX_ATTEMPTS``).

A row marked sent is never sent again. A worker killed between 1 and 3 leaves the row
``attempting``; once its lease runs out it is tried again with the same idempotency key (the
webhook's ``Idempotency-Key``, the e-mail's ``Message-ID``), so a receiver drops the repeat:
at most the one message in flight when a worker dies is repeated, and nothing is lost.
A channel that fails is not tried again in the same run, and a channel with a send in progress
elsewhere is left to that worker, so a hung relay costs one timeout and holds one worker.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from checklist.models import Delivery, DeliveryChannel, DeliveryState, Reminder
from core.queue import task_named

DELIVERIES_SEND_TASK = "checklist.tasks.deliveries_send"

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
WEBHOOK_SECRET_MISSING = "REMINDER_WEBHOOK_URL is set but REMINDER_WEBHOOK_SECRET is empty: refusing to sign webhooks."  # noqa: S105 - a message, not a secret
# A receiver should refuse a signed timestamp older than this (replay window), in seconds.
WEBHOOK_TOLERANCE_SECONDS = 300


def delivery_enqueue(
    *,
    channel: str,
    key: str,
    to: Iterable[str] = (),
    subject: str = "",
    body: str = "",
    html: str = "",
    payload: dict[str, Any] | None = None,
    reminder: Reminder | None = None,
    now: datetime | None = None,
    kick: bool = True,
) -> Delivery:
    """Queue one external send in the caller's transaction (idempotent per channel and key) and,
    unless ``kick`` is False (the sweep sends its own afterwards), ask a worker to send it once
    that transaction commits."""
    at = now or timezone.now()
    delivery, created = Delivery.objects.get_or_create(
        channel=channel,
        key=key[:200],
        defaults={
            "reminder": reminder, "to": list(to), "subject": subject[:200], "body": body, "html": html,
            "payload": payload or {}, "created_at": at, "next_attempt_at": at,
        },
    )  # fmt: skip
    if created and kick:
        transaction.on_commit(lambda: deliveries_kick(channels=[channel]))
    return delivery


def deliveries_kick(*, channels: Iterable[str] = tuple(DeliveryChannel.values)) -> None:
    """Hand the outbox to the workers now, one task per channel (so a hung mail relay never holds
    up the pager). With the broker down nothing is lost: the beat sweep sends what is due the next
    time it runs."""
    task = task_named(DELIVERIES_SEND_TASK)
    for channel in channels:
        try:
            task.apply_async(kwargs={"channel": channel}, retry=False)
        except Exception:
            logger.warning("Could not queue the %s delivery task; the sweep will send it", channel, exc_info=True)


@dataclass
class DeliveryResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped_channels: set[str] = field(default_factory=set)


def deliveries_due(*, now: datetime | None = None, channel: str | None = None) -> Any:
    at = now or timezone.now()
    rows = Delivery.objects.filter(
        Q(state=DeliveryState.PENDING) | Q(state=DeliveryState.ATTEMPTING), next_attempt_at__lte=at
    )
    return rows.filter(channel=channel) if channel else rows


def deliveries_send(*, now: datetime | None = None, limit: int = 200, channel: str | None = None) -> DeliveryResult:
    """Send every due delivery (see the module docstring). Safe on many workers at once."""
    result = DeliveryResult()
    at = now or timezone.now()
    candidates = list(deliveries_due(now=at, channel=channel).order_by("next_attempt_at", "id")[:limit])
    for candidate in candidates:
        if candidate.channel in result.skipped_channels:
            continue
        if _channel_busy(candidate.channel):
            # Another worker is talking to this channel now (perhaps waiting out a hung relay):
            # one at a time per channel, so a relay that never answers holds one worker, not all.
            result.skipped_channels.add(candidate.channel)
            continue
        delivery = _claim(candidate, now=at)
        if delivery is None:
            continue  # another worker took it
        try:
            _send(delivery)
        except Exception as exc:  # noqa: BLE001 - any failure of the channel: back off and retry
            _record_failure(delivery, exc, result=result)
            result.skipped_channels.add(delivery.channel)
            continue
        Delivery.objects.filter(pk=delivery.pk, attempts=delivery.attempts).update(
            state=DeliveryState.SENT, sent_at=timezone.now(), last_error=""
        )
        result.sent += 1
    return result


def _channel_busy(channel: str) -> bool:
    """A send of this channel is in progress on a live worker (its lease has not run out)."""
    return Delivery.objects.filter(
        channel=channel, state=DeliveryState.ATTEMPTING, next_attempt_at__gt=timezone.now()
    ).exists()


def _lease_seconds() -> int:
    timeout = max(int(settings.EMAIL_TIMEOUT or 0), int(settings.RIGHTLEVEL_WEBHOOK_TIMEOUT))
    return int(getattr(settings, "RIGHTLEVEL_DELIVERY_LEASE_SECONDS", 0) or 3 * timeout + 30)


def _claim(candidate: Delivery, *, now: datetime) -> Delivery | None:
    """Commit "send attempted" before any byte goes out. The UPDATE is the claim: it matches only
    while the row is as we read it, so two workers never both send it."""
    claimed = Delivery.objects.filter(
        pk=candidate.pk,
        state__in=(DeliveryState.PENDING, DeliveryState.ATTEMPTING),
        attempts=candidate.attempts,
        next_attempt_at__lte=now,
    ).update(
        state=DeliveryState.ATTEMPTING,
        attempts=F("attempts") + 1,
        attempted_at=timezone.now(),
        next_attempt_at=timezone.now() + timedelta(seconds=_lease_seconds()),
    )
    if claimed != 1:
        return None
    candidate.attempts += 1
    candidate.state = DeliveryState.ATTEMPTING
    return candidate


def _record_failure(delivery: Delivery, exc: Exception, *, result: DeliveryResult) -> None:
    failed = delivery.attempts >= MAX_ATTEMPTS
    backoff = settings.RIGHTLEVEL_DELIVERY_BACKOFF_SECONDS * 2 ** (delivery.attempts - 1)
    Delivery.objects.filter(pk=delivery.pk, attempts=delivery.attempts).update(
        state=DeliveryState.FAILED if failed else DeliveryState.PENDING,
        last_error=f"{type(exc).__name__}: {exc}"[:2000],
        next_attempt_at=timezone.now() + timedelta(seconds=backoff),
    )
    result.failed += failed
    result.retried += not failed
    log = logger.error if failed else logger.warning
    log("Delivery %s (%s) failed, attempt %s: %s", delivery.pk, delivery.channel, delivery.attempts, type(exc).__name__)


def _send(delivery: Delivery) -> None:
    if delivery.channel == DeliveryChannel.EMAIL:
        _send_email(delivery)
    elif delivery.channel == DeliveryChannel.WEBHOOK:
        webhook_post(settings.RIGHTLEVEL_WEBHOOK_URL, delivery.payload, idempotency_key=delivery.key)
    else:
        raise ValueError(f"unknown channel {delivery.channel}")


def message_id(key: str) -> str:
    """A Message-ID that is the same for every attempt of one delivery, so a repeat is recognisable."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "rightlevel"
    return f"<rightlevel-{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def _send_email(delivery: Delivery) -> None:
    connection = get_connection(timeout=settings.EMAIL_TIMEOUT)
    message = EmailMultiAlternatives(
        subject=delivery.subject,
        body=delivery.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=list(delivery.to),
        headers={"X-RightLevel-Reminder": delivery.key, "Message-ID": message_id(delivery.key)},
        connection=connection,
    )
    if delivery.html:
        message.attach_alternative(delivery.html, "text/html")
    message.send(fail_silently=False)


# --- the webhook ------------------------------------------------------------------------------


def webhook_secret() -> str:
    secret = str(settings.RIGHTLEVEL_WEBHOOK_SECRET or "")
    if not secret:
        raise ImproperlyConfigured(WEBHOOK_SECRET_MISSING)
    return secret


def webhook_signature(secret: str, body: bytes, timestamp: int) -> str:
    """HMAC-SHA256 over ``<timestamp>.<body>``: the timestamp is signed, so a receiver can refuse
    a replayed request (older than ``WEBHOOK_TOLERANCE_SECONDS``) as well as a forged one."""
    signed = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def webhook_verify(
    secret: str, body: bytes, *, timestamp: str, signature: str, now: float | None = None,
    tolerance: int = WEBHOOK_TOLERANCE_SECONDS,
) -> bool:  # fmt: skip
    """What a receiver does: the signature matches and the timestamp is recent."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs((now if now is not None else time.time()) - sent_at) > tolerance:
        return False
    return hmac.compare_digest(webhook_signature(secret, body, sent_at), signature)


def webhook_post(url: str, payload: dict[str, Any], *, idempotency_key: str) -> None:
    """POST JSON for paging systems, with the headers ``Idempotency-Key`` (the same on every
    attempt), ``X-RightLevel-Timestamp`` and ``X-RightLevel-Signature``."""
    secret = webhook_secret()
    body = json.dumps(payload, sort_keys=True).encode()
    timestamp = int(time.time())
    request = urllib.request.Request(  # noqa: S310 - the URL is the operator's configured webhook
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-RightLevel-Timestamp": str(timestamp),
            "X-RightLevel-Signature": webhook_signature(secret, body, timestamp),
            "Idempotency-Key": idempotency_key,
        },
    )
    with urllib.request.urlopen(request, timeout=settings.RIGHTLEVEL_WEBHOOK_TIMEOUT) as response:  # noqa: S310
        if response.status >= 300:
            raise RuntimeError(f"webhook answered {response.status}")
