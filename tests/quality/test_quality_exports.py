"""Exports: CSV round trips, hidden names, the one-page PDF (its text extracted), and the FHIR R4
Bundle validated with fhir.resources' R4B models, the same from the API and the command."""

from __future__ import annotations

import csv
import io
import itertools
import json

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from pypdf import PdfReader

from checklist import audit, services
from checklist.models import AuditEvent, NearMiss, Signature, StepAttestation
from quality.exports import AUDIT_HEADER, CASE_HEADER, NEAR_MISS_HEADER, STEP_HEADER
from quality.fhir import ACTION_SYSTEM
from quality.selectors import HIDDEN_NAME
from tests.support.quality_workflow import RANGE, dataset_build

pytestmark = pytest.mark.django_db


@pytest.fixture
def data():
    return dataset_build()


@pytest.fixture
def officer_client(client, data):
    client.force_login(data.one.quality)
    return client


def _csv(client, kind: str, **params: str) -> tuple[list[str], list[dict[str, str]], str]:
    response = client.get(reverse("quality-export-csv", args=[kind]), {**RANGE, **params})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode("utf-8")
    reader = csv.DictReader(io.StringIO(text))
    return list(reader.fieldnames or []), list(reader), text


def _iso(value) -> str:
    return timezone.localtime(value).isoformat() if value else ""


# --- CSV -------------------------------------------------------------------------------------------


def test_cases_csv_round_trip(officer_client, data) -> None:
    header, rows, _ = _csv(officer_client, "cases")
    assert header == CASE_HEADER
    by_id = {int(row["case_id"]): row for row in rows}
    assert set(by_id) == {data.a.pk, data.b.pk, data.c.pk, data.d.pk, data.e.pk, data.f.pk}
    for case in (data.a, data.b, data.c, data.d, data.e, data.f):
        row = by_id[case.pk]
        assert row["mrn"] == case.patient.mrn
        assert row["room"] == case.room.name
        assert row["surgeon"] == case.surgeon.full_name
        assert row["procedure"] == case.procedure
        assert row["state"] == case.state
        assert row["verdict"] == case.verdict
        assert row["scheduled_start"] == _iso(case.scheduled_start)
        assert row["patient_in_room_at"] == _iso(case.patient_in_room_at)
        assert row["time_out_completed_at"] == _iso(case.time_out_completed_at)
        assert row["signed_out_at"] == _iso(case.signed_out_at)
    assert [by_id[c.pk]["minutes_in_room_to_time_out"] for c in (data.a, data.b, data.c, data.d, data.e)] == [
        "20.0", "40.0", "10.0", "70.0", "",
    ]  # fmt: skip
    assert [by_id[c.pk]["variant_anatomy"] for c in (data.a, data.c, data.d)] == ["no", "yes", "yes"]
    assert [by_id[c.pk]["near_misses"] for c in (data.a, data.b, data.c, data.d)] == ["0", "1", "1", "1"]
    assert by_id[data.a.pk]["planned_levels"] == "L2" and by_id[data.a.pk]["planned_side"] == "left"
    assert by_id[data.a.pk]["treated_levels"] == "L2"


def test_steps_csv_round_trip(officer_client, data) -> None:
    header, rows, _ = _csv(officer_client, "steps")
    assert header == STEP_HEADER
    attestations = StepAttestation.objects.select_related("run", "user").order_by("run__case_id", "attested_at", "id")
    assert [(int(r["case_id"]), r["step_code"], r["role"], r["user"], r["attested_at"]) for r in rows] == [
        (a.run.case_id, a.step_code, a.role, a.user.full_name, _iso(a.attested_at)) for a in attestations
    ]


