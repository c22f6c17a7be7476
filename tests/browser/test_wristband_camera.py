"""The camera path of the wristband scan: the vendored barcode-detector polyfill (ZXing in
WebAssembly, served by the app) reads a real barcode under the app's Content Security Policy, and
nothing is fetched from anywhere but the app."""

from __future__ import annotations

import base64

import pytest
from playwright.sync_api import expect
from reportlab.graphics import renderSVG
from reportlab.graphics.barcode import createBarcodeDrawing

from checklist import services
from tests.support.workflow import Team, case_schedule, evidence_record

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _code128_data_url(value: str) -> str:
    drawing = createBarcodeDrawing("Code128", value=value, barHeight=80, barWidth=3, humanReadable=False)
    svg = renderSVG.drawToString(drawing)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


READ = """async (url) => {
  const image = new Image();
  image.src = url;
  await image.decode();
  const canvas = document.createElement("canvas");
  canvas.width = image.naturalWidth * 2 + 80;
  canvas.height = image.naturalHeight * 2 + 80;
  const context = canvas.getContext("2d");
  context.fillStyle = "#fff";
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.drawImage(image, 40, 40, image.naturalWidth * 2, image.naturalHeight * 2);
  const detector = new BarcodeDetectionAPI.BarcodeDetector({ formats: ["code_128", "data_matrix"] });
  const codes = await detector.detect(canvas);
  return codes.map((c) => c.rawValue);
}"""


def test_the_polyfill_reads_a_wristband_barcode_with_local_files_only(new_device, team: Team, live_server) -> None:
    case = case_schedule(team, mrn="RL-8001")
    evidence_record(team, case)
    services.case_patient_in_room(actor=team.nurse, case=case.pk)
    nurse = new_device(team.nurse.username)
    requests: list[str] = []
    nurse.on("request", lambda request: requests.append(request.url))
    blocked: list[str] = []
    nurse.on(
        "console", lambda message: blocked.append(message.text) if "Content Security Policy" in message.text else None
    )
    nurse.goto(f"/cases/{case.pk}/")
    expect(nurse.get_by_test_id("wristband-camera")).to_be_visible()  # the reader is there
    assert nurse.evaluate(READ, _code128_data_url("RL-8001")) == ["RL-8001"]
    assert not blocked, blocked
    assert any(url.endswith(".wasm") for url in requests), requests
    outside = [url for url in requests if not url.startswith((live_server.url, "data:"))]
    assert not outside, outside
