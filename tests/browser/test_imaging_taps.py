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


PINCH = """([fromGap, toGap]) => {
  // Two fingers at the viewport's centre move apart: PointerEvents as a touch screen sends them.
  const viewport = document.getElementById("tap-viewport");
  const box = viewport.getBoundingClientRect();
  const cx = box.left + box.width / 2, cy = box.top + box.height / 2;
  const send = (type, id, x) => viewport.dispatchEvent(new PointerEvent(type, {
    pointerId: id, pointerType: "touch", isPrimary: id === 11, clientX: x, clientY: cy,
    bubbles: true, cancelable: true, button: 0 }));
  send("pointerdown", 11, cx - fromGap); send("pointerdown", 12, cx + fromGap);
  for (let step = 1; step <= 5; step++) {
    const gap = fromGap + ((toGap - fromGap) * step) / 5;
    send("pointermove", 11, cx - gap); send("pointermove", 12, cx + gap);
  }
  send("pointerup", 11, cx - toGap); send("pointerup", 12, cx + toGap);
}"""

DRAG = """([dx]) => {
  const viewport = document.getElementById("tap-viewport");
  const box = viewport.getBoundingClientRect();
  const x = box.left + box.width / 2, y = box.top + box.height / 2;
  const send = (type, px) => viewport.dispatchEvent(new PointerEvent(type, {
    pointerId: 21, pointerType: "touch", isPrimary: true, clientX: px, clientY: y,
    bubbles: true, cancelable: true, button: 0 }));
  send("pointerdown", x);
  for (let step = 1; step <= 5; step++) send("pointermove", x + (dx * step) / 5);
  send("pointerup", x + dx);
}"""


def _tap_on_image(page: Page, image: Any, x: float, y: float) -> None:
    """Tap where image pixel (x, y) is on screen now, zoomed and panned as the page is."""
    box = page.locator("#level-image").bounding_box()
    assert box
    page.mouse.click(box["x"] + x * box["width"] / image.columns, box["y"] + y * box["height"] / image.rows)


def test_zoom_and_pan_by_touch_keep_the_taps_in_image_pixels(
    team: Team, store: Any, new_device: Callable[..., Page]
) -> None:
    case = ready_case(team, lumbar=6)
    image, layout = receive(store, case, lumbar=6, marker="L2")
    page = new_device(team.radiographer.username)
    page.goto(f"/imaging/images/{image.pk}/read/")
    page.wait_for_function("document.getElementById('level-image').naturalWidth > 0")
    before = page.locator("#level-image").bounding_box()
    assert before
    # Two fingers pinch outwards: the image is zoomed (about 2x), and a pinch is never a tap.
    page.evaluate(PINCH, [40, 80])
    scale = float(page.locator("#tap-surface").get_attribute("data-scale") or "0")
    assert 1.8 <= scale <= 2.2, scale
    zoomed = page.locator("#level-image").bounding_box()
    assert zoomed and zoomed["width"] > 1.8 * before["width"]
    expect(page.locator(".tap-dot")).to_have_count(0)
    # One finger drags the zoomed image: it moves, and a drag is never a tap either.
    page.evaluate(DRAG, [120])
    panned = page.locator("#level-image").bounding_box()
    assert panned and abs(panned["x"] - zoomed["x"] - 120) <= 2
    expect(page.locator(".tap-dot")).to_have_count(0)
    # A tap on the zoomed, panned image lands in image pixels where the vertebra is.
    points = taps_from_sacrum_to(layout, "L2")
    page.get_by_role("button", name="Whole image").click()
    page.get_by_role("button", name="Zoom in").click()
    for x, y in points:
        box = page.locator("#level-image").bounding_box()
        viewport = page.locator("#tap-viewport").bounding_box()
        assert box and viewport
        sx, sy = box["x"] + x * box["width"] / image.columns, box["y"] + y * box["height"] / image.rows
        if not (viewport["x"] <= sx <= viewport["x"] + viewport["width"]):
            continue  # off screen at this zoom
        if not (viewport["y"] <= sy <= viewport["y"] + viewport["height"]):
            continue
        _tap_on_image(page, image, x, y)
    taps = page.eval_on_selector("#tap-input", "e => JSON.parse(e.value)")
    assert taps, "no vertebra was on screen at 150%"
    for tx, ty in taps:
        assert any(abs(tx - ex) <= 2 and abs(ty - ey) <= 2 for ex, ey in points), (tx, ty)
    expect(page.locator(".tap-dot")).to_have_count(len(taps))
    if os.environ.get("RIGHTLEVEL_SCREENSHOT_DIR"):
        page.screenshot(path=os.path.join(os.environ["RIGHTLEVEL_SCREENSHOT_DIR"], "image-zoom.png"), full_page=True)
