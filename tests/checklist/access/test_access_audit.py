"""Access is audited (issue 13, item 6): opening a case (tablet page, quality page, API), every
export (CSV, PDF, FHIR, a consent scan), sign-in, failed sign-in, sign-out and token issuance each
append one access event (who, what, when, from where; never the MRN or the patient's name), keyed
and chained like every event. Polls are not logged. Quality officers see who opened a record, and
the access events are in the audit CSV and the FHIR AuditEvents."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from rest_framework.test import APIClient

from checklist import audit
from checklist.models import AuditEvent, Case
from checklist.services import record_access as access
from checklist.services.tokens import token_create
from quality.fhir import ACTION_SYSTEM, DICOM, RESTFUL_INTERACTION
from tests.support.factories import TEST_PASSWORD
from tests.support.workflow import Team, case_schedule, phase_attest, team_create

pytestmark = pytest.mark.django_db

ADDRESS = "10.1.2.3"
PASSIVE = {"HTTP_X_RIGHTLEVEL_PASSIVE": "1"}


@pytest.fixture
def case(team: Team) -> Case:
    return case_schedule(team, mrn="MRN-SECRET-7731", family_name="Zwicklbauer", given_name="Philomena")


def _access(action: str | None = None, **filters: object) -> list[AuditEvent]:
    events = AuditEvent.objects.filter(action__startswith="access.", **filters).order_by("id")
    return [e for e in events if action is None or e.action == action]


def _text(event: AuditEvent) -> str:
    """Everything the event says, as the trail and its exports carry it."""
    return json.dumps(audit.event_payload(event), ensure_ascii=False, default=str)


def _no_patient_identity(event: AuditEvent, case: Case) -> None:
    text = _text(event)
    for secret in (case.patient.mrn, case.patient.family_name, case.patient.given_name):
        assert secret not in text


def _cleared() -> int:
    """The id after which the test's own access events start."""
    last = AuditEvent.objects.order_by("-id").first()
    return last.pk if last else 0


# --- opening a case ----------------------------------------------------------------------------


def test_opening_the_case_page_appends_one_event_on_the_case_chain(client: Client, team: Team, case: Case) -> None:
    client.force_login(team.nurse)
    start = _cleared()
    response = client.get(reverse("case-detail", args=[case.pk]), REMOTE_ADDR=ADDRESS)
    assert response.status_code == 200
    (event,) = _access(id__gt=start)
    assert event.action == access.CASE_OPENED
    assert event.chain == audit.case_chain(case.pk)
    assert (event.actor_id, event.actor_username, event.actor_role) == (team.nurse.pk, "nurse", "nurse")
    assert (event.object_type, event.object_id) == ("Case", str(case.pk))
    assert event.after == {"channel": "page"}
    assert event.client.startswith(ADDRESS)
    assert event.request_id == response["X-Request-ID"]
    assert event.mac  # keyed like every event
    _no_patient_identity(event, case)


def test_polls_and_refreshes_are_not_logged(client: Client, team: Team, case: Case) -> None:
    client.force_login(team.nurse)
    start = _cleared()
    page = reverse("case-detail", args=[case.pk])
    assert client.get(page, {"partial": "live"}, HTTP_HX_REQUEST="true", **PASSIVE).status_code == 200
    assert client.get(page, **PASSIVE).status_code == 200
    status = client.get(f"/api/v1/cases/{case.pk}/status", **PASSIVE)
    assert status.status_code == 200
    assert client.get(f"/api/v1/cases/{case.pk}/status", HTTP_IF_NONE_MATCH=status["ETag"]).status_code == 304
    assert client.get(f"/api/v1/cases/{case.pk}/", **PASSIVE).status_code == 200
    assert _access(id__gt=start) == []


def test_reopening_within_the_window_is_logged_once_per_channel(client: Client, team: Team, case: Case) -> None:
    client.force_login(team.nurse)
    start = _cleared()
    for _ in range(3):  # the page reloads after every action
        assert client.get(reverse("case-detail", args=[case.pk])).status_code == 200
    assert client.get(f"/api/v1/cases/{case.pk}/").status_code == 200
    assert [e.after["channel"] for e in _access(id__gt=start)] == ["page", "api"]


