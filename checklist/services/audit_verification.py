"""Audit verification runs: "verify now" from the quality workspace, with progress.

``audit_verification_start`` records the request (audited) and queues the Celery task after the
commit; the task calls ``audit_verification_execute``, which recomputes every chain through
``checklist.audit.verify``, writes the progress every few thousand events (each write commits at
once, so the page polling the run sees it), then records the result and seals the trail in one
transaction, as the nightly verification does, and time-stamps the new seal after the commit.
"Verify now" checks the whole trail; the nightly run is incremental from the newest time-stamped
seal an intact run covered (``incremental_start``), and full on AUDIT_FULL_VERIFY_WEEKDAY.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from checklist import audit
from checklist.access.policies import require
from checklist.audit.catalogue import AuditAction
from checklist.models import AuditSeal, AuditSealTimestamp, AuditVerificationRun, User
from checklist.reminders import rules as reminder_rules
from checklist.reminders.sync import system_reminder_create
from checklist.services.audit_timestamps import audit_timestamps_take
from core.queue import task_named

logger = logging.getLogger(__name__)

AUDIT_VERIFY_RUN_TASK = "checklist.tasks.audit_verify_run"

# The run's row is written every this many events (audit.verify reports every PROGRESS_EVERY).
PROGRESS_WRITE_EVERY = 5000
ALREADY_RUNNING_FOR = dt.timedelta(hours=2)
NOT_QUEUED = "The verification could not be queued ({error}). Try again when the task queue is back."
CRASHED = "The verification stopped before it finished ({error})."


def audit_verification_running() -> AuditVerificationRun | None:
    """A run started recently that has not finished (at most one runs at a time)."""
    since = timezone.now() - ALREADY_RUNNING_FOR
    return AuditVerificationRun.objects.filter(finished_at__isnull=True, started_at__gte=since).first()


@transaction.atomic
def audit_verification_start(
    *, actor: User | None, enqueue: Callable[[int], Any] | None = None
) -> tuple[AuditVerificationRun, bool]:
    """Start a verification run (or return the one already running, with False).

    ``actor`` None is the nightly run. ``enqueue(run_id)`` is called after the commit; by default it
    queues ``checklist.tasks.audit_verify_run``.
    """
    if actor is not None:
        require(actor, "audit.view")
    running = audit_verification_running()
    if running is not None:
        return running, False
    run = AuditVerificationRun.objects.create(
        started_at=timezone.now(), requested_by=actor, total_events=audit.event_count()
    )
    audit.append(
        action=AuditAction.AUDIT_VERIFICATION_REQUESTED,
        actor=actor,
        obj=run,
        after={"run": run.pk, "events": run.total_events},
    )
    transaction.on_commit(lambda: _enqueue(run.pk, enqueue))
    return run, True


def _enqueue(run_id: int, enqueue: Callable[[int], Any] | None) -> None:
    if enqueue is None:
        enqueue = task_named(AUDIT_VERIFY_RUN_TASK).delay
    try:
        enqueue(run_id)
    except Exception as exc:  # the broker is down: say so on the run, do not 500
        if AuditVerificationRun.objects.filter(pk=run_id, finished_at__isnull=True).exists():
            logger.exception("RightLevel: could not queue audit verification run %s", run_id)
            _finish_failed(run_id, NOT_QUEUED.format(error=type(exc).__name__))
        else:
            raise  # the task ran (eagerly) and failed after finishing: not a queueing problem


def audit_verification_nightly(*, task_id: str) -> tuple[AuditVerificationRun, bool]:
    """The nightly run (beat, 02:00): start a run (or return the one still running, with False),
    verify (incremental except on AUDIT_FULL_VERIFY_WEEKDAY, when it verifies the whole trail and
    reconciles the records), seal, and send the result to the quality officers."""
    run, created = audit_verification_start(actor=None, enqueue=lambda run_id: None)
    if not created:
        return run, False
    full = timezone.localdate().weekday() == settings.AUDIT_FULL_VERIFY_WEEKDAY
    run = audit_verification_execute(run_id=run.pk, task_id=task_id, incremental=not full)
    audit_verification_report_send(run)
    return run, True


def audit_verification_report_send(run: AuditVerificationRun) -> None:
    """The nightly result goes to the quality officers through the reminder outbox."""
    verdict = "intact" if run.ok else "BROKEN"
    body = f"Verification run {run.pk}: {run.checked_events} events checked, trail {verdict}."
    if run.seal is not None:
        # The seal's hash leaves the database here: a copy to compare with if the trail is ever doubted.
        body += (
            f"\nSealed: seal #{run.seal.seq}, hash {run.seal.seal_hash}, "
            f"{len(run.seal.heads)} chain(s) moved since the previous seal."
        )
    if run.anchor_seal is not None:
        body += f"\nNewest time-stamped seal: #{run.anchor_seal.seq}, hash {run.anchor_seal.seal_hash}."
    if run.scope != "full" and run.start_seal is not None:
        body += f"\nIncremental run: events since time-stamped seal #{run.start_seal.seq} (records not reconciled)."
    if not run.ok:
        body += f"\nFirst broken event: {run.first_problem}\nProblems found: {run.problems_count}."
    system_reminder_create(
        rule_code=reminder_rules.AUDIT_NIGHTLY,
        occurrence=timezone.localdate().isoformat(),
        subject=f"Nightly audit verification: trail {verdict}",
        body=body,
    )


def incremental_start() -> AuditSeal | None:
    """Where an incremental run may start: the anchor (newest time-stamped seal) of the newest
    finished run that found the trail intact, if that seal is still time-stamped. None: verify
    the whole trail."""
    last = (
        AuditVerificationRun.objects.filter(ok=True, anchor_seal__isnull=False)
        .select_related("anchor_seal")
        .order_by("-started_at", "-id")
        .first()
    )
    if last is None or last.anchor_seal is None:
        return None
    if not AuditSealTimestamp.objects.filter(seal=last.anchor_seal).exists():
        return None
    return last.anchor_seal


def _newest_timestamped_seal() -> AuditSeal | None:
    stamp = AuditSealTimestamp.objects.select_related("seal").order_by("-seal_seq").first()
    return stamp.seal if stamp is not None else None


def audit_verification_execute(*, run_id: int, task_id: str = "", incremental: bool = False) -> AuditVerificationRun:
    """Verify the trail for ``run_id``, recording progress, then record the result, seal and
    time-stamp. ``incremental`` (the nightly run, except on AUDIT_FULL_VERIFY_WEEKDAY): only the
    events since the newest time-stamped seal an intact run covered (``audit.verify(since_seal=…)``);
    the whole trail when there is no such seal."""
    run = AuditVerificationRun.objects.get(pk=run_id)
    if run.finished_at is not None:
        return run  # a redelivered task: the run is already done
    start = incremental_start() if incremental else None
    anchor = _newest_timestamped_seal()  # read before the events: this run covers what it pins
    pending = 0

    def progress(checked: int) -> None:
        nonlocal pending
        pending += checked
        if pending >= PROGRESS_WRITE_EVERY:
            AuditVerificationRun.objects.filter(pk=run_id).update(checked_events=F("checked_events") + pending)
            pending = 0

    try:
        report = audit.verify(progress=progress, since_seal=start.seq if start is not None else None)
    except Exception as exc:
        _finish_failed(run_id, CRASHED.format(error=f"{type(exc).__name__}: {exc}"))
        raise
    first = report.first_problem
    with transaction.atomic(), audit.audit_context(request_id=task_id, client="celery audit_verify_run"):
        seal = audit.seal()
        run = AuditVerificationRun.objects.select_for_update().get(pk=run_id)
        run.finished_at = timezone.now()
        run.checked_events = report.events
        run.total_events = max(run.total_events, report.events)
        run.ok = report.ok
        run.problems_count = len(report.problems)
        run.first_problem = first.describe() if first else ""
        run.seal = seal
        run.scope = "incremental" if start is not None else "full"
        run.start_seal = start
        run.anchor_seal = anchor if anchor is not None and report.timestamps.newest_seq is not None else None
        run.save()
        audit.append(
            action=AuditAction.AUDIT_VERIFIED,
            actor=None,
            obj=run,
            after={
                "run": run.pk,
                "ok": run.ok,
                "events": report.events,
                "chains": report.chains,
                "seals": report.seals,
                "problems": run.problems_count,
                "first_problem": run.first_problem or None,
                "seal": seal.seq,
                "scope": run.scope,
                "start_seal": start.seq if start is not None else None,
                "timestamps": report.timestamps.to_dict(),
            },
        )
    audit_timestamps_take()  # the new seal, outside the transaction (the TSA may be slow or down)
    if first is None:
        logger.info("RightLevel verification run %s: %s", run_id, report.summary())
    else:
        logger.critical("RightLevel verification run %s: %s First: %s", run_id, report.summary(), first.describe())
    return run


@transaction.atomic
def _finish_failed(run_id: int, message: str) -> None:
    run = AuditVerificationRun.objects.select_for_update().get(pk=run_id)
    if run.finished_at is not None:
        return
    # ``ok`` stays None: the trail was not found broken, it was not checked.
    run.finished_at = timezone.now()
    run.first_problem = message
    run.save(update_fields=["finished_at", "first_problem"])
    audit.append(
        action=AuditAction.AUDIT_VERIFICATION_FAILED, actor=None, obj=run, after={"run": run.pk, "error": message}
    )
