"""The tablet page for level images that matched no case: the case list says how many wait, the
page shows each with why and the cases of its day it could belong to, and assigning is audited;
bad input gets a reason on the page, never a 500."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from checklist.models import AuditEvent, Case
from imaging import actions, dicom
from imaging.models import LevelImage, MatchedBy
from imaging.services import level_image_receive
from imaging.store import LocalImageStore
from imaging.synthetic import lateral_lumbar
from tests.support.workflow import Team, case_schedule

pytestmark = pytest.mark.django_db


@pytest.fixture
def store(settings, tmp_path) -> LocalImageStore:
    settings.IMAGING_STORAGE_DIR = tmp_path / "images"
    return LocalImageStore(settings.IMAGING_STORAGE_DIR)


def _today(team: Team, **kwargs) -> Case:
    now = timezone.localtime()
    start = min(now + dt.timedelta(minutes=5), now.replace(hour=23, minute=58, second=0, microsecond=0))
    return case_schedule(team, scheduled_start=start, **kwargs)


def _unmatched(store: LocalImageStore, patient_id: str) -> LevelImage:
    ds, _ = lateral_lumbar(rows=128, columns=128, accession="", patient_id=patient_id, acquired_at=timezone.now())
    data = dicom.part10_bytes(ds)
    checked = dicom.check(dicom.parse_file(data, max_bytes=10**8), transfer_syntax=str(ds.file_meta.TransferSyntaxUID))
    image = level_image_receive(
        actor=None, checked=checked, data=data, calling_ae_title="CARM9", room_name="", store=store
    ).image
    assert image.case is None
    return image


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_case_list_says_images_wait_and_the_page_assigns_one_audited(team: Team, store) -> None:
    case = _today(team)
    _today(team, mrn="MRN-OTHER")  # another patient's case is not offered
    image = _unmatched(store, case.patient.mrn)
    radiographer = _client(team.radiographer)
    listing = radiographer.get("/cases/").content.decode()
    assert 'data-testid="unmatched-images-card"' in listing and "1 image from the C-arm" in listing
    page = radiographer.get("/imaging/unmatched/")
    html = page.content.decode()
    assert page.status_code == 200 and html.count('data-testid="unmatched-image"') == 1
    assert f'<option value="{case.pk}">' in html and "MRN-OTHER" not in html
    assert image.unmatched_reason in html
    done = radiographer.post(
        "/imaging/unmatched/", {"image_id": image.pk, "case_id": case.pk, "version": image.version}
    )
    assert done.status_code == 302 and done["Location"].endswith(f"?assigned={case.pk}")
    image.refresh_from_db()
    assert image.case == case and image.matched_by == MatchedBy.ASSIGNED and image.assigned_by == team.radiographer
    event = AuditEvent.objects.get(action=actions.IMAGE_ASSIGNED)
    assert event.case_id == case.pk and event.actor_id == team.radiographer.pk
    assert 'data-testid="no-unmatched"' in radiographer.get(done["Location"]).content.decode()
    assert 'data-testid="unmatched-images-card"' not in radiographer.get("/cases/").content.decode()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"case_id": ""}, "Choose the case"),
        ({"case_id": "abc"}, "Choose the case"),
        ({"case_id": 999999}, "No such case"),
        ({"other_patient": True}, "patient ID is not this case"),
        ({"version": 99}, "changed since you saw it"),
    ],
)
def test_bad_input_gets_a_reason_and_changes_nothing(team: Team, store, body: dict, reason: str) -> None:
    case = _today(team)
    other = _today(team, mrn="MRN-OTHER")
    image = _unmatched(store, case.patient.mrn)
    post = {"image_id": image.pk, "version": image.version}
    if body.pop("other_patient", False):
        post["case_id"] = other.pk
    else:
        post["case_id"] = body.pop("case_id", case.pk)
    post.update(body)
    response = _client(team.radiographer).post("/imaging/unmatched/", post)
    assert response.status_code == 400 and reason in response.content.decode()
    image.refresh_from_db()
    assert image.case is None and not AuditEvent.objects.filter(action=actions.IMAGE_ASSIGNED).exists()


def test_a_quality_officer_neither_sees_the_card_nor_the_page(team: Team, store) -> None:
    case = _today(team)
    _unmatched(store, case.patient.mrn)
    quality = _client(team.quality)
    assert quality.get("/imaging/unmatched/").status_code == 403
    assert quality.post("/imaging/unmatched/", {"image_id": 1, "case_id": case.pk}).status_code == 403


def test_a_post_naming_no_image_is_a_400_with_a_reason(team: Team, store) -> None:
    response = _client(team.radiographer).post("/imaging/unmatched/", {"image_id": "abc", "case_id": "1"})
    assert response.status_code == 400 and "names no image" in response.content.decode()
