"""Celery tasks of the interface: thin, they call the services."""

from __future__ import annotations

from celery import shared_task

from interfaces.outbound import outbox_send


@shared_task(name="interfaces.tasks.hl7_outbox_send")
def hl7_outbox_send() -> dict[str, int]:
    return outbox_send()
