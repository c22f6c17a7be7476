"""Finding the C-arm's images in the PACS (``pacs_images_collect``, run by beat with a PACS): what
it takes, what it refuses, and that a PACS that does not answer is reported, not raised. The whole
path against a real Orthanc is tests/browser/test_imaging_pacs_path.py."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from checklist.models import AuditEvent, Case
from imaging import actions, dicom
from imaging.models import LevelImage
from imaging.selectors import accession_for
from imaging.services import pacs_images_collect
from imaging.store import DicomWebImageStore, LocalImageStore
from imaging.synthetic import lateral_lumbar
from tests.support.workflow import Team, case_schedule, case_through_time_out, evidence_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def pacs(tmp_path) -> LocalImageStore:
    """A folder standing in for the PACS: the C-arm's files are put in it directly."""
    return LocalImageStore(tmp_path / "pacs")


def _case(team: Team) -> Case:
    now = timezone.localtime()
    start = min(now + dt.timedelta(minutes=5), now.replace(hour=23, minute=58, second=0, microsecond=0))
    case = case_schedule(team, scheduled_start=start)
    evidence_record(team, case)
    return case_through_time_out(team, case)


def _put(pacs: LocalImageStore, case: Case, **kwargs: Any) -> Any:
    kwargs.setdefault("patient_id", case.patient.mrn)
    ds, _ = lateral_lumbar(rows=128, columns=128, accession=accession_for(case), acquired_at=timezone.now(), **kwargs)
    pacs.store(dicom.part10_bytes(ds))
    return ds


def test_a_new_image_is_recorded_once_with_its_audit_event_and_nothing_is_removed(team: Team, pacs) -> None:
    case = _case(team)
    ds = _put(pacs, case)
    first = pacs_images_collect(store=pacs)
    assert (first.cases, first.received, first.refused, first.errors) == (1, 1, 0, [])
    image = LevelImage.objects.get()
    assert image.case == case and image.sop_instance_uid == ds.SOPInstanceUID
    assert AuditEvent.objects.filter(action=actions.IMAGE_RECEIVED, case=case).count() == 1
    assert pacs_images_collect(store=pacs).received == 0 and LevelImage.objects.count() == 1
    assert pacs.find(accession_number=accession_for(case))  # still in the PACS


def test_another_patients_image_under_the_accession_waits_unmatched(team: Team, pacs) -> None:
    case = _case(team)
    _put(pacs, case, patient_id="SOMEONE-ELSE")
    assert pacs_images_collect(store=pacs).received == 1
    image = LevelImage.objects.get()
    assert image.case is None and "patient" in image.unmatched_reason.lower()


def test_an_image_without_pixels_is_refused_and_a_case_not_past_its_time_out_is_not_looked_at(team: Team, pacs) -> None:
    case = _case(team)
    ds, _ = lateral_lumbar(rows=128, columns=128, accession=accession_for(case), patient_id=case.patient.mrn)
    del ds.PixelData
    pacs.store(dicom.part10_bytes(ds))
    collected = pacs_images_collect(store=pacs)
    assert collected.refused == 1 and collected.received == 0 and not LevelImage.objects.exists()
    assert pacs_images_collect(store=pacs).refused == 0  # not fetched and logged again every poll
    waiting = case_schedule(team, scheduled_start=case.scheduled_start)
    _put(pacs, waiting)
    assert pacs_images_collect(store=pacs).cases == 1  # only the case past its time-out


def test_a_pacs_that_does_not_answer_is_reported_not_raised(team: Team) -> None:
    _case(team)
    collected = pacs_images_collect(store=DicomWebImageStore("http://127.0.0.1:9/dicom-web", timeout=1))
    assert collected.errors and "unreachable" in collected.errors[0] and collected.received == 0


def test_beat_looks_in_the_pacs_only_when_there_is_one(settings) -> None:
    from checklist.periodic_tasks import periodic_task_specs

    settings.IMAGING_DICOMWEB_URL = ""
    assert "imaging pacs poll" not in {s.name for s in periodic_task_specs()}
    settings.IMAGING_DICOMWEB_URL = "http://127.0.0.1:8042/dicom-web"
    spec = next(s for s in periodic_task_specs() if s.name == "imaging pacs poll")
    assert spec.task == "imaging.tasks.pacs_images_collect" and spec.every_seconds == settings.IMAGING_PACS_POLL_SECONDS
