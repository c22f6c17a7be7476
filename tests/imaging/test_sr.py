"""What the OR counted goes back to radiology: each read is stored as a DICOM Comprehensive SR
(highdicom) with the tap points on the image, to the local store on the embedded default and by
STOW-RS to a real Orthanc; the second read adds itself to a new SR."""

from __future__ import annotations

from collections.abc import Iterator
from io import BytesIO
from typing import Any

import pytest
from pydicom import dcmread

from checklist.models import AuditEvent
from imaging import actions
from imaging.models import ImageRead
from imaging.sr import SERIES_NUMBER
from imaging.store import DicomWebImageStore, InstanceRef, LocalImageStore
from tests.imaging.orthanc import Orthanc, orthanc_running
from tests.imaging.test_reads import post_read, ready_case, receive, taps_from_sacrum_to
from tests.imaging.test_second_read import client_for, second
from tests.support.workflow import Team


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    with orthanc_running(tmp_path_factory.mktemp("orthanc-sr"), modalities={"CARM1": "OR 1"}) as server:
        yield server


def reports(store: Any, study_uid: str, image_uid: str) -> list[Any]:
    found = [dcmread(BytesIO(store.fetch(ref))) for ref in store.find(study_uid=study_uid) if ref.sop_uid != image_uid]
    return [ds for ds in found if ds.Modality == "SR"]


def items(ds: Any) -> dict[str, Any]:
    return {item.ConceptNameCodeSequence[0].CodeValue: item for item in ds.ContentSequence}


@pytest.mark.django_db
def test_a_read_is_stored_as_an_sr_with_its_taps_in_the_local_store(
    team: Team, settings, tmp_path, django_capture_on_commit_callbacks
) -> None:
    settings.IMAGING_STORAGE_DIR = tmp_path / "images"
    settings.IMAGING_DICOMWEB_URL = ""
    store = LocalImageStore(settings.IMAGING_STORAGE_DIR)
    case = ready_case(team, lumbar=6)
    image, layout = receive(store, case, lumbar=6, marker="L2")
    taps = taps_from_sacrum_to(layout, "L2")
    with django_capture_on_commit_callbacks(execute=True):
        assert post_read(client_for(team.radiographer), image, taps).status_code == 201
    [report] = reports(store, image.study_instance_uid, image.sop_instance_uid)
    assert report.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33" and report.SeriesNumber == SERIES_NUMBER
    assert report.PatientID == case.patient.mrn and report.StudyInstanceUID == image.study_instance_uid
    content = items(report)
    assert content["COUNT"].MeasuredValueSequence[0].NumericValue == 5
    assert content["LEVEL"].TextValue == "L2" and content["REFERENCE"].ConceptCodeSequence[0].CodeValue == "SACRUM"
    points = [float(v) for v in content["TAPS"].GraphicData]
    assert points == [float(v) for tap in ImageRead.objects.get().taps for v in tap]
    source = content["TAPS"].ContentSequence[0].ReferencedSOPSequence[0]
    assert source.ReferencedSOPInstanceUID == image.sop_instance_uid
    event = AuditEvent.objects.get(action=actions.REPORT_STORED)
    assert event.after["sr_sop_instance_uid"] == report.SOPInstanceUID and event.case_id == case.pk


@pytest.mark.django_db(transaction=True)
def test_the_read_and_the_second_read_go_to_orthanc_by_stow_rs(team: Team, settings, orthanc: Orthanc) -> None:
    settings.IMAGING_DICOMWEB_URL = orthanc.dicomweb_url
    store = DicomWebImageStore(orthanc.dicomweb_url)
    case = ready_case(team, lumbar=6)
    image, layout = receive(store, case, lumbar=6, marker="L2")
    # A transactional test: on_commit runs, and the eager task stores the SR right away.
    assert post_read(client_for(team.radiographer), image, taps_from_sacrum_to(layout, "L2")).status_code == 201
    assert len(reports(store, image.study_instance_uid, image.sop_instance_uid)) == 1
    read = ImageRead.objects.get()
    assert second(team.nurse, read, taps_from_sacrum_to(layout, "L3"), label="L2").status_code == 201
    found = reports(store, image.study_instance_uid, image.sop_instance_uid)
    assert len(found) == 2
    both = next(ds for ds in found if "SECOND-READ" in items(ds))
    second_block = {i.ConceptNameCodeSequence[0].CodeValue: i for i in items(both)["SECOND-READ"].ContentSequence}
    assert second_block["COUNT"].MeasuredValueSequence[0].NumericValue == 4
    assert second_block["AGREES"].ConceptCodeSequence[0].CodeValue == "373067005"  # No
    assert InstanceRef.from_key(f"{both.StudyInstanceUID}/{both.SeriesInstanceUID}/{both.SOPInstanceUID}")
