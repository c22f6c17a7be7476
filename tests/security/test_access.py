"""Who may reach what: login everywhere but the login page and the health check; CSRF on every form
post; object-level access on the tablet pages (the API's is tests/checklist/access/test_api_permissions.py);
the signing lock on the tablet (the API's is in tests/checklist/api/test_api_cases.py).

Routes are enumerated from the URL resolver (tests/security/routes.py), so a new page, endpoint,
admin screen or quality page is covered the day it is added.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from checklist.models import Case, Signature
from checklist.views import ACTIONS
from tests.security.conftest import World
from tests.security.routes import Route
from tests.support.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db

# The login pages (the API's is the token endpoint), logging out, the health check, the service
# worker script (static URLs only: the login page registers it too) and the level engine's code.
PUBLIC = {
    "/login/", "/admin/login/", "/api/v1/auth/token/", "/healthz", "/admin/logout/", "/sw.js",
    "/offline/level-engine.zip",
}  # fmt: skip
LOGIN_PAGES = ("/login/", "/admin/login/")


def _login_required(response: Any) -> bool:
    if response.status_code in (401, 403):
        return True
    return response.status_code == 302 and response["Location"].startswith(LOGIN_PAGES)


def test_every_route_is_enumerated(world: World) -> None:
    names = {r.name for r in world.routes()}
    assert {"case-detail", "case-action", "quality-dashboard", "api-schema", "api-docs", "api-case-status"} <= names
    assert any(r.path.startswith("/admin/checklist/") for r in world.routes())
    assert len({r.path for r in world.routes() if r.name == "case-action"}) == len(ACTIONS)


def test_every_page_and_endpoint_requires_login(world: World) -> None:
    """Anonymous GET and POST on every route: a redirect to a login page, 401 or 403, never 2xx.
    A method the route does not serve may answer 405, as long as the other needs a login."""
    client = Client()
    failures = []
    for route in world.routes():
        if route.path in PUBLIC:
            continue
        answers = {method: getattr(client, method)(route.path) for method in ("get", "post")}
        statuses = {method: response.status_code for method, response in answers.items()}
        if not all(_login_required(r) or r.status_code == 405 for r in answers.values()) or not any(
            _login_required(r) for r in answers.values()
        ):
            failures.append((route.path, statuses))
    assert not failures, failures


def test_only_the_login_pages_and_the_health_check_are_public(world: World) -> None:
    client = Client()
    assert client.get("/login/").status_code == 200
    assert client.get("/admin/login/").status_code == 200
    assert client.get("/healthz").status_code in (200, 503)  # 503 when the broker is down: still no login


# --- CSRF --------------------------------------------------------------------------------------------


def _csrf_client(user: Any) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def _form_posts(world: World) -> list[Route]:
    """Every route a signed-in browser posts a form to: the tablet actions, notifications,
    switch user and log out, the quality workspace's forms, the admin's."""
    wanted = {"case-action", "notifications", "switch-user", "logout", "quality-verify", "quality-near-miss-note"}
    return [r for r in world.routes() if r.name in wanted] + [
        r for r in world.routes() if r.path.startswith("/admin/checklist/") and r.path.endswith(("/add/", "/change/"))
    ]


def test_csrf_is_enforced_on_every_form_post(world: World) -> None:
    refused = []
    for route in _form_posts(world):
        user = world.team.admin if route.path.startswith(("/admin/", "/quality/")) else world.team.nurse
        client = _csrf_client(user)
        before = world.fingerprint(world.case)
        response = client.post(route.path, {"expected_version": world.case.evidence_version})
        refused.append((route.path, response.status_code))
        assert world.fingerprint(world.case) == before, route.path
    assert all(status == 403 for _, status in refused), [r for r in refused if r[1] != 403]
    assert len(refused) >= len(ACTIONS) + 5


def test_csrf_is_enforced_on_the_api_for_session_clients(world: World) -> None:
    """A browser session calling the API must send the CSRF token; a token client needs none."""
    client = _csrf_client(world.team.nurse)
    path = f"/api/v1/cases/{world.case.pk}/steps/patient_identity_confirmed/attest/"
    body = {"expected_version": world.case.evidence_version, "role": "nurse"}
    response = client.post(path, body, content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_the_same_form_post_succeeds_with_the_token(world: World) -> None:
    """The refusals above are the CSRF check, not something else about the request."""
    client = _csrf_client(world.team.nurse)
    page = client.get(f"/cases/{world.case.pk}/")
    token = page.context["csrf_token"]
    response = client.post(
        f"/cases/{world.case.pk}/do/in-room",
        {"expected_version": world.case.evidence_version, "csrfmiddlewaretoken": str(token)},
    )
    assert response.status_code != 403


# --- object-level access on the tablet pages ------------------------------------------------------------


def _browser(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_nurse_of_another_room_can_neither_read_nor_change_a_case_on_the_tablet(world: World) -> None:
    outsider = _browser(world.other.nurse)  # OR 2; the case is in OR 1
    case = world.case
    before = world.fingerprint(case)
    for route in world.routes():
        if route.name not in ("case-detail", "case-action", "levels-preview"):
            continue
        if route.name == "case-action":
            form = {"expected_version": case.evidence_version, "phase": "sign_in", "role": "nurse",
                    "step_code": "patient_identity_confirmed"}  # fmt: skip
            response = outsider.post(route.path, form)
        else:
            response = outsider.get(route.path, {"plan-levels": "L2"})
        assert response.status_code == 404, (route.path, response.status_code)
        assert case.patient.family_name.encode() not in response.content
    assert world.fingerprint(case) == before
    assert world.other.nurse.username not in {e.actor_username for e in case.audit_events.all()}
    # The case list of the other room does not show it either.
    listing = outsider.get("/cases/")
    assert f"/cases/{case.pk}/".encode() not in listing.content


def test_the_api_refuses_the_same_nurse_by_id(world: World) -> None:
    from tests.support.api_workflow import token_client

    client = token_client(world.other.nurse)
    case = world.case
    before = world.fingerprint(case)
    for route in world.routes():
        if not route.path.startswith(f"/api/v1/cases/{case.pk}/"):
            continue
        # 404: the case does not exist for them; 403: their role may not use the endpoint at all.
        response = client.get(route.path)
        assert response.status_code in (403, 404, 405), route.path
        assert case.patient.family_name.encode() not in response.content
        response = client.post(route.path, {"expected_version": case.evidence_version, "role": "nurse"}, format="json")
        assert response.status_code in (403, 404, 405), (route.path, response.status_code)
    assert world.fingerprint(case) == before


def test_a_surgeon_cannot_sign_another_surgeons_plan_on_the_tablet(world: World) -> None:
    from checklist import services

    case = world.other_case  # OR 2, whose plan is signed: write a new version to sign
    plan = services.plan_revise(actor=world.other.surgeon, case=case.pk, procedure=case.procedure, levels="L2",
                                side="right")  # fmt: skip
    case.refresh_from_db()
    intruder = _browser(world.team.surgeon)
    response = intruder.post(
        f"/cases/{case.pk}/do/sign",
        {"sign-expected_version": case.evidence_version, "sign-username": world.team.surgeon.username,
         "sign-password": TEST_PASSWORD, "plan_number": plan.number},
    )  # fmt: skip
    assert response.status_code == 404
    assert not Signature.objects.filter(subject_type="plan", subject_id=plan.pk).exists()


# --- signing lock on the tablet ----------------------------------------------------------------------


def test_three_wrong_passwords_lock_signing_on_the_tablet(world: World) -> None:
    from checklist import services

    case = world.case
    plan = services.plan_revise(actor=world.team.surgeon, case=case.pk, procedure=case.procedure, levels="L2",
                                side="left")  # fmt: skip
    surgeon = _browser(world.team.surgeon)

    def sign(password: str) -> int:
        fresh = Case.objects.get(pk=case.pk)
        data = {"sign-expected_version": fresh.evidence_version, "sign-username": world.team.surgeon.username,
                "sign-password": password, "plan_number": plan.number}  # fmt: skip
        return surgeon.post(f"/cases/{case.pk}/do/sign", data).status_code

    assert [sign("wrong-password") for _ in range(3)] == [403, 403, 423]
    assert sign(TEST_PASSWORD) == 423  # the right password no longer helps: an admin must unlock
    world.team.surgeon.refresh_from_db()
    assert world.team.surgeon.signing_locked_at is not None
    assert not Signature.objects.filter(subject_type="plan", subject_id=plan.pk).exists()
    assert reverse("case-detail", args=[case.pk])
