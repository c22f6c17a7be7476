"""Celery tasks of the imaging app: thin, each calls a service."""

from __future__ import annotations

from celery import shared_task

from imaging.services import read_report_store
from imaging.store import ImageStoreError


@shared_task(
    name="imaging.tasks.read_report_store",
    autoretry_for=(ImageStoreError, OSError),
    retry_backoff=30,
    max_retries=8,
    ignore_result=True,
)
def read_report_store_task(read_id: int) -> str:
    """Store the read to the PACS (or the local store) as a DICOM SR; retried while it is down."""
    return read_report_store(read_id=read_id)
