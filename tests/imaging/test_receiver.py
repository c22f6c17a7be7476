"""Real C-STOREs (pynetdicom as the C-arm) to the embedded receiver on 127.0.0.1: good images are
kept and matched; bad ones get a DICOM status, are logged, leave nothing behind, and the receiver
goes on serving."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from pydicom.uid import JPEGBaseline8Bit

from checklist.models import AuditEvent
from imaging import actions, dicom
from imaging.models import LevelImage, MatchedBy
from imaging.selectors import accession_for
from imaging.synthetic import lateral_lumbar
from tests.imaging.conftest import c_echo, c_store
from tests.support.workflow import Team, case_schedule

pytestmark = pytest.mark.django_db(transaction=True)


def small(**kwargs: Any) -> Any:
    ds, _ = lateral_lumbar(rows=256, columns=256, **kwargs)
    return ds


def stored_files(image_dir: Path) -> list[Path]:
    return sorted(p for p in image_dir.rglob("*") if p.is_file())


def test_an_image_with_the_case_accession_number_is_stored_and_matched(team: Team, receiver, send, image_dir) -> None:
    case = case_schedule(team)
    ds = small(accession=accession_for(case), patient_id=case.patient.mrn)
    status = send(ds)
    assert status.Status == dicom.STATUS_SUCCESS
    image = LevelImage.objects.get()
    assert image.case == case and image.matched_by == MatchedBy.ACCESSION
    assert image.sop_instance_uid == ds.SOPInstanceUID and image.study_instance_uid == ds.StudyInstanceUID
    assert image.series_instance_uid == ds.SeriesInstanceUID and image.frame == 1
    assert image.pixel_sha256 == hashlib.sha256(ds.PixelData).hexdigest()
    assert image.calling_ae_title == "CARM1" and image.accession_number == accession_for(case)
    assert abs(image.acquired_at - timezone.now()) < dt.timedelta(minutes=1)
    assert [p.name for p in stored_files(image_dir)] == [f"{ds.SOPInstanceUID}.dcm"]
    event = AuditEvent.objects.get(action=actions.IMAGE_RECEIVED)
    assert event.case_id == case.pk and event.after["pixel_sha256"] == image.pixel_sha256
    assert case.patient.mrn not in str(event.after)  # the trail names the image, never the patient


def test_without_an_accession_the_patient_room_and_time_match(team: Team, receiver, send) -> None:
    case = case_schedule(team, scheduled_start=timezone.now() + dt.timedelta(minutes=30))
    assert send(small(patient_id=case.patient.mrn)).Status == dicom.STATUS_SUCCESS
    image = LevelImage.objects.get()
    assert image.case == case and image.matched_by == MatchedBy.PATIENT_ROOM_TIME


def test_an_image_that_matches_nothing_waits_with_its_reason(team: Team, receiver, send) -> None:
    case = case_schedule(team, scheduled_start=timezone.now() + dt.timedelta(days=2))
    assert send(small(patient_id=case.patient.mrn)).Status == dicom.STATUS_SUCCESS
    assert send(small(accession=accession_for(case), patient_id="SOMEONE-ELSE")).Status == dicom.STATUS_SUCCESS
    reasons = sorted(LevelImage.objects.values_list("unmatched_reason", flat=True))
    assert all(LevelImage.objects.values_list("case", flat=True)) is False
    assert any("around the acquisition time" in r for r in reasons)
    assert any("another patient ID" in r for r in reasons)


def test_the_same_instance_twice_is_one_record_and_different_pixels_under_its_uid_are_refused(
    team: Team, receiver, send
) -> None:
    ds = small(patient_id="X1")
    assert send(ds).Status == dicom.STATUS_SUCCESS
    assert send(ds).Status == dicom.STATUS_SUCCESS
    assert LevelImage.objects.count() == 1
    other = small(patient_id="X1", marker="L4")
    other.SOPInstanceUID = other.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    other.StudyInstanceUID, other.SeriesInstanceUID = ds.StudyInstanceUID, ds.SeriesInstanceUID
    assert send(other).Status == dicom.STATUS_UID_CONFLICT
    assert LevelImage.objects.count() == 1


def test_an_unknown_calling_ae_title_is_rejected_at_association(team: Team, receiver, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="imaging.receiver"):
        assoc = c_store(receiver.port, small(), calling="INTRUDER")
    assert assoc.is_rejected
    assert (
        assoc.acceptor.primitive.result == 0x01 and assoc.acceptor.primitive.diagnostic == 0x03
    )  # calling AE not recognised
    assert "INTRUDER" in caplog.text
    assert c_echo(receiver.port) == 0x0000  # still serving
    assert not LevelImage.objects.exists()


def _garbage_encoder(*args: Any, **kwargs: Any) -> bytes:
    return b"\xff\xfe\x01\x02 this is a text file from a misconfigured exporter" * 3


def test_what_is_not_dicom_no_pixels_a_codec_we_lack_or_too_large_is_refused_and_nothing_is_kept(
    team: Team, receiver, send, image_dir, monkeypatch, caplog
) -> None:
    no_pixels = small()
    del no_pixels.PixelData
    jpeg = small()
    jpeg.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    huge, _ = lateral_lumbar(rows=2600, columns=2600)  # 13.5 MB > the fixture's 8 MiB cap
    caplog.set_level(logging.WARNING, logger="imaging.receiver")

    assert send(no_pixels).Status == dicom.STATUS_NO_PIXEL_DATA
    assert send(jpeg, transfer_syntaxes=[JPEGBaseline8Bit]).Status == dicom.STATUS_UNSUPPORTED_TRANSFER_SYNTAX
    assert send(huge).Status == dicom.STATUS_TOO_LARGE
    with monkeypatch.context() as patch:
        patch.setattr("pynetdicom.association.encode", _garbage_encoder)  # a sender that sends junk
        assert send(small()).Status == dicom.STATUS_NOT_DICOM

    assert not LevelImage.objects.exists() and stored_files(image_dir) == []
    logged = caplog.text
    for fragment in ("no pixel data", "not supported", "accepts at most", "Not a DICOM"):
        assert fragment in logged
    assert send(small()).Status == dicom.STATUS_SUCCESS  # and it goes on serving
    assert LevelImage.objects.count() == 1


def test_the_sender_is_told_why_in_the_error_comment(team: Team, receiver, send) -> None:
    no_pixels = small()
    del no_pixels.PixelData
    status = send(no_pixels)
    assert "pixel data" in status.ErrorComment


def test_a_record_that_cannot_be_written_leaves_no_file(team: Team, receiver, send, image_dir, monkeypatch) -> None:
    def broken(**kwargs: Any) -> None:
        raise RuntimeError("audit down")

    monkeypatch.setattr("imaging.services.audit.append", broken)
    assert send(small()).Status == dicom.STATUS_STORE_FAILED
    assert not LevelImage.objects.exists() and stored_files(image_dir) == []
