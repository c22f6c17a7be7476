"""A stop resolved by new evidence is a near miss: one row, with who caught it, when, and how it was
resolved. There is no override."""

from __future__ import annotations

import pytest
from django.utils import timezone

from checklist import audit, services
from checklist.models import AuditEvent, Case, Localization, NearMiss
from tests.support.workflow import case_schedule, case_through_time_out, evidence_record

pytestmark = pytest.mark.django_db


def _fresh(case: Case) -> Case:
    return Case.objects.get(pk=case.pk)


def _consent(team, case, side):
    services.consent_record(
        actor=team.nurse,
        case=case,
        procedure=case.procedure,
        levels="L2",
        side=side,
        date_signed=timezone.localdate(),
        witness="W. Itness",
    )


def _marking(team, case, side, *, actor=None):
    services.marking_record(actor=actor or team.nurse, case=case, region="lumbar", side=side, marked_by=team.surgeon)


def _imaging(team, case, levels):
    services.imaging_record(
        actor=team.radiographer,
        case=case,
        modality="mri",
        study_date=timezone.localdate(),
        levels=levels,
        reviewed_by=team.surgeon,
    )


def _localize(team, case, count, *, reference="sacrum", label="L2"):
    return services.localization_record(
        actor=team.radiographer,
        case=case,
        phase="pre_incision",
        reference=reference,
        count=count,
        label=label,
        marker_in_place=True,
        read_by=team.surgeon,
    )


def _assert_one_near_miss(case, *, kind, codes, caught_by, resolved_by, trigger_words):
    case = _fresh(case)
    assert case.verdict != "stop"
    assert case.open_stop_verdict is None
    near_miss = NearMiss.objects.get(case=case)
    assert near_miss.kind == kind
    assert near_miss.codes == codes
    assert near_miss.caught_by == caught_by
    assert near_miss.resolved_by == resolved_by
    assert near_miss.caught_at == near_miss.stop_verdict.computed_at
    assert near_miss.resolved_at == near_miss.resolving_verdict.computed_at
    assert near_miss.caught_at <= near_miss.resolved_at
    assert near_miss.stop_verdict.verdict == "stop"
    assert near_miss.resolving_verdict.verdict != "stop"
    assert all(f["severity"] == "stop" for f in near_miss.findings)
    assert {f["code"] for f in near_miss.findings} == set(codes)
    assert near_miss.resolution.startswith("Resolved by new evidence")
    assert trigger_words in near_miss.resolution
    event = AuditEvent.objects.get(case=case, action="near_miss.recorded")
    assert event.after == {"kind": kind, "codes": codes, "resolution": near_miss.resolution}
    assert audit.verify().ok
    return near_miss


def test_a_consent_side_mismatch_resolved_is_a_consent_near_miss(team) -> None:
    case = case_schedule(team)
    evidence_record(team, case, consent_side="right")
    assert _fresh(case).verdict == "stop"
    _consent(team, case, "left")
    _assert_one_near_miss(
        case,
        kind="consent",
        codes=["CONSENT_MISMATCH"],
        caught_by=team.nurse,
        resolved_by=team.nurse,
        trigger_words="consent recorded",
    )


def test_a_marking_on_the_wrong_side_resolved_is_a_marking_near_miss(team) -> None:
    case = case_schedule(team)
    evidence_record(team, case)
    _marking(team, case, "right")
    assert _fresh(case).verdict == "stop"
    _marking(team, case, "left", actor=team.surgeon)
    _assert_one_near_miss(
        case,
        kind="marking",
        codes=["MARKING_MISMATCH"],
        caught_by=team.nurse,
        resolved_by=team.surgeon,
        trigger_words="marking recorded",
    )


