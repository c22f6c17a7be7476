"""Celery tasks of the imaging app: thin, each calls a service."""

from __future__ import annotations

from celery import shared_task

from checklist.periodic_tasks import PeriodicTaskSpec
from imaging.services import pacs_images_collect, read_report_store
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


@shared_task(name="imaging.tasks.pacs_images_collect", ignore_result=True)
def pacs_images_collect_task() -> dict[str, object]:
    """Look in the PACS for new level images of today's cases (every IMAGING_PACS_POLL_SECONDS)."""
    collected = pacs_images_collect()
    return {"cases": collected.cases, "received": collected.received, "refused": collected.refused,
            "errors": collected.errors[:5]}  # fmt: skip


def periodic_specs() -> list[PeriodicTaskSpec]:
    """The PACS poll, when images come from a PACS (IMAGING_DICOMWEB_URL); registered by the app."""
    from django.conf import settings

    if not settings.IMAGING_DICOMWEB_URL:
        return []
    return [
        PeriodicTaskSpec(
            name="imaging pacs poll",
            task="imaging.tasks.pacs_images_collect",
            every_seconds=settings.IMAGING_PACS_POLL_SECONDS,
            description="Finds in the PACS (QIDO-RS, by accession number) the level images of today's cases past "
            "their time-out, fetches them (WADO-RS), checks and records them on the case.",
        )
    ]
