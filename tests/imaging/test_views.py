"""The image served as PNG to the users who may see it; unmatched images listed and assigned (audited)."""

from __future__ import annotations

from io import BytesIO
from typing import Any

import numpy as np
import pytest
from django.test import Client
from PIL import Image
from rest_framework.test import APIClient

from checklist.models import AuditEvent
from imaging import actions, dicom
from imaging.models import LevelImage, MatchedBy
from imaging.selectors import accession_for
from imaging.services import level_image_receive
from imaging.store import LocalImageStore
from imaging.synthetic import lateral_lumbar
from tests.support.workflow import Team, case_schedule

pytestmark = pytest.mark.django_db


@pytest.fixture
def store(settings, tmp_path) -> LocalImageStore:
    settings.IMAGING_STORAGE_DIR = tmp_path / "images"
    settings.IMAGING_DICOMWEB_URL = ""
    return LocalImageStore(settings.IMAGING_STORAGE_DIR)


def receive(store: LocalImageStore, **kwargs: Any) -> tuple[LevelImage, Any]:
    ds, layout = lateral_lumbar(rows=512, columns=512, **kwargs)
    data = dicom.part10_bytes(ds)
    checked = dicom.check(dicom.parse_file(data, max_bytes=10**8), transfer_syntax=str(ds.file_meta.TransferSyntaxUID))
    image = level_image_receive(
        actor=None, checked=checked, data=data, calling_ae_title="CARM1", room_name="OR 1", store=store
    ).image
    return image, layout


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_room_team_gets_the_frame_as_png_with_the_marker_bright(team: Team, store) -> None:
    case = case_schedule(team)
    image, layout = receive(store, accession=accession_for(case), patient_id=case.patient.mrn, marker="L2")
    response = signed_in(team.nurse).get(f"/imaging/images/{image.pk}.png")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    png = Image.open(BytesIO(response.content))
    assert png.size == (512, 512) and png.mode == "L"
    pixels = np.asarray(png)
    assert pixels[layout.marker] == 255 > np.percentile(pixels, 50)
    again = signed_in(team.nurse).get(f"/imaging/images/{image.pk}.png", HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304


def test_someone_outside_the_case_gets_403_and_anonymous_is_sent_to_sign_in(team: Team, store, make_user) -> None:
    case = case_schedule(team)
    image, _ = receive(store, accession=accession_for(case), patient_id=case.patient.mrn)
    assert image.case == case
    stranger = make_user(username="other-nurse")
    assert signed_in(stranger).get(f"/imaging/images/{image.pk}.png").status_code == 403
    assert Client().get(f"/imaging/images/{image.pk}.png").status_code == 302
    assert signed_in(team.nurse).get("/imaging/images/999999.png").status_code == 404


def test_an_unmatched_image_is_listed_and_assigned_with_an_audit_event(team: Team, store) -> None:
    case = case_schedule(team)
    image, _ = receive(store, patient_id=case.patient.mrn, acquired_at=case.scheduled_start.replace(year=2020))
    assert image.case is None and image.unmatched_reason
    api = APIClient()
    api.force_authenticate(team.radiographer)
    listed = api.get("/api/v1/imaging/unmatched/")
    assert listed.status_code == 200 and [row["id"] for row in listed.json()] == [image.pk]
    assert listed.json()[0]["png_url"] == f"/imaging/images/{image.pk}.png"

    stale = api.post(f"/api/v1/imaging/images/{image.pk}/assign/", {"case_id": case.pk, "version": 7}, format="json")
    assert stale.status_code == 409
    done = api.post(f"/api/v1/imaging/images/{image.pk}/assign/", {"case_id": case.pk, "version": 1}, format="json")
    assert done.status_code == 200, done.json()
    assert done.json()["case"] == case.pk and done.json()["matched_by"] == MatchedBy.ASSIGNED
    event = AuditEvent.objects.get(action=actions.IMAGE_ASSIGNED)
    assert event.case_id == case.pk and event.actor_id == team.radiographer.pk
    assert event.before["matched_by"] == "" and event.after["matched_by"] == MatchedBy.ASSIGNED
    assert api.get("/api/v1/imaging/unmatched/").json() == []
    again = api.post(f"/api/v1/imaging/images/{image.pk}/assign/", {"case_id": case.pk, "version": 2}, format="json")
    assert again.status_code == 409


def test_assignment_refuses_bad_input_with_field_reasons(team: Team, store, make_user) -> None:
    case = case_schedule(team)
    image, _ = receive(store, patient_id="SOMEONE-ELSE")
    api = APIClient()
    api.force_authenticate(team.radiographer)
    url = f"/api/v1/imaging/images/{image.pk}/assign/"
    assert "case_id" in api.post(url, {"version": 1}, format="json").json()["errors"]
    assert "case_id" in api.post(url, {"case_id": "x", "version": 1}, format="json").json()["errors"]
    assert "case_id" in api.post(url, {"case_id": 999999, "version": 1}, format="json").json()["errors"]
    other = api.post(url, {"case_id": case.pk, "version": 1}, format="json")
    assert other.status_code == 400 and "patient" in other.json()["errors"]["case_id"][0]
    assert (
        api.post("/api/v1/imaging/images/999999/assign/", {"case_id": case.pk, "version": 1}, format="json").status_code
        == 404
    )
    quality = APIClient()
    quality.force_authenticate(team.quality)
    assert quality.get("/api/v1/imaging/unmatched/").status_code == 403
    assert (
        LevelImage.objects.get().case is None and not AuditEvent.objects.filter(action=actions.IMAGE_ASSIGNED).exists()
    )
