"""Quality officers read everything and change nothing clinical; the OR team cannot open the
quality workspace."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from checklist import services
from checklist.models import AuditEvent, Case, Localization, NearMiss
from checklist.services.audit_verification import audit_verification_start
from checklist.services.bulk import phase_attest_mine
from core.errors import ForbiddenError
from tests.support.factories import TEST_PASSWORD
from tests.support.quality_workflow import RANGE, dataset_build

pytestmark = pytest.mark.django_db


@pytest.fixture
def data():
    return dataset_build()


def _pages(data) -> list[str]:
    run, _ = audit_verification_start(actor=data.one.quality, enqueue=lambda run_id: None)
    query = "?" + "&".join(f"{k}={v}" for k, v in RANGE.items())
    return [
        reverse("quality-dashboard"),
        reverse("quality-dashboard") + query,
        reverse("quality-audit"),
        reverse("quality-audit") + f"?patient={data.a.patient_id}",
        reverse("quality-case", args=[data.a.pk]),
        reverse("quality-case-pdf", args=[data.a.pk]),
        reverse("quality-integrity"),
        reverse("quality-run-status", args=[run.pk]),
        reverse("quality-near-misses"),
        reverse("quality-near-misses") + query + "&hide_names=1",
        reverse("quality-exports"),
        *[
            reverse("quality-export-csv", args=[kind]) + query
            for kind in ("cases", "steps", "near-misses", "audit-events")
        ],
        f"/api/v1/cases/{data.a.pk}/fhir/",
    ]


def test_a_quality_officer_opens_every_page_and_export(client, data) -> None:
    client.force_login(data.one.quality)
    for url in _pages(data):
        response = client.get(url)
        assert response.status_code == 200, url


def test_an_admin_reads_the_workspace_too(client, data) -> None:
    client.force_login(data.one.admin)
    for url in _pages(data):
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize("role", ["nurse", "surgeon", "anesthesia", "radiographer"])
def test_the_or_team_gets_403_on_every_quality_page(client, data, role) -> None:
    urls = _pages(data)
    client.force_login(getattr(data.one, role))
    for url in urls:
        assert client.get(url).status_code == 403, url
    assert client.post(reverse("quality-verify")).status_code == 403
    miss = NearMiss.objects.first()
    note = client.post(reverse("quality-near-miss-note", args=[miss.pk]), {"learning_note": "x"})
    assert note.status_code == 403


def test_anonymous_users_are_sent_to_the_login(client, data) -> None:
    response = client.get(reverse("quality-dashboard"))
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert client.get(f"/api/v1/cases/{data.a.pk}/fhir/").status_code == 401


# --- nothing clinical --------------------------------------------------------------------------


def _clinical_calls(data) -> dict[str, Callable[[Any], Any]]:
    """Every clinical service, called as ``actor`` on an open case (B: time-out complete)."""
    case, team = data.b, data.one
    loc = Localization.objects.filter(case=data.c).first()
    today = timezone.localdate()
    return {
        "case_schedule": lambda actor: services.case_schedule(
            actor=actor,
            mrn="QO-1",
            family_name="Q",
            given_name="O",
            date_of_birth=dt.date(1970, 1, 1),
            room=team.room,
            scheduled_start=timezone.now(),
            surgeon=team.surgeon,
            procedure=case.procedure,
        ),
        "case_patient_in_room": lambda actor: services.case_patient_in_room(actor=actor, case=data.e),
        "plan_revise": lambda actor: services.plan_revise(
            actor=actor, case=case, procedure=case.procedure, levels="L3", side="left"
        ),
        "plan_sign": lambda actor: services.plan_sign(
            actor=actor, case=case, plan_number=1, password=TEST_PASSWORD, username=actor.username
        ),
        "consent_record": lambda actor: services.consent_record(
            actor=actor, case=case, procedure=case.procedure, levels="L3", side="left", date_signed=today, witness="W"
        ),
        "marking_record": lambda actor: services.marking_record(
            actor=actor, case=case, region="lumbar", side="right", marked_by=team.surgeon
        ),
        "imaging_record": lambda actor: services.imaging_record(
            actor=actor, case=case, modality="mri", study_date=today, levels="L3", reviewed_by=team.surgeon
        ),
        "anatomy_record": lambda actor: services.anatomy_record(actor=actor, case=case, thoracic=12, lumbar=6),
        "localization_record": lambda actor: services.localization_record(
            actor=actor,
            case=case,
            phase="pre_incision",
            reference="sacrum",
            count=4,
            label="L2",
            marker_in_place=True,
            read_by=team.surgeon,
        ),
        "localization_mark_durable": lambda actor: services.localization_mark_durable(
            actor=actor, case=data.c, localization_id=loc.pk
        ),
        "localization_confirm": lambda actor: services.localization_confirm(
            actor=actor, case=case, password=TEST_PASSWORD, username=actor.username
        ),
        "step_attest": lambda actor: services.step_attest(actor=actor, case=data.f, step_code="consent_signed"),
        "phase_attest_mine": lambda actor: phase_attest_mine(
            actor=actor, case=data.f.pk, phase="sign_in", role="nurse"
        ),
        "time_out_complete": lambda actor: services.time_out_complete(actor=actor, case=data.f),
        "treated_levels_record": lambda actor: services.treated_levels_record(actor=actor, case=case, levels="L2"),
        "sign_out_complete": lambda actor: services.sign_out_complete(actor=actor, case=case.pk),
    }


def _snapshot() -> tuple[int, list[tuple[int, int, int]]]:
    return AuditEvent.objects.count(), list(
        Case.objects.order_by("pk").values_list("pk", "version", "evidence_version")
    )


@pytest.mark.parametrize("who", ["quality", "admin"])
def test_quality_officers_and_admins_cannot_call_any_clinical_service(data, who) -> None:
    actor = getattr(data.one, who)
    before = _snapshot()
    for name, call in _clinical_calls(data).items():
        if who == "admin" and name == "case_schedule":
            continue  # admins schedule cases: not a clinical judgement
        with pytest.raises(ForbiddenError):
            call(actor)
        assert _snapshot() == before, name


def _post_data(data, case: Case, action: str) -> dict[str, Any]:
    ev = case.evidence_version
    surgeon, today = data.one.surgeon.pk, timezone.localdate().isoformat()
    fields: dict[str, dict[str, Any]] = {
        "plan": {"levels": "L3", "side": "left"},
        "sign": {"password": TEST_PASSWORD},
        "confirm": {"password": TEST_PASSWORD},
        "consent": {"procedure": case.procedure, "levels": "L3", "side": "left", "date_signed": today, "witness": "W"},
        "marking": {"region": "lumbar", "side": "right", "marked_by": surgeon},
        "imaging": {"modality": "mri", "study_date": today, "levels": "L3", "reviewed_by": surgeon},
        "anatomy": {"thoracic": 12, "lumbar": 6, "source": "whole_spine"},
        "localization": {"phase": "pre_incision", "reference": "sacrum", "count": 4, "label": "L2",
                         "marker_in_place": "yes", "read_by": surgeon},
        "treated": {"levels": "L2"},
        "adverse": {"statement": "Treated another level.", "password": TEST_PASSWORD},
    }  # fmt: skip
    if action in fields:  # prefixed forms
        return {
            **{f"{action}-{k}": v for k, v in fields[action].items()},
            f"{action}-expected_version": ev,
            "plan_number": 1,
        }
    extra = {
        "attest": {"step_code": "consent_signed", "role": "nurse"},
        "attest-phase": {"phase": "sign_in", "role": "nurse"},
        "durable-mark": {"localization_id": 1},
    }
    return {"expected_version": ev, **extra.get(action, {})}


ACTIONS = [
    "plan", "sign", "confirm", "consent", "marking", "imaging", "anatomy", "localization", "treated", "attest",
    "attest-phase", "in-room", "time-out", "durable-mark", "sign-out", "adverse",
]  # fmt: skip


@pytest.mark.parametrize("action", ACTIONS)
def test_the_tablet_refuses_every_clinical_action_from_a_quality_officer(client, data, action) -> None:
    client.force_login(data.one.quality)
    case = data.f if action == "attest-phase" else data.b  # F's sign-in has steps waiting for a nurse
    before = _snapshot()
    response = client.post(reverse("case-action", args=[case.pk, action]), _post_data(data, case, action))
    assert response.status_code in (403, 404), (response.status_code, response.content[:400])
    assert _snapshot() == before


def test_the_case_page_offers_a_quality_officer_no_clinical_control(client, data) -> None:
    client.force_login(data.one.quality)
    html = client.get(reverse("case-detail", args=[data.b.pk])).content.decode()
    assert "/do/" not in html
