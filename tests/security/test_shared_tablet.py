"""A shared tablet keeps no patient data (issue 14, item 5): every response to a signed-in user is
``Cache-Control: no-store, private`` (pages, htmx partials, the case API, FHIR, the quality
pages), and page titles, which go into the browser's history, carry no patient name."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from tests.security.conftest import World
from tests.support.api_workflow import token_client

pytestmark = pytest.mark.django_db
SKIP = ("/admin/", "/static/", "/media/", "/logout/", "/switch-user/")


def _browser(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _no_store(response: Any, what: str) -> None:
    directives = {d.strip() for d in response.get("Cache-Control", "").split(",")}
    assert {"no-store", "private"} <= directives, (what, response.status_code, response.get("Cache-Control"))


def test_every_response_to_a_signed_in_user_is_no_store_private(world: World) -> None:
    routes = [r for r in world.routes() if not r.path.startswith(SKIP)]
    seen_ok = 0
    for user in (world.team.nurse, world.team.quality):
        browser, api = _browser(user), token_client(user)
        for route in routes:
            client = api if route.path.startswith("/api/") else browser
            response = client.get(route.path)
            _no_store(response, f"{user.username} GET {route.path}")
            seen_ok += response.status_code == 200
    assert seen_ok >= 20  # the walk really reached pages, partials and API answers
    case = world.case
    nurse = _browser(world.team.nurse)
    for path, headers in [
        (f"/cases/{case.pk}/?partial=live", {"HX-Request": "true"}),  # the htmx partial
        (f"/cases/{case.pk}/levels-preview?plan-levels=L2", {"HX-Request": "true"}),
    ]:
        response = nurse.get(path, headers=headers)
        assert response.status_code == 200, path
        _no_store(response, path)
    api = token_client(world.team.nurse)
    for path in [f"/api/v1/cases/{case.pk}/", f"/api/v1/cases/{case.pk}/status"]:
        response = api.get(path)
        assert response.status_code == 200, path
        _no_store(response, path)
    fhir = token_client(world.team.quality).get(f"/api/v1/quality/cases/{case.pk}/fhir/")
    _no_store(fhir, "fhir")


def test_the_status_poll_still_answers_304_when_nothing_changed(world: World) -> None:
    api = token_client(world.team.nurse)
    first = api.get(f"/api/v1/cases/{world.case.pk}/status")
    again = api.get(f"/api/v1/cases/{world.case.pk}/status", headers={"If-None-Match": first["ETag"]})
    assert again.status_code == 304
    _no_store(again, "304")


def test_anonymous_responses_keep_their_own_caching() -> None:
    assert Client().get("/healthz")["Cache-Control"] == "no-store"


def test_page_titles_carry_no_patient_name(world: World) -> None:
    case, patient = world.case, world.case.patient
    for user in (world.team.nurse, world.team.quality):
        browser = _browser(user)
        for route in world.routes():
            if route.path.startswith(("/api/", *SKIP)):
                continue
            response = browser.get(route.path)
            if response.status_code != 200 or not response["Content-Type"].startswith("text/html"):
                continue
            html = response.content.decode()
            if "<html" not in html:
                continue  # an htmx partial: no title
            title = re.search(r"<title>(.*?)</title>", html, re.S)
            assert title, route.path
            for name in (patient.family_name, patient.given_name, patient.mrn):
                assert name.lower() not in title.group(1).lower(), (route.path, title.group(1))
    title = re.search(r"<title>(.*?)</title>", _browser(world.team.nurse).get(f"/cases/{case.pk}/").content.decode())
    assert title and f"Case {case.pk}" in title.group(1)
