"""Every API operation x every kind of user, against the role x action matrix and the scope rules.

The expected answer of each cell is derived from ``checklist.access.policies.MATRIX`` and the scope rules
below, never from the implementation: a case outside the user's scope is 404 (it does not exist for
them), an action outside the role's row is 403, anything else succeeds. Each case is brought to
the state where the action would succeed, so a refusal can only come from the permission check.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from checklist import api_urls, services
from checklist.access import roles
from checklist.access.policies import MATRIX
from checklist.models import AuditEvent, Case
from tests.support.factories import TEST_PASSWORD, UserFactory
from tests.support.workflow import (
    Team,
    case_schedule,
    case_through_time_out,
    evidence_record,
    phase_attest,
    team_create,
)

pytestmark = pytest.mark.django_db

API = "/api/v1"
_mrn = count(500000)

# --- who: each persona's role and relation to the case -----------------------------------------------


@dataclass(frozen=True)
class Persona:
    role: str
    relations: frozenset[str]  # how this user is tied to the case under test


PERSONAS: dict[str, Persona] = {
    "nurse_in_room": Persona(roles.NURSE, frozenset({"room_staff"})),
    "nurse_other_room": Persona(roles.NURSE, frozenset()),
    "surgeon_of_case": Persona(roles.SURGEON, frozenset({"surgeon"})),
    "other_surgeon": Persona(roles.SURGEON, frozenset()),
    "co_surgeon": Persona(roles.SURGEON, frozenset({"co_surgeon"})),
    "anesthesia": Persona(roles.ANESTHESIA, frozenset({"room_staff", "assigned_anesthesia"})),
    "radiographer": Persona(roles.RADIOGRAPHER, frozenset({"room_staff"})),
    "quality_officer": Persona(roles.QUALITY_OFFICER, frozenset()),
    "admin": Persona(roles.ADMIN, frozenset()),
}

# The scope rules (README, checklist.access.policies): which ties to a case bring it into a role's scope.
SCOPE: dict[str, frozenset[str] | None] = {  # None: every case
    roles.NURSE: frozenset({"room_staff"}),
    roles.RADIOGRAPHER: frozenset({"room_staff"}),
    roles.ANESTHESIA: frozenset({"room_staff", "assigned_anesthesia"}),
    roles.SURGEON: frozenset({"surgeon", "co_surgeon"}),
    roles.QUALITY_OFFICER: None,
    roles.ADMIN: None,
}


def in_scope(persona: Persona) -> bool:
    rule = SCOPE[persona.role]
    return rule is None or bool(rule & persona.relations)


# --- what: every operation, the state it needs, and its body -------------------------------------------


@dataclass
class World:
    team: Team
    users: dict[str, Any]
    case: Case
    ids: dict[str, Any]


@dataclass(frozen=True)
class Endpoint:
    route: str  # the URL name in checklist.api_urls
    action: str  # the MATRIX row
    method: str
    path: str  # formatted with the world's ids
    stage: str
    body: Callable[[World, str], dict[str, Any]] | None = None
    ok: int = 200
    case_scoped: bool = True


def _signing(world: World, persona: str) -> dict[str, Any]:
    return {"username": world.users[persona].username, "password": TEST_PASSWORD}


TIME_OUT_STEP_BY_ROLE = {
    roles.NURSE: "sterility_confirmed",
    roles.ANESTHESIA: "critical_events_anesthesia",
    roles.SURGEON: "critical_events_surgeon",
    roles.RADIOGRAPHER: "variant_anatomy_discussed",  # the case under test has six lumbar vertebrae
}


def _today() -> str:
    return timezone.localdate().isoformat()


ENDPOINTS: list[Endpoint] = [
    Endpoint("api-cases", "case.view", "get", "cases/", "scheduled", case_scoped=False),
    Endpoint(
        "api-cases",
        "case.schedule",
        "post",
        "cases/",
        "scheduled",
        lambda w, p: {
            "mrn": f"MRN{next(_mrn)}",
            "family_name": "Roe",
            "given_name": "Ann",
            "date_of_birth": "1950-01-01",
            "room": "OR 2" if p == "nurse_other_room" else "OR 1",
            "scheduled_start": (timezone.now() + dt.timedelta(days=1)).isoformat(),
            "surgeon": w.team.surgeon.username,
            "procedure": "selective_nerve_root_block",
        },
        ok=201,
        case_scoped=False,
    ),
    Endpoint("api-near-misses", "near_miss.view", "get", "near-misses/", "scheduled", case_scoped=False),
    Endpoint("api-case", "case.view", "get", "cases/{case}/", "evidence"),
    Endpoint("api-case-status", "case.view", "get", "cases/{case}/status", "scheduled"),
    Endpoint("api-case-signatures", "case.view", "get", "cases/{case}/signatures/", "evidence"),
    Endpoint("api-case-level-check", "case.view", "get", "cases/{case}/level-check/", "evidence"),
    Endpoint("api-case-audit", "audit.view", "get", "cases/{case}/audit/", "evidence"),
    Endpoint("api-case-near-misses", "near_miss.view", "get", "cases/{case}/near-misses/", "evidence"),
    Endpoint("api-case-in-room", "case.patient_in_room", "post", "cases/{case}/in-room/", "evidence", lambda w, p: {}),
    Endpoint(
        "api-case-plans",
        "plan.revise",
        "post",
        "cases/{case}/plans/",
        "scheduled",
        lambda w, p: {"procedure": w.case.procedure, "levels": "L2", "side": "left"},
        ok=201,
    ),
    Endpoint("api-case-plan-sign", "plan.sign", "post", "cases/{case}/plans/1/sign/", "unsigned", _signing, ok=201),
    Endpoint(
        "api-case-consent",
        "consent.record",
        "post",
        "cases/{case}/consent/",
        "scheduled",
        lambda w, p: {
            "procedure": w.case.procedure,
            "levels": "L2",
            "side": "left",
            "date_signed": _today(),
            "witness": "W. Itness",
        },
        ok=201,
    ),
    Endpoint(
        "api-case-marking",
        "marking.record",
        "post",
        "cases/{case}/marking/",
        "scheduled",
        lambda w, p: {"region": "lumbar", "side": "left", "marked_by": w.team.surgeon.username},
        ok=201,
    ),
    Endpoint(
        "api-case-imaging",
        "imaging.record",
        "post",
        "cases/{case}/imaging/",
        "scheduled",
        lambda w, p: {"modality": "ct", "study_date": _today(), "levels": "L2", "reviewed_by": w.team.surgeon.username},
        ok=201,
    ),
    Endpoint(
        "api-case-anatomy",
        "anatomy.record",
        "post",
        "cases/{case}/anatomy/",
        "scheduled",
        lambda w, p: {"thoracic": 12, "lumbar": 5},
        ok=201,
    ),
    Endpoint(
        "api-case-localizations",
        "localization.record",
        "post",
        "cases/{case}/localizations/",
        "time_out_done",
        lambda w, p: {
            "phase": "pre_incision",
            "reference": "sacrum",
            "count": 4,
            "label": "L2",
            "marker_in_place": True,
            "read_by": w.team.surgeon.username,
        },
        ok=201,
    ),
    Endpoint(
        "api-case-durable-mark",
        "localization.mark_durable",
        "post",
        "cases/{case}/localizations/{localization}/durable-mark/",
        "localized",
        lambda w, p: {},
    ),
    Endpoint(
        "api-case-localization-confirm",
        "localization.confirm",
        "post",
        "cases/{case}/localization/confirm/",
        "marked",
        _signing,
        ok=201,
    ),
    Endpoint(
        "api-case-step-attest",
        "step.attest",
        "post",
        "cases/{case}/steps/{step}/attest/",
        "signed_in",
        lambda w, p: {},
        201,
    ),
    Endpoint(
        "api-case-identity-scan",
        "identity.scan",
        "post",
        "cases/{case}/identity-scans/",
        "signed_in",
        lambda w, p: {"barcode": w.case.patient.mrn},
        201,
    ),
    Endpoint(
        "api-case-downtime-back-enter",
        "downtime.back_enter",
        "post",
        "cases/{case}/downtime-entries/",
        "signed_in",
        lambda w, p: {
            "entries": [
                {
                    "step": TIME_OUT_STEP_BY_ROLE[roles.NURSE],
                    "role": roles.NURSE,
                    "attested_by": w.team.nurse.username,
                    "paper_time": timezone.now().isoformat(),
                }
            ]
        },
        201,
    ),
    Endpoint(
        "api-case-time-out-complete",
        "time_out.complete",
        "post",
        "cases/{case}/time-out/complete/",
        "time_out_attested",
        lambda w, p: {},
    ),
    Endpoint(
        "api-case-treated-levels",
        "treated_levels.record",
        "post",
        "cases/{case}/treated-levels/",
        "time_out_done",
        lambda w, p: {"levels": "L2"},
    ),
    Endpoint(
        "api-case-sign-out-complete",
        "sign_out.complete",
        "post",
        "cases/{case}/sign-out/complete/",
        "sign_out_attested",
        lambda w, p: {},
    ),
]
WRITES = [e for e in ENDPOINTS if e.method == "post" and e.case_scoped]


def expected_status(endpoint: Endpoint, persona_name: str) -> int:
    persona = PERSONAS[persona_name]
    if endpoint.case_scoped and not in_scope(persona):
        return 404
    if persona.role not in MATRIX[endpoint.action]:
        return 403
    return endpoint.ok


# --- building the world for one cell ---------------------------------------------------------------------


def _stage(team: Team, case: Case, stage: str) -> dict[str, Any]:
    ids: dict[str, Any] = {}
    if stage == "scheduled":
        return ids
    if stage == "unsigned":
        evidence_record(team, case, sign=False)
        return ids
    evidence_record(team, case, lumbar=6 if stage == "signed_in" else 5)
    if stage == "evidence":
        return ids
    if stage == "signed_in":
        services.case_patient_in_room(actor=team.nurse, case=case.pk)
        phase_attest(team, case, "sign_in")
        return ids
    if stage == "time_out_attested":
        services.case_patient_in_room(actor=team.nurse, case=case.pk)
        phase_attest(team, case, "sign_in")
        phase_attest(team, case, "time_out")
        return ids
    case_through_time_out(team, case)
    if stage == "time_out_done":
        return ids
    localization = services.localization_record(
        actor=team.radiographer,
        case=case.pk,
        phase="pre_incision",
        reference="sacrum",
        count=4,
        label="L2",
        marker_in_place=True,
        read_by=team.surgeon,
    )
    ids["localization"] = localization.pk
    if stage == "localized":
        return ids
    services.localization_mark_durable(actor=team.nurse, case=case.pk, localization_id=localization.pk)
    if stage == "marked":
        return ids
    assert stage == "sign_out_attested", stage
    phase_attest(team, case, "localization")
    services.localization_confirm(actor=team.surgeon, case=case.pk, password=TEST_PASSWORD, username="surgeon")
    services.treated_levels_record(actor=team.nurse, case=case.pk, levels="L2")
    phase_attest(team, case, "sign_out")
    return ids


def world_build(stage: str) -> World:
    team = team_create()
    other = team_create("OR 2", suffix="2")
    co_surgeon = UserFactory(username="cosurgeon", roles=[roles.SURGEON], full_name="Dr Co")
    users = {
        "nurse_in_room": team.nurse,
        "nurse_other_room": other.nurse,
        "surgeon_of_case": team.surgeon,
        "other_surgeon": other.surgeon,
        "co_surgeon": co_surgeon,
        "anesthesia": team.anesthesia,
        "radiographer": team.radiographer,
        "quality_officer": team.quality,
        "admin": team.admin,
    }
    case = case_schedule(team, co_surgeons=[co_surgeon])
    ids = _stage(team, case, stage)
    return World(team, users, Case.objects.get(pk=case.pk), ids)


def request(world: World, endpoint: Endpoint, persona: str) -> Any:
    client = APIClient()
    client.force_authenticate(world.users[persona])
    step = TIME_OUT_STEP_BY_ROLE.get(PERSONAS[persona].role, "critical_events_surgeon")
    ids = {"localization": 0, **world.ids}  # no image yet: the refusal must come before the lookup
    url = f"{API}/" + endpoint.path.format(case=world.case.pk, step=step, **ids)
    if endpoint.method == "get":
        return client.get(url)
    body = {"expected_version": Case.objects.get(pk=world.case.pk).evidence_version}
    body.update(endpoint.body(world, persona) if endpoint.body else {})
    return client.post(url, body, format="json")


# --- the matrix, cell by cell ---------------------------------------------------------------------------


@pytest.mark.parametrize("persona", list(PERSONAS))
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method}:{e.route}:{e.action}")
def test_every_operation_for_every_kind_of_user(endpoint: Endpoint, persona: str) -> None:
    world = world_build(endpoint.stage)
    before = (Case.objects.get(pk=world.case.pk).version, AuditEvent.objects.count())
    response = request(world, endpoint, persona)
    expected = expected_status(endpoint, persona)
    assert response.status_code == expected, (endpoint.action, persona, response.content[:400])
    if expected in (403, 404):
        assert set(response.json()) == {"detail", "errors"}
        # A refusal changes nothing and records nothing.
        assert (Case.objects.get(pk=world.case.pk).version, AuditEvent.objects.count()) == before
    elif endpoint.method == "post" and endpoint.case_scoped:
        assert response.json()["case"]["version"] > before[0]


def test_the_table_covers_every_api_route_and_every_matrix_action() -> None:
    assert {pattern.name for pattern in api_urls.urlpatterns} == {e.route for e in ENDPOINTS}
    assert set(MATRIX) == {e.action for e in ENDPOINTS}


def test_scope_and_matrix_give_the_expected_shape() -> None:
    """Sanity of the derived table against the stated rules."""
    for endpoint in WRITES:
        assert expected_status(endpoint, "quality_officer") == 403
        assert expected_status(endpoint, "nurse_other_room") == 404
        assert expected_status(endpoint, "other_surgeon") == 404
    for action in ("step.attest", "plan.sign", "localization.confirm"):
        assert roles.ADMIN not in MATRIX[action]


# --- the headline rules, stated directly ----------------------------------------------------------------


def test_a_quality_officer_reads_everything_and_changes_nothing() -> None:
    world = world_build("evidence")
    for endpoint in ENDPOINTS:
        if endpoint.method == "get":
            assert request(world, endpoint, "quality_officer").status_code == 200, endpoint.route
    before = AuditEvent.objects.count()
    for endpoint in [*WRITES, *(e for e in ENDPOINTS if e.action == "case.schedule")]:
        assert request(world, endpoint, "quality_officer").status_code == 403, endpoint.route
    assert AuditEvent.objects.count() == before


def test_an_admin_schedules_but_never_attests_or_signs() -> None:
    world = world_build("signed_in")
    for endpoint in WRITES:
        if endpoint.action in ("step.attest", "plan.sign", "localization.confirm"):
            assert request(world, endpoint, "admin").status_code == 403, endpoint.route
    for code in TIME_OUT_STEP_BY_ROLE.values():
        client = APIClient()
        client.force_authenticate(world.team.admin)
        url = f"{API}/cases/{world.case.pk}/steps/{code}/attest/"
        response = client.post(url, {"expected_version": world.case.evidence_version, "role": "nurse"}, format="json")
        assert response.status_code == 403


def test_nurses_list_only_the_cases_of_their_rooms_and_surgeons_only_their_own() -> None:
    world = world_build("scheduled")
    other_case = case_schedule(team_create("OR 2", suffix="2"))
    seen: dict[str, set[int]] = {}
    for persona, user in world.users.items():
        client = APIClient()
        client.force_authenticate(user)
        seen[persona] = {row["id"] for row in client.get(f"{API}/cases/").json()["results"]}
    both = {world.case.pk, other_case.pk}
    assert seen["nurse_in_room"] == {world.case.pk}
    assert seen["nurse_other_room"] == {other_case.pk}
    assert seen["surgeon_of_case"] == {world.case.pk}
    assert seen["other_surgeon"] == {other_case.pk}
    assert seen["co_surgeon"] == {world.case.pk}
    assert seen["quality_officer"] == both
    assert seen["admin"] == both


def test_a_surgeon_signs_only_their_own_cases_plan() -> None:
    sign = next(e for e in ENDPOINTS if e.action == "plan.sign")
    world = world_build("unsigned")
    assert request(world, sign, "other_surgeon").status_code == 404
    assert request(world, sign, "nurse_in_room").status_code == 403
    assert request(world, sign, "surgeon_of_case").status_code == 201


# --- docs/api.md shows this same matrix ----------------------------------------------------------------


def test_the_documented_matrix_is_the_code_matrix() -> None:
    text = (Path(__file__).resolve().parents[3] / "docs" / "api.md").read_text()
    header = next(line for line in text.splitlines() if line.startswith("| action |"))
    columns = [c.strip() for c in header.strip("|").split("|")][1:]
    role_by_label = {roles.ROLE_LABELS[r]: r for r in roles.ROLES}
    documented: dict[str, frozenset[str]] = {}
    for line in text.splitlines():
        match = re.match(r"\| `([a-z_.]+)` \|(.*)\|$", line)
        if not match:
            continue
        cells = [c.strip() for c in match.group(2).split("|")]
        documented[match.group(1)] = frozenset(
            role_by_label[label] for label, cell in zip(columns, cells, strict=True) if cell == "✓"
        )
    assert documented == dict(MATRIX)