def test_near_misses_csv_round_trip(officer_client, data) -> None:
    header, rows, _ = _csv(officer_client, "near-misses")
    assert header == NEAR_MISS_HEADER
    assert [(int(r["case_id"]), r["kind"]) for r in rows] == [(data.b.pk, "consent"), (data.c.pk, "count"),
                                                             (data.d.pk, "imaging")]  # fmt: skip
    for row in rows:
        miss = NearMiss.objects.select_related("caught_by", "resolved_by").get(pk=row["near_miss_id"])
        assert row["codes"] == ";".join(miss.codes)
        assert row["caught_by"] == miss.caught_by.full_name
        assert row["caught_at"] == _iso(miss.caught_at)
        assert row["resolved_at"] == _iso(miss.resolved_at)
        assert float(row["minutes_to_resolution"]) == round((miss.resolved_at - miss.caught_at).total_seconds() / 60, 1)
        assert row["what_disagreed"] == " | ".join(f["message"] for f in miss.findings)
    assert [r["minutes_to_resolution"] for r in rows] == ["12.0", "6.0", "3.0"]
    assert [r["caught_by_role"] for r in rows] == ["nurse", "radiographer", "radiographer"]


def test_audit_events_csv_round_trip(officer_client, data) -> None:
    header, rows, _ = _csv(officer_client, "audit-events")
    assert header == AUDIT_HEADER
    # The officer's sign-in and this export are today, outside the dataset's date range.
    today = AuditEvent.objects.filter(action__startswith="access.").order_by("id")
    assert [e.action for e in today] == ["access.signed_in", "access.exported"]
    events = list(AuditEvent.objects.exclude(action__startswith="access.").order_by("id"))
    assert [int(r["event_id"]) for r in rows] == [e.pk for e in events]
    for row, event in zip(rows, events, strict=True):
        assert row["event_hash"] == event.event_hash
        assert row["action"] == event.action
        assert row["actor_username"] == event.actor_username
        assert (json.loads(row["after"]) if row["after"] else None) == event.after
    # The hashes in the export still chain: each event's prev_hash is the previous event's hash.
    by_chain: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_chain.setdefault(row["chain"], []).append(row)
    for chain_rows in by_chain.values():
        for before, after in itertools.pairwise(chain_rows):
            assert after["prev_hash"] == before["event_hash"]


def test_exports_filter_like_the_dashboard(officer_client, data) -> None:
    _, rows, _ = _csv(officer_client, "cases", room=str(data.two.room.pk))
    assert {int(r["case_id"]) for r in rows} == {data.c.pk, data.d.pk, data.f.pk}
    _, rows, _ = _csv(officer_client, "audit-events", room=str(data.two.room.pk))
    assert {int(r["case_id"]) for r in rows} == {data.c.pk, data.d.pk, data.f.pk}
    bad = officer_client.get(reverse("quality-export-csv", args=["cases"]), {"date_from": "soon"})
    assert bad.status_code == 400
    assert officer_client.get(reverse("quality-export-csv", args=["passwords"])).status_code == 404


def test_hide_names_removes_every_staff_name_from_every_export(officer_client, data) -> None:
    staff = [u for team in (data.one, data.two) for u in (team.nurse, team.surgeon, team.radiographer)]
    for kind in ("cases", "steps", "near-misses", "audit-events"):
        _, rows, text = _csv(officer_client, kind, hide_names="1")
        assert rows
        for user in staff:
            assert user.full_name not in text, (kind, user.full_name)
            assert f'"{user.username}"' not in text, (kind, user.username)
        assert HIDDEN_NAME in text
    _, rows, _ = _csv(officer_client, "near-misses", hide_names="1")
    assert {r["caught_by"] for r in rows} == {HIDDEN_NAME}
    assert [r["caught_by_role"] for r in rows] == ["nurse", "radiographer", "radiographer"]  # roles stay
    _, rows, _ = _csv(officer_client, "audit-events", hide_names="1")
    assert {r["actor_username"] for r in rows} <= {HIDDEN_NAME, ""}


