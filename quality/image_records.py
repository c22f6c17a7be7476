"""The level images behind a case's localizations, as the exports name them (FHIR ImagingStudy,
the PDF record). Quality never imports the imaging app: imaging registers a provider here from
its AppConfig.ready, and without it (or without images) the exports simply name none."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from checklist.models import Case


@dataclass(frozen=True)
class ImageRecord:
    """The image a localization was counted on."""

    localization_id: int
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    modality: str
    frame: int
    acquired_at: dt.datetime | None
    pixel_sha256: str


ImageRecordsProvider = Callable[[Case], list[ImageRecord]]
_PROVIDERS: list[ImageRecordsProvider] = []


def image_records_provider_register(provider: ImageRecordsProvider) -> None:
    if provider not in _PROVIDERS:
        _PROVIDERS.append(provider)


def image_records(case: Case) -> dict[int, ImageRecord]:
    """The image of each localization that was counted on one, by localization id."""
    found: dict[int, ImageRecord] = {}
    for provider in _PROVIDERS:
        for record in provider(case):
            found.setdefault(record.localization_id, record)
    return found
