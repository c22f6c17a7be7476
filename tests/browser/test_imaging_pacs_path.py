"""The production path of a level image, whole, against a real Orthanc: the C-arm asks
RightLevel's Modality Worklist for the case, C-STOREs its image to the PACS, RightLevel finds it
there (QIDO-RS by the accession number the worklist gave) and fetches it (WADO-RS) onto the case;
the reader counts it by tapping in Chromium, a second person reads it blind, the reads go back to
the PACS as a DICOM SR, and the level check passes, or stops on the six-lumbar miscount."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect
from pydicom import dcmread

from checklist import services
from checklist.models import AuditEvent, Case
from imaging import actions
from imaging.models import ImageRead, LevelImage, MatchedBy, SecondRead
from imaging.receiver import StorageReceiver
from imaging.selectors import accession_for
from imaging.services import PACS_SOURCE, pacs_images_collect
from imaging.store import DicomWebImageStore
from imaging.synthetic import Layout, lateral_lumbar
from tests.imaging.conftest import CARM, c_store
from tests.imaging.orthanc import Orthanc, orthanc_running
from tests.imaging.test_reads import taps_from_sacrum_to
from tests.imaging.test_worklist import c_find, query
from tests.support.workflow import Team, case_schedule, case_through_time_out, evidence_record


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    with orthanc_running(tmp_path_factory.mktemp("orthanc-path"), modalities={CARM: "OR 1"}) as server:
        yield server


@pytest.fixture
def worklist(team: Team, pacs: DicomWebImageStore, tmp_path: Path) -> Iterator[StorageReceiver]:
    """RightLevel's DICOM service, for its Modality Worklist (the C-arm stores to the PACS)."""
    server = StorageReceiver(allowed={CARM: team.room.name}, store=pacs, max_bytes=8 * 1024 * 1024)
    server.start("127.0.0.1", 0)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pacs(settings: Any, orthanc: Orthanc) -> DicomWebImageStore:
    settings.IMAGING_DICOMWEB_URL = orthanc.dicomweb_url
    return DicomWebImageStore(orthanc.dicomweb_url)


def _case_today(team: Team) -> Case:
    now = timezone.localtime()
    start = min(now + dt.timedelta(minutes=5), now.replace(hour=23, minute=58, second=0, microsecond=0))
    case = case_schedule(team, scheduled_start=start, family_name="Lumbar", given_name="Six")
    evidence_record(team, case, lumbar=6)
    return case_through_time_out(team, case)


def _c_arm_images_the_case(worklist: StorageReceiver, orthanc: Orthanc, case: Case) -> tuple[Any, Layout]:
    """The C-arm's day: the worklist names the case, the image goes to the PACS with its accession."""
    answers, statuses, _ = c_find(worklist.port, query(station=CARM))
    assert statuses[-1] == 0x0000
    item = next(a for a in answers if a.AccessionNumber == accession_for(case))
    ds, layout = lateral_lumbar(
        rows=512,
        columns=512,
        accession=str(item.AccessionNumber),
        patient_id=str(item.PatientID),
        lumbar=6,
        marker="L2",
        acquired_at=timezone.now(),
    )
    assert c_store(orthanc.dicom_port, ds, called=orthanc.ae_title).Status == 0x0000
    return ds, layout


def _tap(page: Page, image: LevelImage, points: list[list[int]]) -> None:
    picture = page.locator("#level-image")
    expect(picture).to_have_js_property("complete", True)
    box = picture.bounding_box()
    assert box
    for x, y in points:
        picture.click(position={"x": x * box["width"] / image.columns, "y": y * box["height"] / image.rows})