def test_a_formula_in_a_learning_note_is_neutralised(officer_client, data) -> None:
    miss = NearMiss.objects.get(case=data.b)
    services_note = '=HYPERLINK("http://example.invalid")'
    from checklist.services.near_misses import near_miss_annotate

    near_miss_annotate(actor=data.one.quality, near_miss=miss, learning_note=services_note)
    _, rows, _ = _csv(officer_client, "near-misses")
    assert rows[0]["learning_note"] == "'" + services_note


# --- PDF -------------------------------------------------------------------------------------------


def test_the_pdf_is_one_page_with_patient_target_signatures_and_chain_head(officer_client, data) -> None:
    response = officer_client.get(reverse("quality-case-pdf", args=[data.a.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    assert len(reader.pages) == 1
    text = " ".join(reader.pages[0].extract_text().split())
    patient = data.a.patient
    assert f"{patient.family_name.upper()}, {patient.given_name}" in text
    assert f"MRN {patient.mrn}" in text
    assert "Target: left L2 nerve root (L2-L3 foramen)" in text
    signatures = list(Signature.objects.filter(case=data.a).order_by("signed_at"))
    assert {s.meaning for s in signatures} == {"approved plan", "confirmed level"}
    for signature in signatures:
        line = (
            f"{signature.printed_name} {signature.signer_role} "
            f"{timezone.localtime(signature.signed_at):%Y-%m-%d %H:%M:%S %Z} {signature.meaning}"
        )
        assert line in text
    head = AuditEvent.objects.filter(chain=audit.case_chain(data.a.pk)).order_by("-seq").first()
    assert f"Head hash: {head.event_hash}" in text
    assert f"head event #{head.seq}" in text
    assert "Level image (before incision): count 4 from the sacrum = L2" in text
    assert "Levels treated: L2" in text


def test_the_pdf_of_a_busy_case_still_fits_on_one_page(officer_client, data) -> None:
    for _ in range(30):
        services.localization_record(
            actor=data.two.radiographer,
            case=data.d,
            phase="after_exposure",
            reference="sacrum",
            count=5,
            label="L2",
            marker_in_place=False,
            read_by=data.two.surgeon,
        )
    response = officer_client.get(reverse("quality-case-pdf", args=[data.d.pk]))
    assert len(PdfReader(io.BytesIO(response.content)).pages) == 1
    assert officer_client.get(reverse("quality-case-pdf", args=[999999])).status_code == 404


# --- FHIR ------------------------------------------------------------------------------------------


def _bundle_from_api(client, case_id: int) -> dict:
    response = client.get(f"/api/v1/cases/{case_id}/fhir/")
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("application/fhir+json")
    return json.loads(response.content)


def _resources(bundle: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_the_fhir_bundle_validates_and_carries_every_resource(officer_client, data) -> None:
    bundle = _bundle_from_api(officer_client, data.a.pk)
    model = Bundle.model_validate(bundle)  # fhir.resources R4B models: types, cardinality, required fields
    assert model.type == "collection"
    kinds = [e.resource.__resource_type__ for e in model.entry]
    for kind in (
        "Patient",
        "Practitioner",
        "Procedure",
        "Consent",
        "QuestionnaireResponse",
        "Provenance",
        "AuditEvent",
    ):
        assert kind in kinds, kind
    full_urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(set(full_urls)) == len(full_urls)
    # Every reference in the Bundle resolves inside it (or to a contained resource).
    references = set(_all_references(bundle))
    assert references <= set(full_urls) | {"#target"}

    (patient,) = _resources(bundle, "Patient")
    assert patient["identifier"][0]["value"] == data.a.patient.mrn
    assert patient["name"][0]["family"] == data.a.patient.family_name

    (procedure,) = _resources(bundle, "Procedure")
    assert procedure["status"] == "completed"
    assert procedure["bodySite"][0]["text"] == "left L2 nerve root (L2-L3 foramen)"
    assert procedure["bodySite"][0]["coding"] == [
        {"system": "http://snomed.info/sct", "code": "7771000", "display": "Left"}
    ]
    (structure,) = procedure["contained"]
    assert structure["resourceType"] == "BodyStructure"
    # Text: no verified SNOMED code for the L2 root.
    assert structure["location"] == {"text": "left L2 nerve root (L2-L3 foramen)"}
    assert structure["locationQualifier"][0]["coding"][0]["code"] == "7771000"
    assert "14293000" not in json.dumps(bundle)  # the unverified L2 code is not used

    (consent,) = _resources(bundle, "Consent")
    assert consent["scope"]["coding"][0]["code"] == "treatment"
    assert consent["status"] == "active"

    (answers,) = _resources(bundle, "QuestionnaireResponse")
    assert answers["status"] == "completed"
    assert [group["linkId"] for group in answers["item"]] == ["sign_in", "time_out", "localization", "sign_out"]
    steps = [item for group in answers["item"] for item in group["item"]]
    assert all(item["answer"][0]["valueBoolean"] is True for item in steps)

    provenances = _resources(bundle, "Provenance")
    signatures = Signature.objects.filter(case=data.a).order_by("signed_at")
    assert [p["activity"]["text"] for p in provenances] == [s.meaning for s in signatures]
    assert [p["signature"][0]["who"]["display"] for p in provenances] == [s.printed_name for s in signatures]
    assert [p["entity"][0]["what"]["identifier"]["value"] for p in provenances] == [s.content_hash for s in signatures]

    audit_events = _resources(bundle, "AuditEvent")
    events = list(AuditEvent.objects.filter(case=data.a).order_by("seq"))
    assert [a["subtype"][0]["code"] for a in audit_events] == [e.action for e in events]
    assert [a["entity"][0]["detail"][0]["valueString"] for a in audit_events] == [e.event_hash for e in events]


def _all_references(value) -> list[str]:
    out = []
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "reference" and isinstance(inner, str):
                out.append(inner)
            else:
                out.extend(_all_references(inner))
    elif isinstance(value, list):
        for inner in value:
            out.extend(_all_references(inner))
    return out


@pytest.mark.parametrize("which", ["b", "c", "d", "e", "f"])
def test_every_kind_of_case_gives_a_valid_bundle(officer_client, data, which) -> None:
    case = getattr(data, which)
    bundle = _bundle_from_api(officer_client, case.pk)
    Bundle.model_validate(bundle)
    (procedure,) = _resources(bundle, "Procedure")
    assert procedure["status"] == {"e": "preparation", "f": "in-progress"}.get(which, "in-progress")


def test_the_command_prints_the_same_bundle_as_the_api(officer_client, data) -> None:
    out = io.StringIO()
    call_command("export_fhir", str(data.c.pk), stdout=out)
    from_command = json.loads(out.getvalue())
    from_api = _bundle_from_api(officer_client, data.c.pk)
    # Each export records itself first: the API's bundle is the command's plus its own export
    # event (its last entry), stamped at that event.
    own = from_api["entry"].pop()
    assert own["resource"]["resourceType"] == "AuditEvent"
    assert {"system": ACTION_SYSTEM, "code": "access.exported"} in own["resource"]["subtype"]
    assert from_api.pop("timestamp") > from_command.pop("timestamp")
    assert from_command == from_api
    Bundle.model_validate_json(out.getvalue())


def test_the_command_exits_2_for_an_unknown_case(data) -> None:
    err = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("export_fhir", "999999", stdout=io.StringIO(), stderr=err)
    assert exited.value.code == 2
    assert "No case 999999" in err.getvalue()


def test_the_api_is_404_for_an_unknown_case_and_403_for_the_or_team(officer_client, client, data) -> None:
    assert officer_client.get("/api/v1/cases/999999/fhir/").status_code == 404
    client.force_login(data.one.nurse)
    response = client.get(f"/api/v1/cases/{data.a.pk}/fhir/")
    assert response.status_code == 403
    client.logout()
    assert client.get(f"/api/v1/cases/{data.a.pk}/fhir/").status_code == 401
