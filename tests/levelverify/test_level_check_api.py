"""POST /api/v1/level-checks/: every shared scenario over real HTTP requests, auth, errors, fuzz."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from levelverify.testing import load_scenarios, outcome_problems, request_body

URL = "/api/v1/level-checks/"
CASES = load_scenarios()  # fails at collection, never skips, when the shared file is missing

pytestmark = pytest.mark.django_db


@pytest.fixture
def token_client(nurse, password) -> APIClient:
    client = APIClient()
    token = client.post("/api/v1/auth/token/", {"username": nurse.username, "password": password}, format="json")
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.json()['token']}")
    return client


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_scenario_over_http(token_client: APIClient, case: dict[str, Any]) -> None:
    response = token_client.post(URL, data=request_body(case), content_type="application/json")
    body = response.json()
    assert outcome_problems(case["expect"], response.status_code, body) == [], body
    if response.status_code == 400:
        assert body["detail"] == "Invalid input."


def test_session_authentication_works_too(client, nurse) -> None:
    client.force_login(nurse)
    response = client.post(URL, data=json.dumps(CASES[0]["request"]), content_type="application/json")
    assert response.status_code == 200


def test_anonymous_requests_are_refused(api_client: APIClient) -> None:
    response = api_client.post(URL, data=json.dumps(CASES[0]["request"]), content_type="application/json")
    assert response.status_code == 401
    assert response.json()["detail"]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"{not json", "non_field_errors"),
        (b"[1, 2, 3]", "non_field_errors"),
        (b'"text"', "non_field_errors"),
        (b"null", "non_field_errors"),
        (b'{"plan": "L2"}', "plan"),
        (b'{"stage": "after_lunch"}', "stage"),
        (b'{"localizations": {"reference": "sacrum"}}', "localizations"),
        (b'{"anatomy": {"lumbar": 9}}', "anatomy"),
    ],
)
def test_malformed_bodies_get_a_400_naming_the_field(nurse_api: APIClient, raw: bytes, field: str) -> None:
    response = nurse_api.post(URL, data=raw, content_type="application/json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert field in body["errors"], body
    assert all(isinstance(m, str) and m for m in body["errors"][field])


def test_the_endpoint_is_in_the_schema() -> None:
    import io

    from django.core.management import call_command

    out = io.StringIO()
    call_command("spectacular", "--fail-on-warn", stdout=out)
    assert "/api/v1/level-checks/" in out.getvalue()
    assert "level_check_create" in out.getvalue()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 40)
    | st.text(max_size=12)
    | st.sampled_from(["L2", "L2-L3", "sacrum", "left", "fusion", "T12", "S1", "L6", "c2", "midline"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=25,
)
field_names = st.sampled_from(
    [
        "stage",
        "anatomy",
        "plan",
        "consent",
        "marking",
        "preop_imaging",
        "localizations",
        "procedure",
        "levels",
        "side",
        "reference",
        "count",
        "level",
        "marker_in_place",
        "thoracic",
        "lumbar",
    ]
)
request_bodies = st.one_of(
    json_values,
    st.dictionaries(field_names, json_values, max_size=7),
    st.fixed_dictionaries(
        {
            "plan": st.fixed_dictionaries(
                {
                    "procedure": st.sampled_from(["selective_nerve_root_block", "fusion", "x"]),
                    "levels": st.text(max_size=10) | st.sampled_from(["L2", "L1-L3", "L2/3"]),
                    "side": st.sampled_from(["left", "right", "midline", "up"]),
                }
            ),
            "localizations": st.lists(
                st.fixed_dictionaries(
                    {
                        "reference": st.sampled_from(["sacrum", "c2", "last_rib", "moon"]),
                        "count": st.integers(-2, 40) | st.booleans() | st.text(max_size=3),
                        "level": st.sampled_from(["L2", "L2-L3", "T13", ""]),
                        "marker_in_place": st.booleans() | st.none(),
                    }
                ),
                max_size=3,
            ),
            "anatomy": st.dictionaries(
                st.sampled_from(["thoracic", "lumbar", "lowest_rib", "lowest_mobile", "source"]),
                st.integers(10, 14) | st.sampled_from(["T11", "T12", "L1", "L4", "L5", "S1", "lumbar_only"]),
            ),
        }
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=request_bodies)
def test_no_generated_body_makes_the_endpoint_answer_500(nurse_api: APIClient, body: Any) -> None:
    response = nurse_api.post(URL, data=json.dumps(body), content_type="application/json")
    assert response.status_code in (200, 400), (body, response.content)
    payload = response.json()
    if response.status_code == 200:
        assert payload["verdict"] in ("pass", "stop", "incomplete")
    else:
        assert payload["errors"] and all(isinstance(v, list) and v for v in payload["errors"].values())
