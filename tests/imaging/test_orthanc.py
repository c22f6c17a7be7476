"""Real Orthanc: a C-arm C-STOREs to it, and the DICOMweb image store finds (QIDO-RS) and fetches
(WADO-RS) the instance; STOW-RS stores through the same interface the embedded receiver uses."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from io import BytesIO

import pytest
from pydicom import dcmread

from imaging.dicom import part10_bytes
from imaging.store import DicomWebImageStore, ImageStoreError, InstanceRef
from imaging.synthetic import lateral_lumbar
from tests.imaging.conftest import c_store
from tests.imaging.orthanc import Orthanc, orthanc_running


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    with orthanc_running(tmp_path_factory.mktemp("orthanc"), modalities={"CARM1": "OR 1"}) as server:
        yield server


def test_a_c_store_to_orthanc_is_found_and_fetched_through_dicomweb(orthanc: Orthanc) -> None:
    ds, _ = lateral_lumbar(rows=512, columns=512, accession="RL77", patient_id="MRN77", lumbar=6, marker="L5")
    status = c_store(orthanc.dicom_port, ds, called=orthanc.ae_title)
    assert status.Status == 0x0000
    store = DicomWebImageStore(orthanc.dicomweb_url)
    refs = store.find(accession_number="RL77")
    assert refs == [InstanceRef(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)]
    assert store.find(patient_id="MRN77", study_uid=ds.StudyInstanceUID) == refs
    assert store.find(accession_number="RL-NONE") == []
    back = dcmread(BytesIO(store.fetch(refs[0])))
    assert back.SOPInstanceUID == ds.SOPInstanceUID
    assert hashlib.sha256(back.PixelData).digest() == hashlib.sha256(ds.PixelData).digest()


def test_an_unknown_calling_ae_is_refused_by_orthanc_too(orthanc: Orthanc) -> None:
    ds, _ = lateral_lumbar(rows=128, columns=128)
    answer = c_store(orthanc.dicom_port, ds, called=orthanc.ae_title, calling="INTRUDER")
    # Orthanc rejects the request (no success status; the association may be aborted).
    assert getattr(answer, "is_rejected", False) or answer.get("Status", None) != 0x0000
    assert DicomWebImageStore(orthanc.dicomweb_url).find(study_uid=ds.StudyInstanceUID) == []


def test_stow_rs_stores_and_a_missing_instance_is_a_clear_error(orthanc: Orthanc) -> None:
    ds, _ = lateral_lumbar(rows=256, columns=256, accession="RL78")
    store = DicomWebImageStore(orthanc.dicomweb_url)
    ref = store.store(part10_bytes(ds))
    assert store.find(study_uid=ds.StudyInstanceUID) == [ref]
    assert dcmread(BytesIO(store.fetch(ref))).SOPInstanceUID == ds.SOPInstanceUID
    with pytest.raises(ImageStoreError, match="404"):
        store.fetch(InstanceRef(ref.study_uid, ref.series_uid, "1.2.3.4"))
    with pytest.raises(ImageStoreError, match="unreachable"):
        DicomWebImageStore("http://127.0.0.1:9/dicom-web", timeout=2).find(study_uid="1.2")


@pytest.mark.django_db(transaction=True)
def test_the_receiver_and_the_png_view_work_unchanged_with_orthanc_as_the_store(
    orthanc: Orthanc, team, settings
) -> None:
    from django.test import Client

    from imaging.models import LevelImage
    from imaging.receiver import StorageReceiver
    from imaging.selectors import accession_for
    from tests.support.workflow import case_schedule

    settings.IMAGING_DICOMWEB_URL = orthanc.dicomweb_url
    case = case_schedule(team)
    ds, _ = lateral_lumbar(rows=256, columns=256, accession=accession_for(case), patient_id=case.patient.mrn)
    receiver = StorageReceiver(allowed={"CARM1": team.room.name}, store=DicomWebImageStore(orthanc.dicomweb_url))
    receiver.start("127.0.0.1", 0)
    try:
        assert c_store(receiver.port, ds).Status == 0x0000
    finally:
        receiver.stop()
    image = LevelImage.objects.get()
    assert image.case == case
    assert DicomWebImageStore(orthanc.dicomweb_url).find(accession_number=accession_for(case))
    client = Client()
    client.force_login(team.nurse)
    response = client.get(f"/imaging/images/{image.pk}.png")
    assert response.status_code == 200 and response.content.startswith(b"\x89PNG")