def test_reopening_after_the_window_is_logged_again(client: Client, team: Team, case: Case, settings) -> None:
    settings.RIGHTLEVEL_ACCESS_REOPEN_SECONDS = 0
    client.force_login(team.nurse)
    start = _cleared()
    for _ in range(2):
        client.get(reverse("case-detail", args=[case.pk]))
    assert len(_access(access.CASE_OPENED, id__gt=start)) == 2


def test_the_case_api_logs_the_opening_with_the_token_user(team: Team, case: Case) -> None:
    _, token = token_create(actor=team.nurse, user=team.nurse)
    api = APIClient(REMOTE_ADDR=ADDRESS)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    start = _cleared()
    assert api.get(f"/api/v1/cases/{case.pk}/").status_code == 200
    (event,) = _access(id__gt=start)
    assert (event.action, event.actor_id, event.after) == (access.CASE_OPENED, team.nurse.pk, {"channel": "api"})
    assert event.client.startswith(ADDRESS)
    _no_patient_identity(event, case)


def test_a_case_one_may_not_see_is_not_logged_as_opened(client: Client, case: Case) -> None:
    other = team_create("OR 9", suffix="-9")
    client.force_login(other.nurse)
    start = _cleared()
    assert client.get(reverse("case-detail", args=[case.pk])).status_code == 404
    assert _access(id__gt=start) == []


def test_an_attestation_logs_no_access(team: Team, case: Case) -> None:
    from checklist import services
    from tests.support.workflow import evidence_record

    evidence_record(team, case)
    services.case_patient_in_room(actor=team.nurse, case=case)
    start = _cleared()
    assert phase_attest(team, case, "sign_in") > 0
    assert _access(id__gt=start) == []


# --- the quality officer's view ----------------------------------------------------------------


def test_the_quality_case_page_shows_who_opened_the_record(client: Client, team: Team, case: Case) -> None:
    nurse = Client(REMOTE_ADDR=ADDRESS)
    nurse.force_login(team.nurse)
    nurse.get(reverse("case-detail", args=[case.pk]))
    client.force_login(team.quality)
    start = _cleared()
    response = client.get(reverse("quality-case", args=[case.pk]))
    assert response.status_code == 200
    (own,) = _access(id__gt=start)
    assert (own.actor_id, own.after) == (team.quality.pk, {"channel": "quality"})
    html = response.content.decode()
    section = html[html.index('id="openings"') :]
    section = section[: section.index("</section>")]
    assert "Who opened this record" in section
    assert "Nurse (nurse)" in section and ADDRESS in section and "page" in section
    assert "Quinn (quality)" in section and "quality" in section
    # A later page of the trail is not another opening.
    client.get(reverse("quality-case", args=[case.pk]), {"after": "1"})
    assert len(_access(id__gt=start)) == 1


# --- exports -----------------------------------------------------------------------------------


def test_the_pdf_export_is_logged_on_the_case_chain(client: Client, team: Team, case: Case) -> None:
    client.force_login(team.quality)
    start = _cleared()
    assert client.get(reverse("quality-case-pdf", args=[case.pk])).status_code == 200
    (event,) = _access(id__gt=start)
    assert (event.action, event.chain) == (access.EXPORTED, audit.case_chain(case.pk))
    assert event.after == {"export": "pdf", "channel": "quality"}
    _no_patient_identity(event, case)


def test_the_csv_export_is_logged_and_lists_the_access_events(client: Client, team: Team, case: Case) -> None:
    nurse = Client(REMOTE_ADDR=ADDRESS)
    nurse.force_login(team.nurse)
    nurse.get(reverse("case-detail", args=[case.pk]))
    client.force_login(team.quality)
    today = timezone.localdate().isoformat()
    start = _cleared()
    response = client.get(reverse("quality-export-csv", args=["audit-events"]), {"date_from": today, "date_to": today})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    (event,) = _access(id__gt=start)
    assert (event.action, event.chain, event.object_type) == (access.EXPORTED, audit.SYSTEM_CHAIN, "Export")
    assert event.after["export"] == "csv:audit-events"
    assert event.after["channel"] == "quality"
    assert event.after["filter"]["date_from"] == today
    actions = {r["action"] for r in rows}
    assert {access.SIGNED_IN, access.CASE_OPENED, access.EXPORTED} <= actions
    opened = next(r for r in rows if r["action"] == access.CASE_OPENED)
    assert opened["actor_username"] == "nurse" and opened["client"].startswith(ADDRESS)


