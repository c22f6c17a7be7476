"""Consent scans (issue 14, item 7): accepted only as PDF, PNG or JPEG by content, stored under
a random name, capped, and served only to those who may see the case, as a download with nosniff."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from checklist.models import Consent
from checklist.uploads import SCAN_TYPE_REFUSED
from tests.security.conftest import World
from tests.support.api_workflow import token_client

pytestmark = pytest.mark.django_db

FORM = {"procedure": "selective_nerve_root_block", "levels": "L2", "side": "left", "date_signed": "2026-11-24",
        "witness": "W. Itness"}  # fmt: skip
PDF = b"%PDF-1.4 signed consent\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def _upload(world: World, name: str, content: bytes, content_type: str = "application/pdf"):
    client = token_client(world.team.nurse)
    case = world.case
    case.refresh_from_db()
    scan = SimpleUploadedFile(name, content, content_type=content_type)
    data = {**FORM, "expected_version": case.evidence_version, "scan": scan}
    return client.post(f"/api/v1/cases/{case.pk}/consent/", data, format="multipart")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("consent.pdf", b"<html><script>alert(1)</script></html>"),  # named PDF, is HTML
        ("consent.png", b"GIF89a" + b"\x00" * 20),
        ("consent.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
        ("consent.pdf", b"MZ\x90\x00"),
    ],
)
def test_a_scan_that_is_not_pdf_png_or_jpeg_by_content_is_refused(world: World, name: str, content: bytes) -> None:
    before = Consent.objects.count()
    response = _upload(world, name, content)
    assert response.status_code == 400
    assert response.json()["errors"]["scan"] == [SCAN_TYPE_REFUSED]
    assert Consent.objects.count() == before


@pytest.mark.parametrize(("content", "extension"), [(PDF, "pdf"), (PNG, "png"), (JPEG, "jpg")])
def test_a_scan_is_stored_under_a_random_name(world: World, media, content: bytes, extension: str) -> None:
    response = _upload(world, "SMITH-John-MRN123456.pdf", content)
    assert response.status_code == 201, response.json()
    consent = Consent.objects.latest("pk")
    stored = consent.scan.name
    assert "SMITH" not in stored and "MRN" not in stored and "123456" not in stored
    assert stored.endswith(f".{extension}")
    assert len(stored.rsplit("/", 1)[-1]) == 32 + 1 + len(extension)
    assert not [p for p in media.rglob("*") if "SMITH" in p.name]


def test_a_scan_is_capped(world: World, monkeypatch) -> None:
    monkeypatch.setattr("checklist.services.evidence.MAX_SCAN_BYTES", 1024)
    response = _upload(world, "c.pdf", PDF + b"x" * 2048)
    assert response.status_code == 400
    assert "scan" in response.json()["errors"]


def test_a_scan_is_served_only_to_who_may_see_the_case_as_a_download(world: World) -> None:
    assert _upload(world, "SMITH.pdf", PDF).status_code == 201
    consent = Consent.objects.latest("pk")
    url = f"/cases/{world.case.pk}/consents/{consent.pk}/scan"
    nurse = Client()
    nurse.force_login(world.team.nurse)
    response = nurse.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    assert "SMITH" not in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response["Cache-Control"]
    outsider = Client()
    outsider.force_login(world.other.nurse)  # another room's nurse
    assert outsider.get(url).status_code == 404
    assert Client().get(url).status_code == 302  # to the sign-in page
    other_case = f"/cases/{world.other_case.pk}/consents/{consent.pk}/scan"
    other = Client()
    other.force_login(world.other.nurse)
    assert other.get(other_case).status_code == 404  # the scan is not the other case's
    assert Client().get(f"/media/{consent.scan.name}").status_code == 404  # never served as a static file
