"""The tablet page to count on the image: shown from the case page, taps posted as JSON become the
localization (the server derives the count); bad input re-renders with the reason."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from checklist.models import Localization
from imaging.models import ImageRead
from tests.imaging.test_reads import ready_case, receive, taps_from_sacrum_to
from tests.support.workflow import Team

pytestmark = pytest.mark.django_db


@pytest.fixture
def store(settings, tmp_path):
    from imaging.store import LocalImageStore

    settings.IMAGING_STORAGE_DIR = tmp_path / "images"
    return LocalImageStore(settings.IMAGING_STORAGE_DIR)


def test_the_case_page_links_the_image_and_the_page_counts_from_the_taps(team: Team, store) -> None:
    case = ready_case(team, lumbar=6)
    image, layout = receive(store, case, lumbar=6, marker="L2")
    client = Client()
    client.force_login(team.radiographer)
    case_page = client.get(f"/cases/{case.pk}/")
    assert f"/imaging/images/{image.pk}/read/" in case_page.content.decode()
    page = client.get(f"/imaging/images/{image.pk}/read/")
    html = page.content.decode()
    assert page.status_code == 200 and f"/imaging/images/{image.pk}.png" in html
    assert "<td>L2</td><td>5</td><td>19</td>" in html  # the ladder for six lumbar, twelve thoracic vertebrae
    taps = json.dumps(taps_from_sacrum_to(layout, "L2"))
    body = {"taps": taps, "reference": "sacrum", "phase": "pre_incision", "label": "L2", "marker_in_place": "1"}
    done = client.post(f"/imaging/images/{image.pk}/read/", body)
    assert done.status_code == 302 and done["Location"] == f"/cases/{case.pk}/#localization"
    assert Localization.objects.get(case=case).count == 5 and ImageRead.objects.get().image == image
    # Six lumbar vertebrae: the list keeps the count back until the blind second read is saved.
    assert "independent second read due" in client.get(f"/cases/{case.pk}/").content.decode()


@pytest.mark.parametrize(
    "change,field_text",
    [
        ({"taps": "not json"}, "could not be read"),
        ({"taps": "[[1, 1]]"}, "Tap the reference first"),
        ({"reference": "moon"}, "Choose the reference"),
        ({"label": "L9"}, "L9"),
    ],
)
def test_bad_input_re_renders_the_page_with_the_reason(team: Team, store, change: dict, field_text: str) -> None:
    case = ready_case(team)
    image, layout = receive(store, case)
    client = Client()
    client.force_login(team.radiographer)
    body = {
        "taps": json.dumps(taps_from_sacrum_to(layout, "L2")),
        "reference": "sacrum",
        "phase": "pre_incision",
        "label": "L2",
        "marker_in_place": "1",
        **change,
    }
    response = client.post(f"/imaging/images/{image.pk}/read/", body)
    assert response.status_code == 400 and field_text in response.content.decode()
    assert not ImageRead.objects.exists()


def test_the_page_is_for_the_case_team_only(team: Team, store, make_user) -> None:
    case = ready_case(team)
    image, _ = receive(store, case)
    client = Client()
    client.force_login(make_user(username="elsewhere"))
    assert client.get(f"/imaging/images/{image.pk}/read/").status_code == 403
    client.force_login(team.quality)
    assert client.get(f"/imaging/images/{image.pk}/read/").status_code == 403
