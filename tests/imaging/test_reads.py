"""Counting on the image: taps become the localization's count and the level check runs on it;
the read binds the image; an image taken before the time-out or counted already is refused."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from checklist.models import AuditEvent, Case, Localization
from imaging import actions, dicom
from imaging.models import ImageRead, LevelImage
from imaging.selectors import accession_for
from imaging.services import level_image_receive
from imaging.store import LocalImageStore
from imaging.synthetic import Layout, lateral_lumbar
from tests.support.workflow import Team, case_schedule, case_through_time_out, evidence_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def store(settings, tmp_path) -> LocalImageStore:
    settings.IMAGING_STORAGE_DIR = tmp_path / "images"
    return LocalImageStore(settings.IMAGING_STORAGE_DIR)


def receive(store: LocalImageStore, case: Case, **kwargs: Any) -> tuple[LevelImage, Layout]:
    kwargs.setdefault("acquired_at", timezone.now())
    ds, layout = lateral_lumbar(
        rows=512, columns=512, accession=accession_for(case), patient_id=case.patient.mrn, **kwargs
    )
    data = dicom.part10_bytes(ds)
    checked = dicom.check(dicom.parse_file(data, max_bytes=10**8), transfer_syntax=str(ds.file_meta.TransferSyntaxUID))
    received = level_image_receive(
        actor=None, checked=checked, data=data, calling_ae_title="CARM1", room_name=case.room.name, store=store
    )
    return received.image, layout


def taps_from_sacrum_to(layout: Layout, level: str) -> list[list[int]]:
    """What a careful reader taps: the sacrum, then each vertebra upward up to ``level``."""
    names = [n for n in layout.vertebrae if n.startswith("L")]
    upward = list(reversed(names))
    path = ["S1", *upward[: upward.index(level) + 1]]
    return [[layout.vertebrae[n][1], layout.vertebrae[n][0]] for n in path]


def ready_case(team: Team, lumbar: int = 5) -> Case:
    case = case_schedule(team)
    evidence_record(team, case, lumbar=lumbar)
    return case_through_time_out(team, case)


def post_read(api: APIClient, image: LevelImage, taps: Any, **extra: Any) -> Any:
    body = {"taps": taps, "reference": "sacrum", "label": "L2", "marker_in_place": True, **extra}
    return api.post(f"/api/v1/imaging/images/{image.pk}/reads/", body, format="json")


@pytest.fixture
def api(team: Team) -> APIClient:
    client = APIClient()
    client.force_authenticate(team.radiographer)
    return client


def test_taps_to_the_marker_feed_the_level_check_and_bind_the_image(team: Team, store, api) -> None:
    case = ready_case(team)
    image, layout = receive(store, case, marker="L2")
    response = post_read(api, image, taps_from_sacrum_to(layout, "L2"))
    assert response.status_code == 201, response.json()
    assert response.json()["count"] == 4 and response.json()["verdict"] == "pass"
    read = ImageRead.objects.get()
    localization = Localization.objects.get(pk=response.json()["localization_id"])
    assert read.image == image and read.localization == localization and localization.count == 4
    assert len(read.taps) == 5
    event = AuditEvent.objects.get(action=actions.IMAGE_READ)
    assert event.case_id == case.pk and event.after["sop_instance_uid"] == image.sop_instance_uid
    assert event.after["pixel_sha256"] == image.pixel_sha256 and event.after["count"] == 4


def test_six_lumbar_vertebrae_miscounted_as_five_is_a_stop(team: Team, store, api) -> None:
    """A patient with six lumbar vertebrae: the marker sits on L2, but a reader who stops counting
    one vertebra short (four taps above the sacrum) reaches L3 on this spine: the check stops."""
    case = ready_case(team, lumbar=6)
    image, layout = receive(store, case, lumbar=6, marker="L2")
    taps = taps_from_sacrum_to(layout, "L3")
    assert len(taps) - 1 == 4
    response = post_read(api, image, taps)
    assert response.status_code == 201 and response.json()["verdict"] == "stop"
    right = receive(store, case, lumbar=6, marker="L2")
    again = post_read(api, right[0], taps_from_sacrum_to(right[1], "L2"))
    # The right count resolves the stop; six lumbar vertebrae still ask for a second reference.
    assert again.status_code == 201 and again.json()["count"] == 5 and again.json()["verdict"] == "incomplete"


def test_an_image_taken_before_the_time_out_or_already_counted_is_refused(team: Team, store, api) -> None:
    case = ready_case(team)
    old, layout = receive(store, case, acquired_at=case.time_out_completed_at - dt.timedelta(minutes=5))
    refused = post_read(api, old, taps_from_sacrum_to(layout, "L2"))
    assert refused.status_code == 400 and "before the time-out" in refused.json()["errors"]["image"][0]
    image, layout = receive(store, case, marker="L2")
    assert post_read(api, image, taps_from_sacrum_to(layout, "L2")).status_code == 201
    twice = post_read(api, image, taps_from_sacrum_to(layout, "L2"))
    assert twice.status_code == 400 and "already used" in twice.json()["errors"]["image"][0]
    assert ImageRead.objects.count() == 1 and Localization.objects.filter(case=case).count() == 1


@pytest.mark.parametrize(
    "taps",
    [[], [[10, 10]], "x", [[10, 10], [10]], [[10, 10], [10, "a"]], [[10, 10], [600, 10]], [[10, 10], [True, 3]]],
    ids=["empty", "one", "text", "short-point", "text-point", "outside", "bool"],
)
def test_bad_taps_get_a_field_reason_and_record_nothing(team: Team, store, api, taps: Any) -> None:
    case = ready_case(team)
    image, _ = receive(store, case)
    response = post_read(api, image, taps)
    assert response.status_code == 400 and "taps" in response.json()["errors"], response.json()
    assert not ImageRead.objects.exists() and not Localization.objects.filter(case=case).exists()


def test_an_unassigned_image_or_someone_elses_case_is_refused(team: Team, store, api, make_user) -> None:
    case = ready_case(team)
    image, layout = receive(store, case)
    stranger = APIClient()
    stranger.force_authenticate(make_user(username="elsewhere"))
    assert post_read(stranger, image, taps_from_sacrum_to(layout, "L2")).status_code == 403
    ds, _ = lateral_lumbar(rows=512, columns=512, patient_id="NOT-ON-THE-LIST")
    data = dicom.part10_bytes(ds)
    checked = dicom.check(dicom.parse_file(data, max_bytes=10**8), transfer_syntax=str(ds.file_meta.TransferSyntaxUID))
    unmatched = level_image_receive(
        actor=None, checked=checked, data=data, calling_ae_title="CARM1", room_name=case.room.name, store=store
    ).image
    assert unmatched.case is None
    response = post_read(api, unmatched, taps_from_sacrum_to(layout, "L2"))
    assert response.status_code == 400 and "assign it first" in response.json()["errors"]["image"][0]
