"""The wristband scan over the API and the tablet form: 201 with the attestation, 400 naming the barcode."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from checklist import services
from checklist.models import IdentityScan
from tests.support.api_workflow import case_url, post, token_client
from tests.support.workflow import case_schedule, evidence_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def in_room(team):
    case = case_schedule(team, mrn="RL-6001")
    evidence_record(team, case)
    services.case_patient_in_room(actor=team.nurse, case=case)
    return case


def test_the_api_scan_attests_and_the_checklist_says_which_role_scans(team, in_room) -> None:
    client = token_client(team.nurse)
    steps = client.get(case_url(in_room.pk)).json()["checklist"]["steps"]
    identity = next(s for s in steps if s["code"] == "patient_identity_scanned")
    assert identity["scan_role"] == "nurse"
    response = post(client, in_room.pk, "identity-scans/", {"barcode": "RL-6001\r"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["scan"]["matched"] is True and body["scan"]["expected_mrn"] == "RL-6001"
    assert body["attestation"]["step_code"] == "patient_identity_scanned" and body["attestation"]["role"] == "nurse"
    tick = post(client, in_room.pk, "steps/patient_identity_scanned/attest/", {"role": "nurse"})
    assert tick.status_code in (400, 409)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"barcode": "(8018)123"}, "barcode"),
        ({"barcode": "tab\there"}, "barcode"),
        ({}, "barcode"),
        ({"barcode": "RL-6001", "scanned_with": "telepathy"}, "scanned_with"),
    ],
)
def test_bad_scans_are_400_naming_the_field(team, in_room, data, field) -> None:
    response = post(token_client(team.nurse), in_room.pk, "identity-scans/", data)
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert not IdentityScan.objects.exists()


def test_the_tablet_form_scan_and_its_error(team, in_room) -> None:
    client = Client()
    client.force_login(team.nurse)
    page = client.get(reverse("case-detail", args=[in_room.pk])).content.decode()
    assert 'data-testid="wristband-barcode"' in page
    assert "vendor/barcode-detector/ponyfill" in page and "zxing_reader" in page
    version = in_room.__class__.objects.get(pk=in_room.pk).evidence_version
    url = reverse("case-action", args=[in_room.pk, "scan"])
    bad = client.post(url, {"expected_version": version, "barcode": "0107350053850014\x1d10ABC"})
    assert bad.status_code == 400
    assert "not a wristband" in bad.content.decode()
    good = client.post(url, {"expected_version": version, "barcode": "RL-6001"}, follow=True)
    assert good.status_code == 200
    assert "patient identity attested" in good.content.decode()
    assert IdentityScan.objects.get().matched
