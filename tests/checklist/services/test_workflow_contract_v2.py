"""The case workflow under contract v2: regions offered, the side on the image, roots by foramen,
anatomy that changes after a count, and the action sentence on the tablet."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from checklist import forms, services
from checklist.models import AuditEvent, Case, Localization, MarkingRegion
from levelverify.check import REGIONS
from quality.selectors import CaseFilter, compliance
from tests.support.workflow import case_schedule, case_through_time_out, evidence_record, team_create

pytestmark = pytest.mark.django_db


def _image(team, case, *, count: int = 4, label: str = "L2", side: str = "", reference: str = "sacrum"):
    return services.localization_record(
        actor=team.nurse,
        case=case.pk,
        phase="pre_incision",
        reference=reference,
        count=count,
        label=label,
        marker_in_place=True,
        read_by=team.radiographer,
        side=side,
    )


def _verdict(case: Case) -> tuple[str, set[str]]:
    fresh = Case.objects.select_related("latest_verdict").get(pk=case.pk)
    findings = fresh.latest_verdict.findings
    return fresh.verdict, {f["code"] for f in findings if f["severity"] == "stop"}


def test_the_marking_form_offers_exactly_the_contract_v2_regions() -> None:
    offered = [value for value, _ in forms.MarkingForm().fields["region"].choices]
    assert offered == list(REGIONS) == [choice.value for choice in MarkingRegion]
    assert "cervicothoracic" in offered


def test_a_level_image_on_the_other_side_is_a_stop() -> None:
    team = team_create()
    case = case_schedule(team)
    evidence_record(team, case)
    case = case_through_time_out(team, case)
    image = _image(team, case, side="right")
    assert image.side == "right"
    assert _verdict(case) == ("stop", {"LOCALIZATION_SIDE_MISMATCH"})
    # Re-imaging with the marker on the planned side resolves it (the read replaces the last one).
    _image(team, case, side="left")
    assert _verdict(case)[1] == set()


def test_a_root_image_may_be_labelled_by_its_foramen() -> None:
    team = team_create()
    case = case_schedule(team, procedure="transforaminal_epidural_injection")
    evidence_record(team, case, levels="L4-L5")
    case = case_through_time_out(team, case)
    image = _image(team, case, count=2, label="L4-L5", side="left")
    assert image.label == "L4"
    assert _verdict(case)[1] == set()


def test_a_new_anatomy_after_a_count_supersedes_every_count_and_flags_the_case() -> None:
    team = team_create()
    case = case_schedule(team)
    evidence_record(team, case)
    case = case_through_time_out(team, case)
    _image(team, case, count=4, label="L2", side="left")
    _image(team, case, count=2, label="L2", side="left", reference="last_rib")
    assert Localization.objects.filter(case=case, superseded_at__isnull=True).count() == 2

    # Same anatomy recorded again: nothing changed, nothing is set aside.
    services.anatomy_record(actor=team.radiographer, case=case, thoracic=12, lumbar=5)
    assert Localization.objects.filter(case=case, superseded_at__isnull=True).count() == 2
    assert Case.objects.get(pk=case.pk).anatomy_changed_after_count_at is None

    # Six lumbar vertebrae: the counts read against five must be read again.
    services.anatomy_record(actor=team.radiographer, case=case, thoracic=12, lumbar=6)
    assert Localization.objects.filter(case=case, superseded_at__isnull=True).count() == 0
    fresh = Case.objects.get(pk=case.pk)
    assert fresh.anatomy_changed_after_count_at is not None
    verdict, _ = _verdict(case)
    assert verdict != "pass"
    actions = list(AuditEvent.objects.filter(case=case).values_list("action", flat=True))
    assert actions.count("localization.superseded") >= 2
    assert "anatomy.changed_after_count" in actions
    flagged = AuditEvent.objects.get(case=case, action="anatomy.changed_after_count")
    assert len(flagged.before["counts_in_force"]) == 2

    # The quality officers see it: a figure on the dashboard and a flag on the case's trail.
    assert compliance(CaseFilter()).anatomy_changed_after_count == 1
    from django.test import Client

    client = Client()
    client.force_login(team.quality)
    page = client.get(reverse("quality-case", args=[case.pk]))
    assert page.status_code == 200
    assert b"Anatomy changed after a count" in page.content
    day = timezone.localtime(fresh.scheduled_start).date().isoformat()
    dashboard = client.get(reverse("quality-dashboard"), {"date_from": day, "date_to": day})
    assert b'data-testid="anatomy-changed">1 case' in dashboard.content


def test_a_miscount_cannot_be_made_to_agree_by_editing_the_anatomy() -> None:
    """Count 5 from the sacrum labelled L2 disagrees with five lumbar vertebrae. Recording six lumbar
    vertebrae would make it agree, but it sets the count aside: it must be read again."""
    team = team_create()
    case = case_schedule(team)
    evidence_record(team, case)
    case = case_through_time_out(team, case)
    _image(team, case, count=5, label="L2", side="left")
    assert _verdict(case)[1] == {"COUNT_LABEL_MISMATCH"}
    services.anatomy_record(actor=team.radiographer, case=case, thoracic=12, lumbar=6)
    verdict, _ = _verdict(case)
    assert verdict == "incomplete"  # no count in force: LOCALIZATION_MISSING, never a pass
    assert Case.objects.get(pk=case.pk).anatomy_changed_after_count_at is not None


def test_the_tablet_requires_the_side_of_the_image_for_a_unilateral_plan(client) -> None:
    team = team_create()
    case = case_schedule(team)
    evidence_record(team, case)
    case = case_through_time_out(team, case)
    client.force_login(team.nurse)
    data = {
        "localization-expected_version": case.evidence_version,
        "localization-phase": "pre_incision",
        "localization-reference": "sacrum",
        "localization-count": "4",
        "localization-label": "L2",
        "localization-marker_in_place": "yes",
        "localization-read_by": team.radiographer.pk,
    }
    url = reverse("case-action", args=[case.pk, "localization"])
    response = client.post(url, data)
    assert response.status_code == 400
    assert b"say which side the marker is on" in response.content
    response = client.post(url, {**data, "localization-side": forms.SIDE_NOT_SHOWN})
    assert response.status_code in (200, 302, 303)
    image = Localization.objects.get(case=case)
    assert image.side == ""


def test_the_tablet_shows_what_to_do_under_each_finding(client) -> None:
    team = team_create()
    case = case_schedule(team)
    evidence_record(team, case, consent_side="right")
    client.force_login(team.nurse)
    page = client.get(reverse("case-detail", args=[case.pk]))
    assert page.status_code == 200
    assert b"What to do:" in page.content
    assert b"Read the signed consent form again" in page.content


def test_a_consent_for_another_procedure_is_recorded_as_written_and_stops() -> None:
    team = team_create()
    case = case_schedule(team, procedure="discectomy")
    evidence_record(team, case, levels="L4-L5")
    consent = services.consent_record(
        actor=team.nurse,
        case=case,
        procedure="fusion",
        levels="L4",  # no segment and no fusion level: still what the paper says
        side="left",
        date_signed=timezone.localdate(),
        witness="W. Itness",
    )
    assert consent.levels == "L4"
    verdict, stops = _verdict(case)
    assert verdict == "stop"
    assert stops == {"CONSENT_MISMATCH"}
