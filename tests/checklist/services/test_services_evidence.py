"""Evidence services: notation normalised, field-level errors, consent scans, marking, anatomy,
records that cannot be read together, corrections that supersede and never edit."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from checklist import services
from checklist.models import AnatomyRecord, AuditEvent, Case, Consent, PreopImaging, SiteMarking
from core.errors import ApplicationError, ConflictError
from tests.support.workflow import case_schedule, evidence_record, team_create

pytestmark = pytest.mark.django_db


def _plan(team, case, levels, side="left"):
    return services.plan_revise(actor=team.surgeon, case=case, procedure=case.procedure, levels=levels, side=side)


def _consent(team, case, levels, side="left", **kwargs):
    defaults = {
        "procedure": case.procedure,
        "date_signed": timezone.localdate() - dt.timedelta(days=3),
        "witness": "W. Itness",
    }
    defaults.update(kwargs)
    return services.consent_record(actor=team.nurse, case=case, levels=levels, side=side, **defaults)


def _verdict(case: Case) -> tuple[str, set[str]]:
    case = Case.objects.get(pk=case.pk)
    return case.verdict, {f["code"] for f in case.latest_verdict.findings if f["severity"] != "warning"}


# --- notation -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["L2-L3", "L2-3", "L2/3", "L2/L3", "L2\u20133", "L2\u2014L3", "l2 - l3"])
def test_every_way_of_writing_a_segment_is_stored_in_canonical_form(team, text) -> None:
    case = case_schedule(team, procedure="discectomy")
    assert _plan(team, case, text).levels == "L2-L3"
    assert _consent(team, case, text).levels == "L2-L3"
    imaging = services.imaging_record(
        actor=team.radiographer,
        case=case,
        modality="mri",
        study_date=timezone.localdate(),
        levels=text,
        reviewed_by=team.surgeon,
    )
    assert imaging.levels == "L2-L3"


def test_a_fusion_span_is_stored_as_its_segments(team) -> None:
    case = case_schedule(team, procedure="fusion")
    assert _plan(team, case, "l1-3", side="bilateral").levels == "L1-L2, L2-L3"
    consent = _consent(team, case, "L1-L2, L2/3", side="bilateral")
    assert consent.levels == "L1-L2, L2-L3"
    assert _verdict(case)[1] >= {"MARKING_MISSING"}
    assert "CONSENT_MISMATCH" not in _verdict(case)[1]


@pytest.mark.parametrize(
    ("procedure", "levels", "fragment"),
    [
        ("selective_nerve_root_block", "L7", "L7"),
        ("selective_nerve_root_block", "banana", "banana"),
        ("discectomy", "L2", "L2"),  # a lone vertebra is not a segment
        ("decompression", "L2-L5-S1x", ""),
    ],
)
def test_invalid_levels_are_a_400_naming_the_field(team, procedure, levels, fragment) -> None:
    case = case_schedule(team, procedure=procedure)
    with pytest.raises(ApplicationError) as caught:
        _plan(team, case, levels)
    assert caught.value.status_code == 400
    assert list(caught.value.errors) == ["levels"]
    assert fragment in caught.value.errors["levels"][0]
    assert not AuditEvent.objects.filter(case=case, action="plan.created").exists()


def test_a_level_missing_from_the_recorded_anatomy_names_the_anatomy(team) -> None:
    case = case_schedule(team)
    services.anatomy_record(actor=team.radiographer, case=case, thoracic=12, lumbar=5)
    with pytest.raises(ApplicationError) as caught:
        _plan(team, case, "L6")
    assert "five lumbar" in caught.value.errors["levels"][0] or "5 lumbar" in caught.value.errors["levels"][0]
    services.anatomy_record(actor=team.radiographer, case=case, thoracic=12, lumbar=6)
    assert _plan(team, case, "L6").levels == "L6"


def test_plan_rules(team) -> None:
    case = case_schedule(team)
    with pytest.raises(ApplicationError) as caught:
        services.plan_revise(actor=team.surgeon, case=case, procedure="fusion", levels="L1-L3", side="left")
    assert "procedure" in caught.value.errors
    with pytest.raises(ApplicationError) as caught:
        _plan(team, case, "L2", side="midline")
    assert "side" in caught.value.errors
    with pytest.raises(ValidationError) as django_error:
        _plan(team, case, "L2", side="up")
    assert "side" in django_error.value.message_dict


# --- consent ----------------------------------------------------------------------------------------


def test_a_consent_scan_is_stored_with_its_sha256(team, settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path
    content = b"%PDF-1.4 signed consent for left L2 nerve root block\n"
    scan = SimpleUploadedFile("consent.pdf", content, content_type="application/pdf")
    case = case_schedule(team)
    consent = _consent(team, case, "L2", scan=scan)
    consent.refresh_from_db()
    assert consent.scan_sha256 == hashlib.sha256(content).hexdigest()
    with consent.scan.open("rb") as stored:
        assert hashlib.sha256(stored.read()).hexdigest() == consent.scan_sha256
    event = AuditEvent.objects.get(case=case, action="consent.recorded")
    assert event.after["scan_sha256"] == consent.scan_sha256
    assert event.actor_id == team.nurse.pk


def test_consent_rules(team) -> None:
    case = case_schedule(team)
    with pytest.raises(ApplicationError) as caught:
        _consent(team, case, "L2", date_signed=timezone.localdate() + dt.timedelta(days=2))
    assert "date_signed" in caught.value.errors
    with pytest.raises(ApplicationError) as caught:
        _consent(team, case, "L2", witness="  ")
    assert "witness" in caught.value.errors
    with pytest.raises(ApplicationError) as caught:
        _consent(team, case, "L2", procedure="appendectomy")
    assert "procedure" in caught.value.errors
    assert not Consent.objects.filter(case=case).exists()


def test_a_corrected_consent_supersedes_the_old_one_which_stays(team) -> None:
    case = case_schedule(team)
    first = _consent(team, case, "L2", side="right")
    second = _consent(team, case, "L2", side="left")
    first.refresh_from_db()
    assert first.superseded_at is not None and first.side == "right"
    assert second.superseded_at is None
    event = AuditEvent.objects.filter(case=case, action="consent.recorded").order_by("-seq").first()
    assert event.before["side"] == "right" and event.after["side"] == "left"


# --- marking ----------------------------------------------------------------------------------------


def test_the_site_is_marked_by_a_surgeon_not_by_a_nurse(team) -> None:
    case = case_schedule(team)
    with pytest.raises(ApplicationError) as caught:
        services.marking_record(actor=team.nurse, case=case, region="lumbar", side="left", marked_by=team.nurse)
    assert "marked_by" in caught.value.errors
    with pytest.raises(ApplicationError):
        services.marking_record(actor=team.nurse, case=case, region="lumbar", side="left", marked_by=team.radiographer)
    assert not SiteMarking.objects.filter(case=case).exists()
    marking = services.marking_record(actor=team.nurse, case=case, region="lumbar", side="left", marked_by=team.surgeon)
    assert marking.marked_by == team.surgeon and marking.recorded_by == team.nurse


def test_a_marking_region_that_misses_the_level_stops(team) -> None:
    case = case_schedule(team)
    _plan(team, case, "L2")
    services.marking_record(actor=team.surgeon, case=case, region="cervical", side="left", marked_by=team.surgeon)
    assert "MARKING_MISMATCH" in _verdict(case)[1]


# --- imaging ----------------------------------------------------------------------------------------


def test_imaging_rules(team) -> None:
    case = case_schedule(team)
    with pytest.raises(ApplicationError) as caught:
        services.imaging_record(
            actor=team.radiographer,
            case=case,
            modality="mri",
            study_date=timezone.localdate() + dt.timedelta(days=1),
            levels="L2",
            reviewed_by=team.surgeon,
        )
    assert "study_date" in caught.value.errors
    with pytest.raises(ApplicationError) as caught:
        services.imaging_record(
            actor=team.radiographer,
            case=case,
            modality="mri",
            study_date=timezone.localdate(),
            levels="L9",
            reviewed_by=team.surgeon,
        )
    assert "levels" in caught.value.errors
    assert not PreopImaging.objects.filter(case=case).exists()


# --- anatomy ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"thoracic": 14, "lumbar": 5}, "thoracic"),
        ({"thoracic": 12, "lumbar": 7}, "lumbar"),
        ({"thoracic": 12, "lumbar": 5, "lowest_rib": "T9"}, "lowest_rib"),
        ({"thoracic": 12, "lumbar": 5, "lowest_mobile": "L2"}, "lowest_mobile"),
        ({"thoracic": 12, "lumbar": 5, "source": "guess"}, "source"),
    ],
)
def test_anatomy_errors_are_mapped_to_the_forms_fields(team, kwargs, field) -> None:
    case = case_schedule(team)
    with pytest.raises(ApplicationError) as caught:
        services.anatomy_record(actor=team.radiographer, case=case, **kwargs)
    assert caught.value.status_code == 400
    assert list(caught.value.errors) == [field]
    assert not AnatomyRecord.objects.filter(case=case).exists()


def test_anatomy_defaults_follow_the_counts(team) -> None:
    case = case_schedule(team)
    record = services.anatomy_record(actor=team.radiographer, case=case, thoracic=11, lumbar=6)
    assert (record.lowest_rib, record.lowest_mobile, record.source) == ("T11", "L6", "whole_spine")
    sacralized = services.anatomy_record(actor=team.radiographer, case=case, thoracic=12, lumbar=5, lowest_mobile="L4")
    assert sacralized.lowest_mobile == "L4"
    record.refresh_from_db()
    assert record.superseded_at is not None


def test_records_that_cannot_be_read_together_stop_instead_of_crashing(team) -> None:
    case = case_schedule(team)
    services.anatomy_record(actor=team.radiographer, case=case, thoracic=12, lumbar=6)
    _plan(team, case, "L6")
    assert _verdict(case)[0] == "incomplete"
    # A recount finds five lumbar vertebrae: the plan's L6 no longer exists in this patient.
    services.anatomy_record(actor=team.radiographer, case=case, thoracic=12, lumbar=5)
    verdict, codes = _verdict(case)
    assert verdict == "stop"
    assert "EVIDENCE_INVALID" in codes
    message = next(f["message"] for f in Case.objects.get(pk=case.pk).latest_verdict.findings)
    assert "L6" in message
    # New evidence that agrees resolves it: the plan is rewritten for the recounted anatomy.
    _plan(team, case, "L5")
    assert _verdict(case)[0] == "incomplete"


# --- versions -----------------------------------------------------------------------------------------


def test_every_evidence_write_bumps_the_evidence_version_and_checks_expected_version(team) -> None:
    case = case_schedule(team)
    start = Case.objects.get(pk=case.pk).evidence_version
    evidence_record(team, case)
    case.refresh_from_db()
    assert case.evidence_version == start + 6  # anatomy, plan, signature, consent, marking, imaging
    with pytest.raises(ConflictError) as caught:
        _consent(team, case, "L2", expected_version=start)
    assert caught.value.extra["current"]["evidence_version"] == case.evidence_version
    _consent(team, case, "L2", expected_version=case.evidence_version)


def test_only_a_surgeon_or_radiographer_reads_images(team_for_readers) -> None:
    from core.errors import ApplicationError

    team, case = team_for_readers
    with pytest.raises(ApplicationError) as caught:
        services.imaging_record(actor=team.nurse, case=case.pk, modality="mri", study_date=timezone.localdate(),
                                levels="L2", reviewed_by=team.quality)  # fmt: skip
    assert "reviewed_by" in caught.value.errors
    services.imaging_record(actor=team.nurse, case=case.pk, modality="mri", study_date=timezone.localdate(),
                            levels="L2", reviewed_by=team.radiographer)  # fmt: skip


@pytest.fixture
def team_for_readers():
    from tests.support.workflow import case_schedule

    team = team_create(suffix="r")
    return team, case_schedule(team)