def test_pre_op_imaging_at_another_level_resolved_is_an_imaging_near_miss(team) -> None:
    case = case_schedule(team)
    evidence_record(team, case)
    _imaging(team, case, "L3")
    assert _fresh(case).verdict == "stop"
    _imaging(team, case, "L2")
    _assert_one_near_miss(
        case,
        kind="imaging",
        codes=["PREOP_IMAGING_MISMATCH"],
        caught_by=team.radiographer,
        resolved_by=team.radiographer,
        trigger_words="imaging recorded",
    )


def test_a_count_that_lands_on_another_level_resolved_by_a_recount_is_a_count_near_miss(team) -> None:
    case = case_schedule(team)
    evidence_record(team, case, lumbar=6)
    case = case_through_time_out(team, case)
    # Six lumbar vertebrae: the fourth vertebra up from the sacrum is L3, not L2.
    wrong = _localize(team, case, 4)
    case = _fresh(case)
    assert case.verdict == "stop"
    assert "COUNT_LABEL_MISMATCH" in {f["code"] for f in case.latest_verdict.findings}
    # The marker is moved up one level and the image read again from the same landmark.
    right = _localize(team, case, 5)
    wrong.refresh_from_db()
    assert wrong.superseded_at is not None
    assert right.superseded_at is None
    assert AuditEvent.objects.filter(case=case, action="localization.superseded", object_id=str(wrong.pk)).exists()
    _assert_one_near_miss(
        case,
        kind="count",
        codes=["COUNT_LABEL_MISMATCH"],
        caught_by=team.radiographer,
        resolved_by=team.radiographer,
        trigger_words="localization recorded",
    )
    # Still incomplete until the second landmark agrees; then the level can pass.
    assert _fresh(case).verdict == "incomplete"
    _localize(team, case, 19, reference="c2")
    assert _fresh(case).verdict == "pass"
    assert Localization.objects.filter(case=case, superseded_at__isnull=True).count() == 2


def test_a_read_after_the_marker_is_removed_does_not_replace_a_good_read(team) -> None:
    case = case_schedule(team)
    evidence_record(team, case)
    case = case_through_time_out(team, case)
    good = _localize(team, case, 4)
    services.localization_record(
        actor=team.radiographer,
        case=case,
        phase="after_exposure",
        reference="sacrum",
        count=3,
        label="L2",
        marker_in_place=False,
        read_by=team.surgeon,
    )
    good.refresh_from_db()
    assert good.superseded_at is None
    assert _fresh(case).verdict == "pass"


def test_a_stop_that_persists_through_several_writes_is_one_near_miss(team) -> None:
    case = case_schedule(team)
    evidence_record(team, case, consent_side="right")
    _marking(team, case, "right")  # a second disagreement while the first is open
    _imaging(team, case, "L2")  # unrelated write: still stopped
    assert _fresh(case).verdict == "stop"
    assert not NearMiss.objects.filter(case=case).exists()
    _consent(team, case, "left")
    assert _fresh(case).verdict == "stop"  # the marking still disagrees
    _marking(team, case, "left")
    case = _fresh(case)
    assert case.verdict == "pass"
    near_miss = NearMiss.objects.get(case=case)
    # Everything that disagreed during the stop is in the record; the kind follows a fixed priority.
    assert near_miss.codes == ["CONSENT_MISMATCH", "MARKING_MISMATCH"]
    assert near_miss.kind == "consent"


def test_a_second_stop_after_a_resolution_is_a_second_near_miss(team) -> None:
    case = case_schedule(team)
    evidence_record(team, case, consent_side="right")
    _consent(team, case, "left")
    _imaging(team, case, "L1")
    _imaging(team, case, "L2")
    assert sorted(NearMiss.objects.filter(case=case).values_list("kind", flat=True)) == ["consent", "imaging"]


def test_a_stop_that_is_never_resolved_is_not_a_near_miss(team) -> None:
    case = case_schedule(team)
    evidence_record(team, case, consent_side="right")
    assert _fresh(case).open_stop_verdict is not None
    assert not NearMiss.objects.filter(case=case).exists()