def test_worklist_pacs_taps_blind_second_read_sr_and_a_pass(
    team: Team, worklist: StorageReceiver, orthanc: Orthanc, pacs: DicomWebImageStore, new_device: Callable[..., Page]
) -> None:
    case = _case_today(team)
    ds, layout = _c_arm_images_the_case(worklist, orthanc, case)

    # The beat task's work: the image is found in the PACS and recorded on the case, once.
    collected = pacs_images_collect()
    assert collected.received == 1 and not collected.errors
    image = LevelImage.objects.get(sop_instance_uid=ds.SOPInstanceUID)
    assert image.case == case and image.matched_by == MatchedBy.ACCESSION and image.calling_ae_title == PACS_SOURCE
    assert AuditEvent.objects.filter(action=actions.IMAGE_RECEIVED, case=case, object_id=str(image.pk)).count() == 1
    assert pacs_images_collect().received == 0 and LevelImage.objects.count() == 1

    # The radiographer counts on the image in Chromium: sacrum, then up to the marker (5 on this spine).
    page = new_device(team.radiographer.username)
    page.goto(f"/cases/{case.pk}/")
    page.get_by_test_id("count-on-image").click()
    _tap(page, image, taps_from_sacrum_to(layout, "L2"))
    expect(page.locator("#tap-count")).to_have_text("5")
    page.fill("input[name=label]", "L2")
    page.check("input[name=marker_in_place]")
    page.get_by_test_id("save-image-read").click()
    expect(page).to_have_url(re.compile(rf"/cases/{case.pk}/#localization$"))
    expect(page.get_by_test_id("level-images")).to_contain_text("independent second read due")
    expect(page.get_by_test_id("count-hidden")).to_be_visible()
    read = ImageRead.objects.get(image=image)
    assert read.count == 5

    # A nurse reads the same image blind and agrees.
    nurse = new_device(team.nurse.username)
    nurse.goto(f"/cases/{case.pk}/")
    nurse.get_by_test_id("second-read-on-image").click()
    expect(nurse.locator(".tap-dot")).to_have_count(0)
    _tap(nurse, image, taps_from_sacrum_to(layout, "L2"))
    nurse.fill("input[name=label]", "L2")
    nurse.get_by_test_id("save-second-read").click()
    expect(nurse.get_by_test_id("second-read-agrees")).to_be_visible()
    assert SecondRead.objects.get(first_read=read).agrees

    # The read went back to the PACS as an SR in the image's study, with both reads.
    reports = pacs.find(study_uid=ds.StudyInstanceUID, modalities=("SR",))
    assert reports
    sr = dcmread(BytesIO(pacs.fetch(reports[-1])))
    assert sr.Modality == "SR" and sr.StudyInstanceUID == ds.StudyInstanceUID
    assert ds.SOPInstanceUID in str(sr)
    # The SR is not taken for a new level image.
    again = pacs_images_collect()
    assert again.received == 0 and again.refused == 0

    # Six lumbar vertebrae ask for a second reference: a C2 count that agrees, and the check passes.
    services.localization_record(
        actor=team.radiographer,
        case=case,
        phase="pre_incision",
        reference="c2",
        count=19,
        label="L2",
        marker_in_place=True,
        read_by=team.radiographer,
    )
    case.refresh_from_db()
    assert case.verdict == "pass", case.latest_verdict.findings


def test_the_six_lumbar_miscount_on_an_image_from_the_pacs_is_a_stop(
    team: Team, worklist: StorageReceiver, orthanc: Orthanc, pacs: DicomWebImageStore, new_device: Callable[..., Page]
) -> None:
    case = _case_today(team)
    ds, layout = _c_arm_images_the_case(worklist, orthanc, case)
    assert pacs_images_collect().received == 1
    image = LevelImage.objects.get(sop_instance_uid=ds.SOPInstanceUID)
    # The reader counts four above the sacrum, as on a five-lumbar spine: on this one that is L3.
    page = new_device(team.radiographer.username)
    page.goto(f"/imaging/images/{image.pk}/read/")
    taps = taps_from_sacrum_to(layout, "L3")
    _tap(page, image, taps)
    expect(page.locator("#tap-count")).to_have_text("4")
    page.fill("input[name=label]", "L2")
    page.check("input[name=marker_in_place]")
    page.get_by_test_id("save-image-read").click()
    expect(page).to_have_url(re.compile(rf"/cases/{case.pk}/#localization$"))
    case.refresh_from_db()
    assert case.verdict == "stop"
    assert "COUNT_LABEL_MISMATCH" in {f["code"] for f in case.latest_verdict.findings}
    expect(page.get_by_test_id("stop-ack")).to_be_visible()
