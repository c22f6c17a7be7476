"""The case REST API over HTTP: a whole L2 case, bad input, visibility, the status poll, 409s."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from checklist import audit
from checklist.models import AuditEvent, Case, CaseState
from tests.support.api_workflow import API, ApiTeam, case_url, evidence_version, post, token_client
from tests.support.factories import TEST_PASSWORD
from tests.support.workflow import case_schedule, case_through_time_out, evidence_record, team_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(team) -> ApiTeam:
    return ApiTeam(team)


def schedule_payload(team, **overrides: object) -> dict[str, object]:
    payload: dict[str, object] = {
        "mrn": "MRN-API-1",
        "family_name": "Doe",
        "given_name": "Jane",
        "date_of_birth": "1958-03-14",
        "room": team.room.name,
        "scheduled_start": (timezone.now() + dt.timedelta(hours=3)).isoformat(),
        "surgeon": team.surgeon.username,
        "anesthesia": team.anesthesia.username,
        "procedure": "selective_nerve_root_block",
    }
    payload.update(overrides)
    return payload


# --- the whole case ----------------------------------------------------------------------------------


def test_a_whole_l2_case_over_http_by_the_or_team(team, api: ApiTeam) -> None:
    created = api.nurse.post(f"{API}/cases/", schedule_payload(team), format="json")
    assert created.status_code == 201, created.json()
    case_id = created.json()["id"]
    assert created.json()["verdict"] == "incomplete"
    assert created.json()["state"] == "scheduled"

    response = post(api.radiographer, case_id, "anatomy/", {"thoracic": 12, "lumbar": 5, "source": "whole_spine"})
    assert response.status_code == 201, response.json()
    assert response.json()["anatomy"]["lowest_mobile"] == "L5"

    response = post(
        api.surgeon, case_id, "plans/", {"procedure": "selective_nerve_root_block", "levels": "l2", "side": "left"}
    )
    assert response.status_code == 201, response.json()
    assert response.json()["plan"]["levels"] == "L2"
    assert response.json()["plan"]["signature"] is None
    number = response.json()["plan"]["number"]

    response = api.sign(api.surgeon, case_id, f"plans/{number}/sign/", team.surgeon.username)
    assert response.status_code == 201, response.json()
    signature = response.json()["signature"]
    assert signature["meaning"] == "approved plan"
    assert signature["printed_name"] == team.surgeon.full_name
    assert signature["valid"] is True

    scan = SimpleUploadedFile("consent.pdf", b"%PDF-1.4 signed consent", content_type="application/pdf")
    response = post(
        api.nurse,
        case_id,
        "consent/",
        {
            "procedure": "selective_nerve_root_block",
            "levels": "L2",
            "side": "left",
            "date_signed": timezone.localdate().isoformat(),
            "witness": "W. Itness",
            "scan": scan,
        },
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    assert len(response.json()["consent"]["scan_sha256"]) == 64

    response = post(api.nurse, case_id, "marking/", {"region": "lumbar", "side": "left", "marked_by": "surgeon"})
    assert response.status_code == 201, response.json()
    response = post(
        api.nurse,
        case_id,
        "imaging/",
        {
            "modality": "mri",
            "study_date": timezone.localdate().isoformat(),
            "levels": "L2",
            "reviewed_by": team.surgeon.username,
        },
    )
    assert response.status_code == 201, response.json()
    assert response.json()["case"]["verdict"] == "pass", response.json()["case"]["findings"]

    response = post(api.nurse, case_id, "in-room/")
    assert response.status_code == 200, response.json()
    assert response.json()["case"]["state"] == CaseState.SIGN_IN
    assert api.attest_phase(case_id, "sign_in") > 0
    assert api.attest_phase(case_id, "time_out") > 0
    response = post(api.nurse, case_id, "time-out/complete/")
    assert response.status_code == 200, response.json()
    assert response.json()["case"]["state"] == CaseState.LOCALIZATION

    response = post(
        api.radiographer,
        case_id,
        "localizations/",
        {
            "phase": "pre_incision",
            "reference": "sacrum",
            "count": 4,
            "label": "L2",
            "marker_in_place": True,
            "read_by": team.surgeon.username,
        },
    )
    assert response.status_code == 201, response.json()
    localization_id = response.json()["localization"]["id"]
    response = post(api.nurse, case_id, f"localizations/{localization_id}/durable-mark/")
    assert response.status_code == 200, response.json()
    assert response.json()["localization"]["durable_mark_placed"] is True
    assert response.json()["case"]["verdict"] == "pass"
    api.attest_phase(case_id, "localization")
    response = api.sign(api.surgeon, case_id, "localization/confirm/", team.surgeon.username)
    assert response.status_code == 201, response.json()
    assert response.json()["signature"]["meaning"] == "confirmed level"
    assert response.json()["case"]["state"] == CaseState.SIGN_OUT

    response = post(api.nurse, case_id, "treated-levels/", {"levels": "L2"})
    assert response.status_code == 200, response.json()
    assert response.json()["treated_levels"] == "L2"
    api.attest_phase(case_id, "sign_out")
    response = post(api.nurse, case_id, "sign-out/complete/")
    assert response.status_code == 200, response.json()
    assert response.json()["case"]["state"] == CaseState.COMPLETED

    detail = api.surgeon.get(case_url(case_id)).json()
    assert detail["state"] == "completed"
    assert detail["patient"]["mrn"] == "MRN-API-1"
    assert detail["plan"]["signature"]["valid"] is True
    assert detail["latest_verdict"]["target"]["display"] == "left L2 nerve root (L2-L3 foramen)"
    assert detail["latest_verdict"]["expected_counts"]["L2"]["sacrum"] == 4
    assert all(step["complete"] for step in detail["checklist"]["steps"])
    assert detail["near_misses"] is None  # the surgeon's role does not read near misses

    signatures = api.nurse.get(case_url(case_id, "signatures/")).json()["results"]
    assert [s["meaning"] for s in signatures] == ["approved plan", "confirmed level"]
    assert all(s["valid"] and s["current"] for s in signatures)

    check = api.anesthesia.get(case_url(case_id, "level-check/")).json()
    assert check["result"]["verdict"] == "pass"
    assert check["request"]["plan"]["levels"] == "L2"

    trail = api.quality.get(case_url(case_id, "audit/"), {"limit": 5}).json()
    assert [e["seq"] for e in trail["events"]] == [1, 2, 3, 4, 5]
    assert trail["events"][0]["action"] == "case.scheduled"
    seqs = [e["seq"] for e in trail["events"]]
    while trail["next_after_seq"] is not None:
        trail = api.quality.get(case_url(case_id, "audit/"), {"after_seq": trail["next_after_seq"]}).json()
        seqs += [e["seq"] for e in trail["events"]]
    assert seqs == list(range(1, AuditEvent.objects.filter(case_id=case_id).count() + 1))
    assert audit.verify().ok

    rows = api.nurse.get(f"{API}/cases/", {"date": timezone.localdate().isoformat()}).json()
    if rows["count"]:  # a case scheduled three hours from now can fall on tomorrow's date
        assert rows["results"][0]["target_display"] == "left L2 nerve root (L2-L3 foramen)"
    rows = api.nurse.get(f"{API}/cases/", {"state": "completed", "room": team.room.name}).json()
    assert [r["id"] for r in rows["results"]] == [case_id]
    assert rows["results"][0]["target_display"] == "left L2 nerve root (L2-L3 foramen)"
    assert rows["results"][0]["evidence_version"] == detail["evidence_version"]


def test_the_token_endpoint_token_drives_the_api(api_client, team, password) -> None:
    token = api_client.post(
        f"{API}/auth/token/", {"username": team.nurse.username, "password": password}, format="json"
    ).json()["token"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api_client.get(f"{API}/cases/").status_code == 200


def test_every_endpoint_needs_authentication(team) -> None:
    case = case_schedule(team)
    anonymous = APIClient()
    for url in (f"{API}/cases/", case_url(case.pk), case_url(case.pk, "status"), f"{API}/near-misses/"):
        assert anonymous.get(url).status_code == 401
    assert anonymous.post(case_url(case.pk, "in-room/"), {"expected_version": 1}, format="json").status_code == 401


# --- signing: two components at a session's first signing, then the password --------------------------


def test_a_browser_session_signs_first_with_username_and_password_then_password_only(team) -> None:
    case = case_schedule(team)
    services_client = ApiTeam(team)
    post(services_client.radiographer, case.pk, "anatomy/", {"thoracic": 12, "lumbar": 5})
    browser = APIClient()
    browser.force_login(team.surgeon)
    plan = {"procedure": case.procedure, "levels": "L2", "side": "left"}
    assert post(browser, case.pk, "plans/", plan).status_code == 201

    response = post(browser, case.pk, "plans/1/sign/", {"password": TEST_PASSWORD})
    assert response.status_code == 403
    assert "username" in response.json()["errors"]

    response = post(browser, case.pk, "plans/1/sign/", {"password": TEST_PASSWORD, "username": "surgeon"})
    assert response.status_code == 201, response.json()

    assert post(browser, case.pk, "plans/", {**plan, "side": "right"}).status_code == 201
    response = post(browser, case.pk, "plans/2/sign/", {"password": TEST_PASSWORD})
    assert response.status_code == 201, response.json()
    signatures = browser.get(case_url(case.pk, "signatures/")).json()["results"]
    assert [(s["valid"], s["current"]) for s in signatures] == [(True, False), (True, True)]


def test_a_token_client_always_gives_both_components(team, api: ApiTeam) -> None:
    case = case_schedule(team)
    evidence_record(team, case, sign=False)
    response = post(api.surgeon, case.pk, "plans/1/sign/", {"password": TEST_PASSWORD})
    assert response.status_code == 403
    assert response.json()["errors"] == {"username": [response.json()["detail"]]}


def test_three_bad_passwords_lock_signing_with_423(team, api: ApiTeam) -> None:
    case = case_schedule(team)
    evidence_record(team, case, sign=False)
    bad = {"username": "surgeon", "password": "wrong"}
    assert [post(api.surgeon, case.pk, "plans/1/sign/", bad).status_code for _ in range(3)] == [403, 403, 423]
    response = post(api.surgeon, case.pk, "plans/1/sign/", {"username": "surgeon", "password": TEST_PASSWORD})
    assert response.status_code == 423
    assert AuditEvent.objects.filter(case=case, action="signature.failed").count() == 3


# --- bad input: 400 naming the field, never a 500 ---------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"procedure": "laminoplasty"}, {"procedure"}),
        ({"date_of_birth": "1958-02-30"}, {"date_of_birth"}),
        ({"date_of_birth": "yesterday"}, {"date_of_birth"}),
        ({"date_of_birth": (timezone.localdate() + dt.timedelta(days=2)).isoformat()}, {"date_of_birth"}),
        ({"scheduled_start": "soon"}, {"scheduled_start"}),
        ({"surgeon": 42, "co_surgeons": "surgeon"}, {"surgeon", "co_surgeons"}),
        ({"surgeon": "nobody"}, {"surgeon"}),
        ({"surgeon": "nurse"}, {"surgeon"}),
        ({"room": "OR 99"}, {"room"}),
        ({"room": "OR\x001"}, {"room"}),
        ({"surgeon": "sur\x00geon"}, {"surgeon"}),
        ({"mrn": "M" * 41, "family_name": None}, {"mrn", "family_name"}),
        ({"anesthesia": "nurse"}, {"anesthesia"}),
    ],
)
def test_scheduling_refuses_bad_input_naming_the_fields(team, api: ApiTeam, overrides, fields) -> None:
    response = api.nurse.post(f"{API}/cases/", schedule_payload(team, **overrides), format="json")
    assert response.status_code == 400, response.content
    assert set(response.json()["errors"]) == fields, response.json()


def test_scheduling_refuses_a_room_the_nurse_does_not_work_in(team) -> None:
    other = team_create("OR 2", suffix="2")
    response = token_client(other.nurse).post(f"{API}/cases/", schedule_payload(team), format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"room"}


@pytest.mark.parametrize(
    ("tail", "data", "field"),
    [
        ("plans/", {"procedure": "selective_nerve_root_block", "levels": "L6", "side": "left"}, "levels"),
        ("plans/", {"procedure": "fusion", "levels": "L2-L3", "side": "left"}, "procedure"),
        ("plans/", {"procedure": "selective_nerve_root_block", "levels": "L2", "side": "up"}, "side"),
        ("plans/", {"procedure": "selective_nerve_root_block", "levels": "L2", "side": "midline"}, "side"),
        ("plans/", {"procedure": "selective_nerve_root_block", "levels": "Q9", "side": "left"}, "levels"),
        ("plans/", {"procedure": "selective_nerve_root_block", "levels": ["L2"], "side": "left"}, "levels"),
        ("anatomy/", {"thoracic": 20, "lumbar": 5}, "thoracic"),
        ("anatomy/", {"thoracic": "twelve", "lumbar": 5}, "thoracic"),
        ("anatomy/", {"thoracic": 12, "lumbar": 5, "lowest_mobile": "L2"}, "lowest_mobile"),
        ("anatomy/", {"thoracic": 12, "lumbar": 5, "source": "guess"}, "source"),
        ("marking/", {"region": "lumbar", "side": "left", "marked_by": "anesthesia"}, "marked_by"),
        ("marking/", {"region": "skull", "side": "left", "marked_by": "surgeon"}, "region"),
        (
            "imaging/",
            {"modality": "mri", "study_date": "2020-13-01", "levels": "L2", "reviewed_by": "surgeon"},
            "study_date",
        ),
        ("steps/no_such_step/attest/", {}, "step"),
        ("steps/patient_identity_confirmed/attest/", {"role": "pilot"}, "role"),
        ("in-room/", {"expected_version": "abc"}, "expected_version"),
        ("in-room/", {"expected_version": None}, "expected_version"),
        ("localizations/99999/durable-mark/", {}, "localization"),
    ],
)
def test_writes_refuse_bad_input_naming_the_field(team, tail, data, field) -> None:
    case = case_schedule(team)
    clients = ApiTeam(team)
    post(clients.radiographer, case.pk, "anatomy/", {"thoracic": 12, "lumbar": 5})
    client = clients.surgeon if tail.startswith(("plans", "marking", "anatomy", "imaging")) else clients.nurse
    response = post(client, case.pk, tail, data)
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()


def test_consent_dates_are_checked(team, api: ApiTeam) -> None:
    case = case_schedule(team)
    base = {"procedure": case.procedure, "levels": "L2", "side": "left", "witness": "W"}
    for date_signed in ("2024-02-30", "not a date", (timezone.localdate() + dt.timedelta(days=3)).isoformat()):
        response = post(api.nurse, case.pk, "consent/", {**base, "date_signed": date_signed})
        assert response.status_code == 400, response.content
        assert set(response.json()["errors"]) == {"date_signed"}


def test_an_empty_scan_and_a_body_that_is_not_an_object_are_400(team, api: ApiTeam) -> None:
    case = case_schedule(team)
    version = evidence_version(api.nurse, case.pk)
    empty = SimpleUploadedFile("empty.pdf", b"", content_type="application/pdf")
    response = api.nurse.post(
        case_url(case.pk, "consent/"),
        {
            "expected_version": version,
            "procedure": case.procedure,
            "levels": "L2",
            "side": "left",
            "date_signed": "2024-01-02",
            "witness": "W",
            "scan": empty,
        },
        format="multipart",
    )
    assert response.status_code == 400
    assert "scan" in response.json()["errors"]
    assert api.nurse.post(case_url(case.pk, "in-room/"), [1, 2], format="json").status_code == 400
    malformed = api.nurse.post(case_url(case.pk, "in-room/"), b"{nope", content_type="application/json")
    assert malformed.status_code == 400
    assert api.nurse.post(case_url(case.pk, "marking/"), "x=1", content_type="text/plain").status_code == 415


def test_bad_query_parameters_are_400(team, api: ApiTeam) -> None:
    case = case_schedule(team)
    assert set(api.nurse.get(f"{API}/cases/", {"date": "2024-02-30"}).json()["errors"]) == {"date"}
    assert set(api.nurse.get(f"{API}/cases/", {"state": "dancing"}).json()["errors"]) == {"state"}
    assert set(api.nurse.get(f"{API}/cases/", {"limit": "0"}).json()["errors"]) == {"limit"}
    assert api.nurse.get(f"{API}/cases/", {"room": "OR\x001"}).status_code == 400
    response = api.quality.get(case_url(case.pk, "audit/"), {"after_seq": "-1"})
    assert set(response.json()["errors"]) == {"after_seq"}


def test_text_the_database_cannot_store_is_400(team, api: ApiTeam) -> None:
    case = case_schedule(team)

    def send(tail: str, body: dict[str, object]) -> Any:
        # json.dumps writes a lone surrogate as a \\u escape: valid JSON that Python decodes.
        body = {"expected_version": evidence_version(api.nurse, case.pk), **body}
        return api.nurse.post(case_url(case.pk, tail), json.dumps(body), content_type="application/json")

    consent = {"procedure": case.procedure, "levels": "L2", "side": "left", "date_signed": "2024-01-02"}
    for witness in ("W\x00", "W\ud800"):
        response = send("consent/", {**consent, "witness": witness})
        assert response.status_code == 400
        assert set(response.json()["errors"]) == {"witness"}
    for username in ("surgeon\ud800", "\x00", ["surgeon"], 3.5):
        response = send("marking/", {"region": "lumbar", "side": "left", "marked_by": username})
        assert response.status_code == 400
        assert set(response.json()["errors"]) == {"marked_by"}


def test_ids_in_the_path_beyond_any_integer_are_refused_cleanly(team, api: ApiTeam) -> None:
    case = case_schedule(team)
    evidence_record(team, case, sign=False)
    huge = 10**30
    response = api.sign(api.surgeon, case.pk, f"plans/{huge}/sign/", "surgeon")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"plan"}
    response = post(api.nurse, case.pk, f"localizations/{huge}/durable-mark/")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"localization"}


def test_a_case_id_beyond_any_integer_is_404(api: ApiTeam) -> None:
    huge = 10**30
    assert api.nurse.get(case_url(huge)).status_code == 404
    assert api.nurse.get(case_url(huge, "status")).status_code == 404
    assert api.nurse.post(case_url(huge, "in-room/"), {"expected_version": 1}, format="json").status_code == 404


# --- visibility ------------------------------------------------------------------------------------


def test_a_case_outside_your_rooms_does_not_exist_for_you(team) -> None:
    case = case_schedule(team)
    other = team_create("OR 2", suffix="2")
    outsider = token_client(other.nurse)
    assert outsider.get(case_url(case.pk)).status_code == 404
    assert outsider.get(case_url(case.pk, "status")).status_code == 404
    response = outsider.post(case_url(case.pk, "in-room/"), {"expected_version": 1}, format="json")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "errors": {}}
    assert outsider.get(f"{API}/cases/").json()["count"] == 0
    assert token_client(team.nurse).get(f"{API}/cases/").json()["count"] == 1
    assert token_client(team.quality).get(f"{API}/cases/").json()["count"] == 1


# --- the status poll -------------------------------------------------------------------------------


def test_status_answers_with_an_etag_and_304_while_unchanged(team, api: ApiTeam) -> None:
    case = case_schedule(team)
    response = api.nurse.get(case_url(case.pk, "status"))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "version", "evidence_version", "state", "verdict"}
    assert body["verdict"] == "incomplete"
    etag = response["ETag"]
    assert etag == f'W/"{body["version"]}"'
    # Never stored (shared tablets); the page's poller sends If-None-Match itself.
    assert response["Cache-Control"] == "no-store, private"

    unchanged = api.nurse.get(case_url(case.pk, "status"), HTTP_IF_NONE_MATCH=etag)
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged["ETag"] == etag
    assert api.nurse.get(case_url(case.pk, "status"), HTTP_IF_NONE_MATCH=f'"x", {etag}').status_code == 304
    assert api.nurse.get(case_url(case.pk, "status"), HTTP_IF_NONE_MATCH="*").status_code == 304

    post(api.radiographer, case.pk, "anatomy/", {"thoracic": 12, "lumbar": 5})
    changed = api.nurse.get(case_url(case.pk, "status"), HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed.json()["version"] > body["version"]
    assert changed.json()["evidence_version"] == body["evidence_version"] + 1
    assert changed["ETag"] != etag


@pytest.mark.parametrize("who", ["nurse", "surgeon", "anesthesia", "radiographer", "quality", "admin", "co_surgeon"])
def test_status_costs_one_query(team, who, django_assert_num_queries) -> None:
    co_surgeon = team_create("OR 3", suffix="3").surgeon
    case = case_schedule(team, co_surgeons=[co_surgeon])
    user = co_surgeon if who == "co_surgeon" else getattr(team, who)
    client = APIClient()
    client.force_authenticate(user)
    with django_assert_num_queries(1):
        assert client.get(case_url(case.pk, "status")).status_code == 200
    client.force_authenticate(team_create("OR 4", suffix="4").nurse)
    with django_assert_num_queries(1):
        assert client.get(case_url(case.pk, "status")).status_code == 404


def test_status_costs_one_query_beyond_authentication(team) -> None:
    case = case_schedule(team)
    client = token_client(team.nurse)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(case_url(case.pk, "status")).status_code == 200
    # The first use of a token in a process also reads its token.created event (the trail vouches
    # for it; checklist/services/tokens.py), once.
    assert len(queries) == 3, [q["sql"] for q in queries]
    with CaptureQueriesContext(connection) as queries:
        assert client.get(case_url(case.pk, "status")).status_code == 200
    # The token lookup (which joins the user) and the status read.
    assert len(queries) == 2, [q["sql"] for q in queries]

    browser = APIClient()
    browser.force_login(team.nurse)
    with CaptureQueriesContext(connection) as queries:
        response = browser.get(case_url(case.pk, "status"), HTTP_X_RIGHTLEVEL_PASSIVE="1")
    assert response.status_code == 200
    # The session, its user, and the status read.
    assert len(queries) == 3, [q["sql"] for q in queries]


# --- stale writes -------------------------------------------------------------------------------------


def test_a_stale_write_gets_409_with_the_current_state(team, api: ApiTeam) -> None:
    case = case_schedule(team)
    seen = evidence_version(api.nurse, case.pk)
    first = api.radiographer.post(
        case_url(case.pk, "anatomy/"), {"expected_version": seen, "thoracic": 12, "lumbar": 5}, format="json"
    )
    assert first.status_code == 201
    stale = api.nurse.post(
        case_url(case.pk, "anatomy/"), {"expected_version": seen, "thoracic": 12, "lumbar": 6}, format="json"
    )
    assert stale.status_code == 409
    body = stale.json()
    assert set(body) == {"detail", "errors", "current"}
    current = Case.objects.get(pk=case.pk)
    assert body["current"] == {
        "id": case.pk,
        "version": current.version,
        "evidence_version": current.evidence_version,
        "state": current.state,
        "verdict": current.verdict,
    }
    assert "changed on another device" in body["detail"]
    assert Case.objects.get(pk=case.pk).evidence_version == seen + 1


def test_attesting_a_step_twice_gets_409(team, api: ApiTeam) -> None:
    case = case_schedule(team)
    evidence_record(team, case)
    post(api.nurse, case.pk, "in-room/")
    assert post(api.nurse, case.pk, "steps/consent_signed/attest/").status_code == 201
    again = post(api.nurse, case.pk, "steps/consent_signed/attest/")
    assert again.status_code == 409
    assert again.json()["current"]["id"] == case.pk


def test_a_stop_is_explained_and_blocks_attesting(team, api: ApiTeam) -> None:
    case = case_schedule(team)
    evidence_record(team, case, consent_side="right")
    status = api.nurse.get(case_url(case.pk, "status")).json()
    assert status["verdict"] == "stop"
    post(api.nurse, case.pk, "in-room/")
    response = post(api.nurse, case.pk, "steps/consent_signed/attest/")
    assert response.status_code == 400
    assert "STOPPED" in response.json()["detail"]
    fixed = post(
        api.nurse,
        case.pk,
        "consent/",
        {"procedure": case.procedure, "levels": "L2", "side": "left", "date_signed": "2024-01-02", "witness": "W"},
    )
    assert fixed.json()["case"]["verdict"] == "pass"
    near_misses = api.quality.get(case_url(case.pk, "near-misses/")).json()
    assert near_misses["count"] == 1
    assert near_misses["results"][0]["kind"] == "consent"
    assert near_misses["results"][0]["caught_by"] == team.nurse.username
    everywhere = api.admin.get(f"{API}/near-misses/").json()
    assert [n["case"] for n in everywhere["results"]] == [case.pk]
    assert api.quality.get(case_url(case.pk)).json()["near_misses"][0]["kind"] == "consent"


def test_a_revised_plan_shows_the_old_signature_as_superseded_and_the_localization_withdrawn(team, api) -> None:
    case = case_schedule(team)
    evidence_record(team, case)
    case = case_through_time_out(team, case)
    response = post(
        api.radiographer,
        case.pk,
        "localizations/",
        {
            "phase": "pre_incision",
            "reference": "sacrum",
            "count": 4,
            "label": "L2",
            "marker_in_place": True,
            "read_by": "surgeon",
        },
    )
    assert response.status_code == 201
    revised = post(api.surgeon, case.pk, "plans/", {"procedure": case.procedure, "levels": "L3", "side": "left"})
    assert revised.status_code == 201
    detail = api.nurse.get(case_url(case.pk)).json()
    assert [p["number"] for p in detail["plan_versions"]] == [1, 2]
    assert detail["plan_versions"][0]["signature"]["current"] is False
    assert detail["plan_versions"][0]["superseded_at"] is not None
    assert detail["localizations"][0]["superseded_at"] is not None
    assert detail["verdict"] == "stop"


# --- the OpenAPI schema documents every operation ---------------------------------------------------


def test_every_checklist_operation_is_documented_with_examples_for_writes() -> None:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    mine = {
        "cases_list", "cases_schedule", "cases_retrieve", "cases_status", "cases_patient_in_room", "plans_create",
        "plans_sign", "signatures_list", "consent_record", "marking_record", "imaging_record", "anatomy_record",
        "localizations_create", "localizations_durable_mark", "localization_confirm", "steps_attest",
        "time_out_complete", "treated_levels_record", "sign_out_complete", "cases_level_check", "cases_audit",
        "cases_near_misses", "near_misses_list",
    }  # fmt: skip
    operations = [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if operation.get("operationId") in mine
    ]
    assert len(operations) == len(mine)
    for path, method, operation in operations:
        assert operation["operationId"] and operation["tags"], (path, method)
        assert "200" in operation["responses"] or "201" in operation["responses"], (path, method)
        if method == "post":
            content = operation["requestBody"]["content"]["application/json"]
            assert content["schema"]["$ref"], (path, method)
            assert content.get("examples"), (path, method)
            assert "409" in operation["responses"] or path == "/api/v1/cases/", (path, method)
    consent = schema["paths"]["/api/v1/cases/{case_id}/consent/"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in consent


def test_records_that_no_longer_fit_together_are_shown_not_crashed_on(team, api: ApiTeam) -> None:
    """A plan at L6 read against six lumbar vertebrae, then the anatomy recounted as five."""
    case = case_schedule(team)
    post(api.radiographer, case.pk, "anatomy/", {"thoracic": 12, "lumbar": 6})
    plan = {"procedure": case.procedure, "levels": "L6", "side": "left"}
    assert post(api.surgeon, case.pk, "plans/", plan).status_code == 201
    assert post(api.radiographer, case.pk, "anatomy/", {"thoracic": 12, "lumbar": 5}).status_code == 201

    check = api.nurse.get(case_url(case.pk, "level-check/"))
    assert check.status_code == 200
    assert check.json()["result"]["verdict"] == "stop"
    assert check.json()["result"]["findings"][0]["code"] == "EVIDENCE_INVALID"
    detail = api.nurse.get(case_url(case.pk))
    assert detail.status_code == 200
    assert detail.json()["latest_verdict"]["target"] is None
    rows = api.nurse.get(f"{API}/cases/").json()["results"]
    assert rows[0]["target_display"] is None
