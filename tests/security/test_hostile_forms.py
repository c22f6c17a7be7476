"""Hostile input on the tablet and quality pages (issue 14, item 4): every form and every query
parameter a page reads gets junk, and the answer is a form error, a 400 or a redirect, never a
server error. Covers what the API tests cannot: the sign form's plan number, the near-miss note's
``next``, the sign-in form, and the quality officers' filters and forms."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from checklist.forms import SignForm
from checklist.models import NearMiss
from quality import forms as quality_forms
from tests.security.conftest import World
from tests.security.test_hostile_input import WRONG_FORM_VALUES
from tests.support.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db

JUNK = [*WRONG_FORM_VALUES, "9" * 5000, "1e3", "0x1", " 1", "\u0661", "\u00b2", "1\x002", "%00", "../../etc"]
QUALITY_FORMS = (
    quality_forms.CaseFilterForm,
    quality_forms.ExportForm,
    quality_forms.NearMissFilterForm,
    quality_forms.AuditFilterForm,
    quality_forms.LearningNoteForm,
)
QUALITY_FIELDS = sorted({name for form in QUALITY_FORMS for name in form.base_fields} | {"page", "partial", "kind"})


def _browser(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _no_server_error(response: Any, what: str) -> None:
    assert response.status_code < 500, (what, response.status_code, response.content[:300])


def test_junk_plan_numbers_on_the_tablet_sign_form_are_a_form_error(world: World) -> None:
    case = world.case
    browser = _browser(world.team.surgeon)
    before = world.fingerprint(case)
    for junk in JUNK:
        data = {
            "sign-username": world.team.surgeon.username,
            "sign-password": TEST_PASSWORD,
            "sign-expected_version": case.evidence_version,
            "plan_number": junk,
        }
        response = browser.post(f"/cases/{case.pk}/do/sign", data)
        assert response.status_code == 400, (junk[:20], response.status_code)
        assert "plan version" in response.content.decode(), junk[:20]
    assert world.fingerprint(case) == before
    assert set(SignForm.base_fields) == {"username", "password", "expected_version"}


def test_the_near_miss_note_follows_only_same_site_paths(world: World) -> None:
    browser = _browser(world.team.quality)
    default = "/quality/near-misses/#near-miss-1"
    assert not NearMiss.objects.exists()  # an invalid note is refused before the near miss is looked up
    too_long = "n" * 4001
    for target in ["x", "x/y", "//elsewhere/x", "https:elsewhere", "javascript:alert(1)", "\\\\elsewhere",
                   "/\\elsewhere", "\x00", "9" * 5000, "", "http://testserver.evil/x"]:  # fmt: skip
        response = browser.post("/quality/near-misses/1/note", {"learning_note": too_long, "next": target})
        assert response.status_code == 302, (target[:20], response.status_code)
        assert response["Location"] == default, (target[:20], response["Location"])
    response = browser.post(
        "/quality/near-misses/1/note", {"learning_note": too_long, "next": "/quality/near-misses/?kind=x"}
    )
    assert response["Location"] == "/quality/near-misses/?kind=x#near-miss-1"


@pytest.mark.parametrize("username", ["u" * 151, "u" * 256, "u" * 5000, "\x00", "nurse\x00", ""])
def test_junk_usernames_at_sign_in_are_a_form_error(world: World, username: str) -> None:
    client = Client()
    for _ in range(6):  # past the lockout limit too
        response = client.post("/login/", {"username": username, "password": "wrong"})
        assert response.status_code in (200, 400, 429), (username[:20], response.status_code)
        assert response["Content-Type"].startswith("text/html")
        if response.status_code == 200:  # the page says why, never a silent refusal
            assert b'role="alert"' in response.content, username[:20]
    api = client.post("/api/v1/auth/token/", {"username": username, "password": "wrong"},
                      content_type="application/json")  # fmt: skip
    assert api.status_code in (400, 429), (username[:20], api.status_code)


@pytest.mark.slow
def test_junk_on_every_quality_page_and_form(world: World) -> None:
    browser = _browser(world.team.quality)
    pages = [r for r in world.routes() if r.path.startswith("/quality/")]
    assert len(pages) >= 10
    for route in pages:
        for junk in JUNK:
            everything = dict.fromkeys(QUALITY_FIELDS, junk)
            _no_server_error(browser.get(route.path, everything), f"GET {route.path} all={junk[:20]!r}")
            _no_server_error(browser.post(route.path, everything), f"POST {route.path} all={junk[:20]!r}")
        for name in QUALITY_FIELDS:
            for junk in ("abc", "\x00", "9" * 5000, "-1", "1.5"):
                _no_server_error(browser.get(route.path, {name: junk}), f"GET {route.path} {name}={junk[:20]!r}")
                _no_server_error(browser.post(route.path, {name: junk}), f"POST {route.path} {name}={junk[:20]!r}")


@pytest.mark.slow
def test_junk_on_every_tablet_page(world: World) -> None:
    """Every page outside the API and the admin, as the nurse of the room: junk query values and
    junk form posts."""
    pages = [r for r in world.routes() if not r.path.startswith(("/api/", "/admin/", "/static/", "/media/"))]
    assert len(pages) >= 10
    names = ["partial", "mine", "id", "action", "email", "webhook", "pager_id", "kind", "plan-levels", "timeout",
             "next", "page", "plan_number"]  # fmt: skip
    for route in pages:
        browser = _browser(world.team.nurse)  # a fresh session each time: a route may log out
        for junk in ("abc", "\x00", "9" * 5000, "1.5", "<script>"):
            data = dict.fromkeys(names, junk)
            _no_server_error(browser.get(route.path, data), f"GET {route.path} {junk[:20]!r}")
            _no_server_error(browser.post(route.path, data), f"POST {route.path} {junk[:20]!r}")
