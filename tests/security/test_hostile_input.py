"""Hostile input on every endpoint: a 4xx with an error body, never a server error.

Every route under /api/v1/ (enumerated from the URL resolver) gets random bytes, a body bigger
than DATA_UPLOAD_MAX_MEMORY_SIZE, JSON nested 10,000 deep, bodies that are not objects, every
declared field (from the OpenAPI schema) set to values of the wrong type, and the wrong media
type; GET routes get wrong query values. Each is sent by a user allowed to call the operation on
the case (the nurse of its room, and its surgeon), so the body is parsed and validated rather than
refused before. Every tablet action URL (/cases/<id>/do/<action>) gets the same treatment as a
form post. API answers are JSON in the one error shape; pages are HTML.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from checklist.views import ACTIONS
from tests.security.conftest import World
from tests.support.api_workflow import token_client

pytestmark = pytest.mark.django_db

NESTING = 10_000
WRONG_VALUES: list[Any] = [None, True, -1, 10**40, 1.5, "", "not-what-you-expected", [], [1, "a"], {}, {"a": {"b": []}}]
WRONG_FORM_VALUES = ["", "abc", "-1", "9" * 50, "1.5", "\x00", "<script>alert(1)</script>", "L" * 5000]
_PATH_PARAM = re.compile(r"<(?:\w+:)?(\w+)>")


def _rng_bytes(seed: int, n: int) -> bytes:
    return random.Random(seed).randbytes(n)


def _huge_json() -> bytes:
    padding = "a" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1024)
    return json.dumps({"expected_version": 1, "notes": padding, "levels": padding}).encode()


def _huge_form() -> bytes:
    return b"expected_version=1&witness=" + b"a" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1024)


def _nested(depth: int) -> bytes:
    return ("[" * depth + "]" * depth).encode()


def _nested_objects(depth: int) -> bytes:
    return ('{"a":' * depth + "1" + "}" * depth).encode()


HOSTILE_BODIES: dict[str, tuple[bytes, str]] = {
    "random bytes": (_rng_bytes(1, 4096), "application/json"),
    "random bytes as a form": (_rng_bytes(2, 4096), "application/x-www-form-urlencoded"),
    "random bytes as multipart": (_rng_bytes(3, 4096), "multipart/form-data; boundary=xyz"),
    "a body bigger than DATA_UPLOAD_MAX_MEMORY_SIZE": (_huge_json(), "application/json"),
    "a form bigger than DATA_UPLOAD_MAX_MEMORY_SIZE": (_huge_form(), "application/x-www-form-urlencoded"),
    "arrays nested 10,000 deep": (_nested(NESTING), "application/json"),
    "objects nested 10,000 deep": (_nested_objects(NESTING), "application/json"),
    "arrays nested 900 deep": (_nested(900), "application/json"),
    "an array": (b"[1, 2, 3]", "application/json"),
    "a string": (b'"hello"', "application/json"),
    "a number": (b"12", "application/json"),
    "null": (b"null", "application/json"),
    "NaN": (b'{"expected_version": NaN}', "application/json"),
    "invalid UTF-8": (b'{"expected_version": "\xff\xfe"}', "application/json"),
    "an unknown media type": (b"<xml/>", "application/xml"),
    "no media type": (b'{"expected_version": 1}', ""),
}


def assert_api_error(response: Any, what: str) -> None:
    assert 400 <= response.status_code < 500, (what, response.status_code, response.content[:300])
    body = response.json()
    assert isinstance(body.get("detail"), str) and isinstance(body.get("errors"), dict), (what, body)


def assert_page_error(response: Any, what: str) -> None:
    assert 400 <= response.status_code < 500, (what, response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("text/html"), (what, response["Content-Type"])


@pytest.fixture
def schema(world: World) -> dict[str, Any]:
    client = APIClient()
    client.force_authenticate(world.team.nurse)
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    return dict(json.loads(response.content))


def _other_types(declared: dict[str, Any]) -> list[Any]:
    """Values of types other than the one the schema declares for a property."""
    kind = "object" if "$ref" in declared or "allOf" in declared or "oneOf" in declared else declared.get("type")
    return {
        "object": [[], "x", 5],
        "array": [{}, "x", 5],
        "integer": ["x", [], {}, 1.5],
        "number": ["x", [], {}],
        "boolean": ["x", [], {}],
    }.get(kind, [[], {}])


def _api_routes(world: World) -> list[Any]:
    return [r for r in world.routes() if r.path.startswith("/api/v1/")]


def _operation(schema: dict[str, Any], template: str, method: str) -> dict[str, Any]:
    return dict(schema["paths"]["/" + _PATH_PARAM.sub(r"{\1}", template)].get(method, {}))


def _callers(world: World) -> list[APIClient]:
    return [token_client(world.team.nurse), token_client(world.team.surgeon)]


def _post(client: APIClient, path: str, body: bytes, content_type: str) -> Any:
    return client.generic("POST", path, body, content_type=content_type)


def test_every_api_route_is_covered(world: World, schema: dict[str, Any]) -> None:
    templates = {"/" + _PATH_PARAM.sub(r"{\1}", r.template) for r in _api_routes(world)}
    assert templates == {p for p in schema["paths"] if p.startswith("/api/v1/")}
    assert len(templates) >= 25


@pytest.mark.slow
def test_hostile_bodies_on_every_api_write(world: World, schema: dict[str, Any]) -> None:
    for route in _api_routes(world):
        if not _operation(schema, route.template, "post"):
            continue
        for client in _callers(world):
            for what, (body, content_type) in HOSTILE_BODIES.items():
                assert_api_error(_post(client, route.path, body, content_type), f"POST {route.path}: {what}")


@pytest.mark.slow
def test_every_declared_field_with_the_wrong_type(world: World, schema: dict[str, Any]) -> None:
    """Every field of every write set to values of other types: all of them at once, then one at
    a time. ``null`` is not always wrong (the level check reads a missing piece of evidence as
    incomplete), so it may also succeed; nothing may fail."""
    checked = 0
    for route in _api_routes(world):
        operation = _operation(schema, route.template, "post")
        if not operation:
            continue
        content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
        ref = content.get("schema", {}).get("$ref", "")
        properties = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]["properties"] if ref else {}
        fields = list(properties)
        for client in _callers(world):
            for wrong in WRONG_VALUES:
                body = json.dumps(dict.fromkeys(fields, wrong) or {"anything": wrong}).encode()
                response = _post(client, route.path, body, "application/json")
                if wrong is None and response.status_code == 200:
                    continue
                assert_api_error(response, f"POST {route.path} {wrong!r}")
                checked += 1
            for name, declared in properties.items():  # one field of another type at a time
                for wrong in _other_types(declared):
                    body = json.dumps({name: wrong}).encode()
                    assert_api_error(_post(client, route.path, body, "application/json"), f"POST {route.path} {name}")
    assert checked > 100


@pytest.mark.slow
def test_wrong_query_values_on_every_api_read(world: World, schema: dict[str, Any]) -> None:
    client = token_client(world.team.nurse)
    for route in _api_routes(world):
        operation = _operation(schema, route.template, "get")
        if not operation:
            continue
        names = [p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"] or ["page"]
        for wrong in ["abc", "-1", "9" * 40, "", "[]", "%00", "1.5", "2025-13-45", "x" * 5000]:
            response = client.get(route.path, dict.fromkeys(names, wrong))
            assert response.status_code < 500, (route.path, wrong, response.content[:300])
            assert "json" in response["Content-Type"], (route.path, wrong)  # FHIR is application/fhir+json
            if response.status_code >= 400:
                assert_api_error(response, f"GET {route.path} {wrong!r}")


def test_path_ids_that_are_not_ids(world: World) -> None:
    client = token_client(world.team.nurse)
    for tail in ["abc/", "-1/", "1.5/", "99999999999999999999999999/", "%00/", "null/status", "1/steps/../attest/"]:
        assert_api_error(client.get(f"/api/v1/cases/{tail}"), tail)
        assert_api_error(client.post(f"/api/v1/cases/{tail}", {}, format="json"), tail)


# --- tablet form posts -------------------------------------------------------------------------------


def _browser(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.slow
def test_hostile_form_posts_on_every_tablet_action(world: World) -> None:
    case = world.case
    actions = {r.path for r in world.routes() if r.name == "case-action"}
    assert len(actions) == len(ACTIONS)
    # The form is validated before the service checks the role, so one user reaches every form.
    for user in (world.team.nurse,):
        browser = _browser(user)
        for path in sorted(actions):
            for what, (body, content_type) in HOSTILE_BODIES.items():
                response = browser.generic("POST", path, body, content_type=content_type)
                assert_page_error(response, f"{path}: {what}")
            action = path.rsplit("/", 1)[-1]
            form = ACTIONS[action][0]
            prefix = f"{action}-" if action in ("plan", "sign", "confirm", "consent", "marking", "imaging",
                                                "anatomy", "localization", "treated") else ""  # fmt: skip
            for wrong in WRONG_FORM_VALUES:
                data = {f"{prefix}{name}": wrong for name in form.base_fields}
                data["plan_number"] = wrong
                response = browser.post(path, data)
                assert_page_error(response, f"{path}: {wrong[:20]!r}")
    # Nothing hostile changed the case.
    assert world.fingerprint(case)[1] == case.evidence_version


def test_unknown_tablet_actions_and_methods(world: World) -> None:
    browser = _browser(world.team.nurse)
    base = f"/cases/{world.case.pk}/do/"
    assert browser.post(base + "no-such-action", {}).status_code == 404
    assert browser.get(base + "attest").status_code == 405
    assert browser.put(base + "attest", b"x", content_type="text/plain").status_code == 405


def test_levels_preview_survives_junk(world: World) -> None:
    browser = _browser(world.team.nurse)
    path = f"/cases/{world.case.pk}/levels-preview"
    for params in [
        {"plan-levels": "L" * 10_000},
        {"plan-levels": "\x00\x01"},
        {"consent-procedure": "nope", "consent-levels": "L2"},
        {"kind": "label", "localization-label": "T13-S9"},
        {"plan-levels": "L1-" * 2000},
        {"plan-levels": "L2", "kind": ["a", "b"]},
    ]:
        response = browser.get(path, params)
        assert response.status_code < 500, (params, response.status_code)


def test_notifications_survive_junk(world: World) -> None:
    browser = _browser(world.team.nurse)
    for data in [
        {"id": ["abc", "-1", "9" * 40]},
        {"action": "preferences", "email": "maybe", "pager_id": "x" * 5000},
        {"action": ["preferences", "other"]},
    ]:
        assert browser.post("/notifications/", data).status_code in (302, 400)
    body, content_type = HOSTILE_BODIES["random bytes as a form"]
    assert browser.generic("POST", "/notifications/", body, content_type=content_type).status_code in (302, 400)


def test_the_limits_say_what_they_are(world: World) -> None:
    """An oversized body is 413 before it is parsed; JSON too deep to parse is a 400 naming it."""
    client = token_client(world.team.nurse)
    path = f"/api/v1/cases/{world.case.pk}/consent/"
    body, content_type = HOSTILE_BODIES["a body bigger than DATA_UPLOAD_MAX_MEMORY_SIZE"]
    response = _post(client, path, body, content_type)
    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is too large.", "errors": {}}
    response = _post(client, "/api/v1/level-checks/", _nested(NESTING), "application/json")
    assert response.status_code == 400
    assert "nested deeper than 32 levels" in response.json()["errors"]["non_field_errors"][0]
    assert client.get("/api/v1/cases/abc/").json() == {"detail": "Not found.", "errors": {}}


def test_an_upload_over_the_request_limit_is_refused_before_it_is_read(world: World, settings) -> None:
    """Uploaded files do not count towards DATA_UPLOAD_MAX_MEMORY_SIZE (Django spools them to disk),
    so the request size is capped by its own middleware: 413 with a clear message, nothing saved."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from checklist.models import Consent

    settings.RIGHTLEVEL_MAX_REQUEST_BYTES = 64 * 1024
    consents = Consent.objects.count()
    form = {
        "procedure": "selective_nerve_root_block",
        "levels": "L2",
        "side": "left",
        "date_signed": "2026-11-24",
        "witness": "W. Itness",
    }
    big = b"%PDF-1.4 " + b"x" * (128 * 1024)

    client = token_client(world.team.nurse)
    response = client.post(
        f"/api/v1/cases/{world.case.pk}/consent/",
        {**form, "expected_version": world.case.evidence_version, "scan": SimpleUploadedFile("c.pdf", big)},
        format="multipart",
    )
    assert response.status_code == 413
    assert "accepts at most 64.0 KB" in response.json()["detail"]
    assert response.json()["errors"]["non_field_errors"]

    tablet = Client()
    tablet.force_login(world.team.nurse)
    fields = {f"consent-{name}": value for name, value in form.items()}
    response = tablet.post(
        f"/cases/{world.case.pk}/do/consent",
        {
            **fields,
            "consent-expected_version": world.case.evidence_version,
            "consent-scan": SimpleUploadedFile("c.pdf", big),
        },
    )
    assert response.status_code == 413
    assert "Upload too large" in response.content.decode() and "Nothing was saved" in response.content.decode()
    assert Consent.objects.count() == consents

    # Under the limit, the same upload goes through.
    settings.RIGHTLEVEL_MAX_REQUEST_BYTES = 1024 * 1024
    response = client.post(
        f"/api/v1/cases/{world.case.pk}/consent/",
        {**form, "expected_version": world.case.evidence_version, "scan": SimpleUploadedFile("c.pdf", big)},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    assert Consent.objects.count() == consents + 1
