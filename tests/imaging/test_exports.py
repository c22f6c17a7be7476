"""The exports name the image a count was made on: the FHIR Bundle carries an ImagingStudy with
the study, series and instance UIDs, referenced from the case's Procedure; the PDF record names
the SOP Instance UID and the acquisition time."""

from __future__ import annotations

import io

import pytest
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from pypdf import PdfReader

from quality.exports import case_record_pdf
from quality.fhir import LOCALIZATION_IMAGE, fhir_bundle
from tests.imaging.test_reads import post_read, ready_case, receive, taps_from_sacrum_to
from tests.imaging.test_second_read import client_for
from tests.support.workflow import Team

pytestmark = pytest.mark.django_db


@pytest.fixture
def store(settings, tmp_path):
    from imaging.store import LocalImageStore

    settings.IMAGING_STORAGE_DIR = tmp_path / "images"
    return LocalImageStore(settings.IMAGING_STORAGE_DIR)


def test_the_fhir_bundle_has_the_imaging_study_the_procedure_points_to(team: Team, store) -> None:
    case = ready_case(team)
    image, layout = receive(store, case, marker="L2")
    assert post_read(client_for(team.radiographer), image, taps_from_sacrum_to(layout, "L2")).status_code == 201
    bundle = fhir_bundle(case)
    Bundle.model_validate(bundle)
    studies = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "ImagingStudy"]
    assert len(studies) == 1
    study = studies[0]["resource"]
    assert study["identifier"][0]["value"] == f"urn:oid:{image.study_instance_uid}"
    series = study["series"][0]
    assert series["uid"] == image.series_instance_uid and series["instance"][0]["uid"] == image.sop_instance_uid
    assert series["modality"]["code"] == image.modality and study["numberOfInstances"] == 1
    procedure = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Procedure")
    assert study["procedureReference"]["reference"] == procedure["fullUrl"]
    links = [x for x in procedure["resource"]["extension"] if x["url"] == LOCALIZATION_IMAGE]
    assert [x["valueReference"]["reference"] for x in links] == [studies[0]["fullUrl"]]
    assert image.sop_instance_uid in procedure["resource"]["note"][0]["text"]


def test_a_case_without_level_images_has_no_imaging_study(team: Team) -> None:
    case = ready_case(team)
    bundle = fhir_bundle(case)
    Bundle.model_validate(bundle)
    assert not [e for e in bundle["entry"] if e["resource"]["resourceType"] == "ImagingStudy"]


def test_the_pdf_record_names_the_image_and_its_acquisition_time(team: Team, store) -> None:
    case = ready_case(team)
    image, layout = receive(store, case, marker="L2")
    assert post_read(client_for(team.radiographer), image, taps_from_sacrum_to(layout, "L2")).status_code == 201
    reader = PdfReader(io.BytesIO(case_record_pdf(case)))
    assert len(reader.pages) == 1
    text = "".join(reader.pages[0].extract_text().split())
    assert image.sop_instance_uid in text
    assert timezone.localtime(image.acquired_at).strftime("%H:%M") in text
