"""Audit verification runs: "verify now" from the quality workspace, with progress.

``audit_verification_start`` records the request (audited) and queues the Celery task after the
commit; the task calls ``audit_verification_execute``, which recomputes every chain through
``checklist.audit.verify``, writes the progress every few thousand events (each write commits at
once, so the page polling the run sees it), then records the result and seals the trail in one
transaction, as the nightly verification does.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from checklist import audit
from checklist.models import AuditVerificationRun, User
from checklist.policies import require

logger = logging.getLogger(__name__)

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
        action="audit.verification_requested",
        actor=actor,
        obj=run,
        after={"run": run.pk, "events": run.total_events},
    )
    transaction.on_commit(lambda: _enqueue(run.pk, enqueue))
    return run, True


def _enqueue(run_id: int, enqueue: Callable[[int], Any] | None) -> None:
    if enqueue is None:
        from checklist.tasks import audit_verify_run

        enqueue = audit_verify_run.delay
    try:
        enqueue(run_id)
    except Exception as exc:  # the broker is down: say so on the run, do not 500
        if AuditVerificationRun.objects.filter(pk=run_id, finished_at__isnull=True).exists():
            logger.exception("RightLevel: could not queue audit verification run %s", run_id)
            _finish_failed(run_id, NOT_QUEUED.format(error=type(exc).__name__))
        else:
            raise  # the task ran (eagerly) and failed after finishing: not a queueing problem


def audit_verification_execute(*, run_id: int, task_id: str = "") -> AuditVerificationRun:
    """Verify the whole trail for ``run_id``, recording progress, then record the result and seal."""
    run = AuditVerificationRun.objects.get(pk=run_id)
    if run.finished_at is not None:
        return run  # a redelivered task: the run is already done
    pending = 0

    def progress(checked: int) -> None:
        nonlocal pending
        pending += checked
        if pending >= PROGRESS_WRITE_EVERY:
            AuditVerificationRun.objects.filter(pk=run_id).update(checked_events=F("checked_events") + pending)
            pending = 0

    try:
        report = audit.verify(progress=progress)
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
        run.save()
        audit.append(
            action="audit.verified",
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
            },
        )
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
    audit.append(action="audit.verification_failed", actor=None, obj=run, after={"run": run.pk, "error": message})
