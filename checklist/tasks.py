"""Celery tasks. Thin: each calls a service."""

from __future__ import annotations

import logging
import socket

from celery import shared_task

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
