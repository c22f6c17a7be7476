"""The blind second read in Chromium: a second person opens the image from the case page, sees
neither the first reader's dots nor their count, taps their own count, and only after saving sees
both reads side by side."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from rest_framework.test import APIClient

from imaging.models import SecondRead
from tests.imaging.test_reads import post_read, ready_case, receive, taps_from_sacrum_to
from tests.support.workflow import Team


@pytest.fixture
def store(settings: Any, tmp_path: Path) -> Any:
    from imaging.store import LocalImageStore

    settings.IMAGING_STORAGE_DIR = tmp_path / "images"
    return LocalImageStore(settings.IMAGING_STORAGE_DIR)


def test_the_second_reader_counts_blind_and_then_sees_both_reads(
    team: Team, store: Any, new_device: Callable[..., Page]
) -> None:
    case = ready_case(team, lumbar=6)
    image, layout = receive(store, case, lumbar=6, marker="L2")
    api = APIClient()
    api.force_authenticate(team.radiographer)
    first = post_read(api, image, taps_from_sacrum_to(layout, "L2"))
    assert first.status_code == 201
    page = new_device(team.nurse.username)
    page.goto(f"/cases/{case.pk}/")
    expect(page.get_by_test_id("level-images")).not_to_contain_text("counted: 5")
    page.get_by_test_id("second-read-on-image").click()
    expect(page.get_by_role("heading", name="Second read (blind)")).to_be_visible()
    expect(page.locator("#level-image")).to_have_js_property("complete", True)
    # Nothing of the first read: no dots, a count of 0, no stored taps in the form.
    expect(page.locator(".tap-dot")).to_have_count(0)
    expect(page.locator("#tap-count")).to_have_text("0")
    assert json.loads(page.locator("#tap-input").input_value()) == []
    picture = page.locator("#level-image")
    box = picture.bounding_box()
    assert box
    for x, y in taps_from_sacrum_to(layout, "L2"):
        picture.click(position={"x": x * box["width"] / image.columns, "y": y * box["height"] / image.rows})
    expect(page.locator("#tap-count")).to_have_text("5")
    page.fill("input[name=label]", "L2")
    page.get_by_test_id("save-second-read").click()
    expect(page).to_have_url(re.compile(rf"/imaging/reads/{first.json()['read_id']}/second/$"))
    expect(page.get_by_test_id("second-read-agrees")).to_be_visible()
    expect(page.get_by_test_id("both-reads")).to_contain_text("Ray")
    second = SecondRead.objects.get()
    assert second.agrees and second.count == 5 and second.read_by == team.nurse
