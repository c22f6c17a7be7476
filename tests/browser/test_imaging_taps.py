"""Counting by tapping on the level image in Chromium: the reader taps the sacrum and each
vertebra up to the marker; the dots are numbered, the count shown, and the saved read carries the
count derived from the taps (six lumbar vertebrae, marker on L2: count 5)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from checklist.models import Localization
from imaging.models import ImageRead
from tests.imaging.test_reads import ready_case, receive, taps_from_sacrum_to
from tests.support.workflow import Team


@pytest.fixture
def store(settings: Any, tmp_path: Path) -> Any:
    from imaging.store import LocalImageStore

    settings.IMAGING_STORAGE_DIR = tmp_path / "images"
    return LocalImageStore(settings.IMAGING_STORAGE_DIR)


def test_taps_on_the_image_count_and_save(team: Team, store: Any, new_device: Callable[..., Page]) -> None:
    case = ready_case(team, lumbar=6)
    image, layout = receive(store, case, lumbar=6, marker="L2")
    page = new_device(team.radiographer.username)
    page.goto(f"/cases/{case.pk}/")
    page.get_by_test_id("count-on-image").click()
    picture = page.locator("#level-image")
    expect(picture).to_be_visible()
    page.wait_for_function("document.getElementById('level-image').naturalWidth > 0")
    box = picture.bounding_box()
    assert box
    for x, y in taps_from_sacrum_to(layout, "L2"):
        picture.click(position={"x": x * box["width"] / image.columns, "y": y * box["height"] / image.rows})
    expect(page.locator("#tap-count")).to_have_text("5")
    expect(page.locator(".tap-dot")).to_have_count(6)
    if os.environ.get("RIGHTLEVEL_SCREENSHOT_DIR"):
        page.screenshot(path=os.path.join(os.environ["RIGHTLEVEL_SCREENSHOT_DIR"], "image-read.png"), full_page=True)
    page.get_by_role("button", name="Undo last tap").click()
    expect(page.locator("#tap-count")).to_have_text("4")
    x, y = taps_from_sacrum_to(layout, "L2")[-1]
    picture.click(position={"x": x * box["width"] / image.columns, "y": y * box["height"] / image.rows})
    page.fill("input[name=label]", "L2")
    page.check("input[name=marker_in_place]")
    page.get_by_test_id("save-image-read").click()
    expect(page).to_have_url(re.compile(rf"/cases/{case.pk}/#localization$"))
    # Six lumbar vertebrae: the count is kept back until the blind second read (test_imaging_second_read).
    expect(page.get_by_test_id("level-images")).to_contain_text("independent second read due")
    read = ImageRead.objects.get()
    assert read.count == 5 and Localization.objects.get(case=case).count == 5
    # The taps stored are where the reader tapped, in image pixels (within a pixel of the drawing).
    for (tx, ty), (ex, ey) in zip(read.taps, taps_from_sacrum_to(layout, "L2"), strict=True):
        assert abs(tx - ex) <= 2 and abs(ty - ey) <= 2