def test_the_fhir_export_is_logged_and_carries_the_access_events(client: Client, team: Team, case: Case) -> None:
    nurse = Client()
    nurse.force_login(team.nurse)
    nurse.get(reverse("case-detail", args=[case.pk]))
    client.force_login(team.quality)
    start = _cleared()
    response = client.get(f"/api/v1/cases/{case.pk}/fhir/")
    assert response.status_code == 200
    (event,) = _access(id__gt=start)
    assert (event.action, event.chain, event.after) == (
        access.EXPORTED,
        audit.case_chain(case.pk),
        {"export": "fhir", "channel": "api"},
    )
    bundle = json.loads(response.content)
    Bundle.model_validate(bundle)
    audit_events = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "AuditEvent"]
    by_action = {next(c["code"] for c in r["subtype"] if c["system"] == ACTION_SYSTEM): r for r in audit_events}
    opened, exported = by_action[access.CASE_OPENED], by_action[access.EXPORTED]
    assert opened["type"]["code"] == "rest" and opened["action"] == "R"
    assert {"system": RESTFUL_INTERACTION, "code": "read", "display": "read"} in opened["subtype"]
    assert exported["type"] == {
        "system": DICOM,
        "code": "110106",
        "display": "Export",
    }
    assert exported["agent"][0]["who"]["identifier"]["value"] == "quality"


def test_the_fhir_command_logs_its_export(case: Case) -> None:
    from django.core.management import call_command

    start = _cleared()
    call_command("export_fhir", str(case.pk), stdout=io.StringIO())
    (event,) = _access(id__gt=start)
    assert event.actor is None and event.after == {"export": "fhir", "channel": "command"}
    assert event.client == "manage.py export_fhir"


def test_a_consent_scan_download_is_logged(client: Client, team: Team, case: Case, settings, tmp_path) -> None:
    import datetime as dt

    from django.core.files.uploadedfile import SimpleUploadedFile

    from checklist import services

    settings.MEDIA_ROOT = tmp_path
    scan = SimpleUploadedFile("consent.pdf", b"%PDF-1.4 signed consent\n", content_type="application/pdf")
    consent = services.consent_record(
        actor=team.nurse,
        case=case,
        procedure=case.procedure,
        levels="L2",
        side="left",
        date_signed=timezone.localdate() - dt.timedelta(days=3),
        witness="W. Itness",
        scan=scan,
    )
    client.force_login(team.nurse)
    start = _cleared()
    response = client.get(reverse("consent-scan", args=[case.pk, consent.pk]))
    assert response.status_code == 200
    (event,) = _access(id__gt=start)
    assert event.chain == audit.case_chain(case.pk)
    assert event.after == {"export": "consent_scan", "channel": "page", "consent_id": consent.pk}


# --- signing in and out ------------------------------------------------------------------------


def _login(client: Client, username: str, password: str):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ADDRESS)


def test_sign_in_and_sign_out_are_logged(client: Client, team: Team) -> None:
    start = _cleared()
    assert _login(client, "nurse", TEST_PASSWORD).status_code == 302
    client.post(reverse("logout"), REMOTE_ADDR=ADDRESS)
    signed_in, signed_out = _access(id__gt=start)
    assert (signed_in.action, signed_in.chain, signed_in.actor_id) == (access.SIGNED_IN, "system", team.nurse.pk)
    assert signed_in.after == {"channel": "page"} and signed_in.client.startswith(ADDRESS)
    assert (signed_out.action, signed_out.actor_id) == (access.SIGNED_OUT, team.nurse.pk)


def test_switch_user_says_why_the_session_ended(client: Client, team: Team) -> None:
    client.force_login(team.nurse)
    start = _cleared()
    client.post(reverse("switch-user"))
    (event,) = _access(id__gt=start)
    assert (event.action, event.reason) == (access.SIGNED_OUT, "switch user")


