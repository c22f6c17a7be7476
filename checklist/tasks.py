"""Celery tasks. Thin: each calls a service."""

from __future__ import annotations

import logging
import socket
from typing import Any

from celery import shared_task

from checklist import audit
from checklist.services import heartbeat_record

logger = logging.getLogger(__name__)


@shared_task(name="checklist.tasks.heartbeat", ignore_result=True)
def heartbeat() -> int:
    """Record that this worker is alive; beat runs it every RIGHTLEVEL_HEARTBEAT_SECONDS."""
    hostname = heartbeat_record_hostname()
    beat = heartbeat_record(hostname=hostname)
    logger.info("RightLevel heartbeat: worker %s alive (beat %d)", hostname, beat.beats)
    return beat.beats


def heartbeat_record_hostname() -> str:
    from celery import current_task

    request = getattr(current_task, "request", None)
    return str(getattr(request, "hostname", None) or socket.gethostname())


@shared_task(name="checklist.tasks.audit_seal", bind=True)
def audit_seal(self: Any) -> dict[str, Any]:
    """Seal every audit chain head, then time-stamp the pending seals (beat: every
    AUDIT_SEAL_MINUTES, 5 by default). A TSA that is down leaves the seals pending, retried here
    with back-off; the seal itself never waits for it."""
    return _seal(task_id=self.request.id, task="audit_seal")


@shared_task(name="checklist.tasks.audit_verify_nightly", bind=True)
def audit_verify_nightly(self: Any) -> dict[str, Any]:
    """Verify the trail, then seal and time-stamp it (beat: 02:00), as a recorded verification run
    that the quality dashboard shows. Incremental (the events since the newest time-stamped seal an
    intact run covered) except on AUDIT_FULL_VERIFY_WEEKDAY (Sunday by default), when it verifies
    the whole trail and reconciles the records. A broken trail is logged at CRITICAL with the first broken event; the
    seal is taken anyway (earlier seals keep vouching for what they recorded). The result goes to
    the quality officers."""
    from checklist.services.audit_verification import audit_verification_nightly

    run, created = audit_verification_nightly(task_id=self.request.id or "")
    if not created:
        logger.warning("RightLevel nightly verification skipped: run %s is still in progress", run.pk)
        return {"skipped": True, "running": run.pk}
    return {
        "ok": run.ok,
        "events": run.checked_events,
        "problems": run.problems_count,
        "first_problem": run.first_problem or None,
        "run": run.pk,
        "seal": run.seal.seq if run.seal else None,
        "scope": run.scope,
        "start_seal": run.start_seal.seq if run.start_seal else None,
    }


def _seal(*, task_id: str | None, task: str) -> dict[str, Any]:
    from checklist.services.audit_timestamps import audit_seal_and_stamp

    with audit.audit_context(request_id=task_id or "", client=f"celery {task}"):
        seal, stamps = audit_seal_and_stamp()
    logger.info("RightLevel audit sealed: seal #%d, %d chains, %d events", seal.seq, len(seal.heads), seal.event_count)
    return {
        "seal": seal.seq,
        "chains": len(seal.heads),
        "events": seal.event_count,
        "seal_hash": seal.seal_hash,
        "timestamped": stamps.stamped,
        "timestamps_pending": stamps.pending,
        "timestamp_error": stamps.error or stamps.skipped or None,
    }


@shared_task(name="checklist.tasks.tokens_expired_purge", bind=True, ignore_result=True)
def tokens_expired_purge(self: Any) -> int:
    """Delete expired API tokens (authentication already refuses them), each audited."""
    from checklist.services.tokens import tokens_expired_purge as purge

    with audit.audit_context(request_id=self.request.id or "", client="celery tokens_expired_purge"):
        return purge()


@shared_task(name="checklist.tasks.idempotency_keys_purge", ignore_result=True)
def idempotency_keys_purge() -> int:
    """Delete Idempotency-Key records past their retention (operational rows, not audited)."""
    from checklist.services import idempotency_keys_expired_purge

    return idempotency_keys_expired_purge()


@shared_task(name="checklist.tasks.reminders_sweep", ignore_result=True, acks_late=True)
def reminders_sweep() -> dict[str, int]:
    """Deliver due reminders. Safe to run on many workers at once (rows are claimed)."""
    from checklist.reminders.delivery import deliveries_due, deliveries_kick
    from checklist.reminders.sync import reminders_sweep as sweep

    # In-app first, committed batch by batch; the external channels are separate tasks, so this
    # one never waits on a mail relay or a pager.
    result = sweep(deliver=False)
    due_channels = set(deliveries_due().values_list("channel", flat=True).distinct())
    if due_channels:
        deliveries_kick(channels=sorted(due_channels))
    if result.claimed:
        logger.info(
            "Reminder sweep: %d claimed, %d sent, %d cancelled, %d to retry, %d failed",
            result.claimed, result.sent, result.cancelled, result.retried, result.failed,
        )  # fmt: skip
    return {"claimed": result.claimed, "sent": result.sent, "cancelled": result.cancelled}


@shared_task(name="checklist.tasks.deliveries_send", ignore_result=True, acks_late=True)
def deliveries_send(channel: str | None = None) -> dict[str, int]:
    """Send the due e-mails or webhooks of the outbox (each with its own timeout and backoff)."""
    from checklist.reminders.delivery import deliveries_send as send

    result = send(channel=channel)
    if result.sent or result.retried or result.failed:
        logger.info("Deliveries (%s): %d sent, %d to retry, %d failed", channel or "all", result.sent,
                    result.retried, result.failed)  # fmt: skip
    return {"sent": result.sent, "retried": result.retried, "failed": result.failed}


@shared_task(name="checklist.tasks.quality_daily_digest", ignore_result=True, acks_late=True)
def quality_daily_digest() -> int:
    """Yesterday's near misses and incomplete checklists, to every quality officer."""
    from checklist.reminders.digest import daily_digest_create

    return len(daily_digest_create())


@shared_task(name="checklist.tasks.audit_verify_run", bind=True, acks_late=True)
def audit_verify_run(self: Any, run_id: int) -> dict[str, Any]:
    """The quality workspace's "verify now": verify with progress on the run's row, then seal."""
    from checklist.services.audit_verification import audit_verification_execute

    run = audit_verification_execute(run_id=run_id, task_id=self.request.id or "")
    return {"run": run.pk, "ok": run.ok, "events": run.checked_events, "problems": run.problems_count}
