"""manage.py seed_demo_images: the demo day's cases past their time-out get a real synthetic
level image in the image store, matched by accession number; a second run adds none."""

from __future__ import annotations

import datetime as dt
import io
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone
from pydicom import dcmread

from checklist.models import AnatomyRecord, Case
from imaging.models import LevelImage, MatchedBy
from imaging.store import InstanceRef, image_store

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

SEED_DAY = dt.date(2031, 3, 12)


def test_demo_cases_past_the_time_out_get_a_matched_image_once(settings, tmp_path) -> None:
    settings.IMAGING_STORAGE_DIR = tmp_path / "images"
    settings.IMAGING_DICOMWEB_URL = ""
    with time_machine.travel(timezone.make_aware(dt.datetime.combine(SEED_DAY, dt.time(10, 0))), tick=True):
        call_command("seed_demo", stdout=StringIO())
        out = StringIO()
        call_command("seed_demo_images", stdout=out)
        again = StringIO()
        call_command("seed_demo_images", stdout=again)
    demo = Case.objects.filter(patient__mrn__startswith="DEMO-")
    timed_out = demo.filter(time_out_completed_at__isnull=False)
    images = LevelImage.objects.filter(case__in=demo)
    assert timed_out.exists() and images.count() == 2 * timed_out.count()  # a lateral and an AP each
    assert f"Demo level images: {images.count()} new." in out.getvalue()
    assert "0 new" in again.getvalue() and LevelImage.objects.count() == images.count()
    for image in images.select_related("case"):
        assert image.matched_by == MatchedBy.ACCESSION and image.acquired_at > image.case.time_out_completed_at
        ds = dcmread(io.BytesIO(image_store().fetch(InstanceRef.from_key(image.storage_key))))
        assert ds.PatientID == image.case.patient.mrn and ds.SOPInstanceUID == image.sop_instance_uid
    six = images.filter(case__patient__mrn="DEMO-0006").first()
    assert six is not None and AnatomyRecord.objects.get(case=six.case, superseded_at__isnull=True).lumbar == 6