def test_a_failed_sign_in_is_logged_without_the_password(client: Client, team: Team) -> None:
    start = _cleared()
    assert _login(client, "nurse", "the-wrong-secret-99").status_code == 200
    (event,) = _access(id__gt=start)
    assert event.action == access.SIGN_IN_FAILED
    assert event.actor is None
    assert event.after == {"username": "nurse", "known_user": True, "channel": "page"}
    assert event.object_id == str(team.nurse.pk)
    assert "the-wrong-secret-99" not in _text(event)
    assert event.client.startswith(ADDRESS)


def test_an_unknown_256_character_username_is_logged_not_a_500(client: Client) -> None:
    start = _cleared()
    long_name = "x" * 256
    response = _login(client, long_name, "whatever-it-is")
    assert response.status_code == 200  # the form says what is wrong
    (event,) = _access(id__gt=start)
    assert event.action == access.SIGN_IN_FAILED
    assert event.after["username"] == "x" * 150
    assert event.after["known_user"] is False
    assert event.reason == access.REFUSED_BAD_INPUT
    api = APIClient().post("/api/v1/auth/token/", {"username": long_name, "password": "p"}, format="json")
    assert api.status_code == 400
    assert [e.after["channel"] for e in _access(access.SIGN_IN_FAILED, id__gt=start)] == ["page", "api"]


def test_an_unknown_username_is_logged(client: Client) -> None:
    start = _cleared()
    _login(client, "nobody-here", "whatever")
    (event,) = _access(id__gt=start)
    assert event.after == {"username": "nobody-here", "known_user": False, "channel": "page"}
    assert event.object_id == ""


def test_token_issuance_logs_the_sign_in_and_the_token(team: Team) -> None:
    start = _cleared()
    response = APIClient(REMOTE_ADDR=ADDRESS).post(
        "/api/v1/auth/token/", {"username": "nurse", "password": TEST_PASSWORD}, format="json"
    )
    assert response.status_code == 200
    events = list(AuditEvent.objects.filter(id__gt=start).order_by("id"))
    assert [e.action for e in events] == [access.SIGNED_IN, "token.created"]
    assert all(e.client.startswith(ADDRESS) and e.chain == "system" for e in events)
    assert events[0].after == {"channel": "api"}
    assert response.json()["token"] not in "".join(_text(e) for e in events)


def test_a_failed_token_request_is_logged(team: Team) -> None:
    start = _cleared()
    response = APIClient().post("/api/v1/auth/token/", {"username": "nurse", "password": "nope"}, format="json")
    assert response.status_code == 400
    (event,) = _access(id__gt=start)
    assert (event.action, event.after["channel"]) == (access.SIGN_IN_FAILED, "api")


# --- the trail stays whole ---------------------------------------------------------------------


def test_access_events_leave_the_trail_and_the_reconciliation_intact(client: Client, team: Team, case: Case) -> None:
    client.force_login(team.nurse)
    client.get(reverse("case-detail", args=[case.pk]))
    client.get(f"/api/v1/cases/{case.pk}/")
    client.force_login(team.quality)
    client.get(reverse("quality-case", args=[case.pk]))
    client.get(reverse("quality-case-pdf", args=[case.pk]))
    assert len(_access(chain=audit.case_chain(case.pk))) == 4
    report = audit.verify()
    assert report.ok, report.summary()
    assert not report.problems


def test_behind_the_proxy_the_address_is_the_forwarded_one(client: Client, team: Team, case: Case, settings) -> None:
    settings.RIGHTLEVEL_BEHIND_PROXY = True
    client.force_login(team.nurse)
    start = _cleared()
    client.get(reverse("case-detail", args=[case.pk]), REMOTE_ADDR="172.18.0.5", HTTP_X_FORWARDED_FOR="10.9.8.7")
    (event,) = _access(id__gt=start)
    assert event.client.startswith("10.9.8.7")


@pytest.mark.parametrize("username", ["\x00", "nurse\x00", "nu\x00rse"])
def test_a_username_with_nul_is_logged_not_a_500(client: Client, team: Team, username: str) -> None:
    start = _cleared()
    assert _login(client, username, "whatever").status_code == 200
    assert (
        APIClient().post("/api/v1/auth/token/", {"username": username, "password": "p"}, format="json").status_code
        == 400
    )
    events = _access(access.SIGN_IN_FAILED, id__gt=start)
    assert [e.after["channel"] for e in events] == ["page", "api"]
    assert all("\x00" not in e.after["username"] and e.after["known_user"] is False for e in events)
