"""Idempotency-Key (issue 18, item 2): a write sent again with its key runs once; the repeat gets
the first answer and writes nothing (checklist/idempotency.py)."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from checklist import services
from checklist.access import roles
from checklist.idempotency import HEADER, KEY_INVALID, REPLAYED_HEADER
from checklist.models import AuditEvent, Case, IdempotencyKey, Localization, StepAttestation
from checklist.tasks import idempotency_keys_purge
from tests.support.api_workflow import token_client
from tests.support.factories import UserFactory
from tests.support.workflow import Team, case_schedule, evidence_record, team_create

STEP = "consent_signed"


def _ready(team: Team) -> Case:
    """A case in the sign-in with its evidence recorded: a nurse may attest a sign-in step."""
    case = case_schedule(team)
    evidence_record(team, case)
    services.case_patient_in_room(actor=team.nurse, case=case.pk)
    return Case.objects.get(pk=case.pk)


def _attest_url(case: Case) -> str:
    return f"/api/v1/cases/{case.pk}/steps/{STEP}/attest/"


def _attest(client: APIClient, case: Case, key: str | None, **body: Any) -> Any:
    headers = {} if key is None else {HEADER: key}
    data = {"expected_version": case.evidence_version, "role": "nurse", **body}
    return client.post(_attest_url(case), data, format="json", headers=headers)


@pytest.mark.django_db
def test_a_repeat_gets_the_first_answer_and_writes_nothing(team: Team) -> None:
    case = _ready(team)
    client = token_client(team.nurse)
    first = _attest(client, case, "queue-1:step.attest")
    assert first.status_code == 201, first.content
    assert REPLAYED_HEADER not in first
    attestations, events = StepAttestation.objects.count(), AuditEvent.objects.count()
    version = Case.objects.get(pk=case.pk).version

    again = _attest(client, case, "queue-1:step.attest")

    assert again.status_code == 201
    assert again[REPLAYED_HEADER] == "true"
    assert again.content == first.content
    assert again["Content-Type"] == first["Content-Type"]
    assert (StepAttestation.objects.count(), AuditEvent.objects.count()) == (attestations, events)
    assert Case.objects.get(pk=case.pk).version == version
    # Without the key the same body is a stale write: the replay is not the view running again.
    assert _attest(client, case, None).status_code == 409
    record = IdempotencyKey.objects.get(key="queue-1:step.attest")
    assert (record.user, record.method, record.status_code) == (team.nurse, "POST", 201)
    assert record.path == _attest_url(case)


@pytest.mark.django_db
def test_the_key_row_and_the_write_commit_together(team: Team) -> None:
    """A write that fails after the claim leaves no key: the claim was in its transaction."""
    case = _ready(team)
    client = token_client(team.nurse)
    refused = _attest(client, case, "k-stale", expected_version=case.evidence_version - 1)
    assert refused.status_code == 409
    # A deterministic refusal is kept and replayed too (the same request would get it again).
    assert IdempotencyKey.objects.get(key="k-stale").status_code == 409
    assert _attest(client, case, "k-stale", expected_version=case.evidence_version - 1)[REPLAYED_HEADER] == "true"
    assert not StepAttestation.objects.exists()


@pytest.mark.django_db
def test_a_server_error_keeps_neither_the_key_nor_the_write(team: Team, monkeypatch) -> None:
    from checklist import apis

    case = _ready(team)
    client = token_client(team.nurse)
    events = AuditEvent.objects.count()
    real = apis.services.step_attest

    def attest_then_fail(**kwargs: Any) -> Any:
        real(**kwargs)
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(apis.services, "step_attest", attest_then_fail)
    client.raise_request_exception = False
    assert _attest(client, case, "k-500").status_code == 500
    assert not IdempotencyKey.objects.filter(key="k-500").exists()
    assert not StepAttestation.objects.exists()
    assert AuditEvent.objects.count() == events
    monkeypatch.setattr(apis.services, "step_attest", real)
    assert _attest(client, case, "k-500").status_code == 201  # tried again, it runs
    assert StepAttestation.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "what"),
    [
        ({"role": "surgeon"}, "another body"),
        ({"path": "steps/patient_identity/attest/"}, "another path"),
    ],
)
def test_the_same_key_for_another_request_is_a_422(team: Team, change: dict[str, str], what: str) -> None:
    case = _ready(team)
    client = token_client(team.nurse)
    assert _attest(client, case, "k-1").status_code == 201
    events = AuditEvent.objects.count()
    if "path" in change:
        url = f"/api/v1/cases/{case.pk}/{change['path']}"
        body = {"expected_version": Case.objects.get(pk=case.pk).evidence_version, "role": "nurse"}
        response = client.post(url, body, format="json", headers={HEADER: "k-1"})
    else:
        response = _attest(client, case, "k-1", **change)
    assert response.status_code == 422
    payload = response.json()
    assert what in payload["detail"] and "already used for a different request" in payload["detail"]
    assert payload["errors"] == {HEADER: [payload["detail"]]}
    assert AuditEvent.objects.count() == events
    assert StepAttestation.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "a" * 101, "has space", "semi;colon", "ünïcode", "slash/"])
def test_a_bad_key_is_a_400_naming_the_header(team: Team, key: str) -> None:
    case = _ready(team)
    client = token_client(team.nurse)
    response = _attest(client, case, key)
    assert response.status_code == 400
    assert response.json()["errors"] == {HEADER: [KEY_INVALID]}
    assert not StepAttestation.objects.exists()
    assert not IdempotencyKey.objects.exists()


@pytest.mark.django_db
def test_the_longest_and_every_allowed_character_are_accepted(team: Team) -> None:
    case = _ready(team)
    key = ("Az09_-:." * 13)[:100]
    assert _attest(token_client(team.nurse), case, key).status_code == 201
    assert IdempotencyKey.objects.filter(key=key).exists()


@pytest.mark.django_db
def test_a_key_belongs_to_its_user(team: Team) -> None:
    """Another user's request with the same key runs (and is not handed the first user's answer)."""
    case = _ready(team)
    other = UserFactory(username="nurse_b", roles=[roles.NURSE], full_name="Nora Nurse")
    team.room.staff.add(other)
    assert _attest(token_client(team.nurse), case, "shared").status_code == 201
    response = _attest(token_client(other), Case.objects.get(pk=case.pk), "shared")
    assert REPLAYED_HEADER not in response
    assert IdempotencyKey.objects.filter(key="shared").count() == 2


@pytest.mark.django_db
def test_an_expired_session_refusal_is_not_kept(team: Team) -> None:
    """A 403 (here: CSRF) may change with no change to the request: the key is released."""
    case = _ready(team)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(team.nurse)
    assert _attest(client, case, "k-csrf").status_code == 403
    assert not IdempotencyKey.objects.filter(key="k-csrf").exists()


@pytest.mark.django_db
def test_reads_and_anonymous_requests_are_not_keyed(team: Team) -> None:
    case = _ready(team)
    client = token_client(team.nurse)
    assert client.get(f"/api/v1/cases/{case.pk}/", headers={HEADER: "k-get"}).status_code == 200
    assert APIClient().post(_attest_url(case), {}, format="json", headers={HEADER: "k-anon"}).status_code == 401
    assert not IdempotencyKey.objects.exists()


@pytest.mark.django_db
def test_a_tablet_form_post_is_replayed_once(team: Team) -> None:
    client = Client()
    client.force_login(team.nurse)
    start = (timezone.localtime() + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    data = {
        "mrn": "IDEM-001", "family_name": "Queue", "given_name": "Quinn", "date_of_birth": "1970-01-02",
        "room": "OR 1", "scheduled_start": start, "procedure": "discectomy", "surgeon": "surgeon", "anesthesia": "",
    }  # fmt: skip
    first = client.post("/cases/new/", data, headers={HEADER: "form-1"})
    assert first.status_code == 302
    events = AuditEvent.objects.count()
    again = client.post("/cases/new/", data, headers={HEADER: "form-1"})
    assert again.status_code == 302 and again["Location"] == first["Location"]
    assert again[REPLAYED_HEADER] == "true"
    assert Case.objects.filter(patient__mrn="IDEM-001").count() == 1
    assert AuditEvent.objects.count() == events
    bad = client.post("/cases/new/", data, headers={HEADER: "bad key"})
    assert bad.status_code == 400 and KEY_INVALID in bad.content.decode()


@pytest.mark.django_db
def test_keys_past_their_retention_are_purged(team: Team, settings) -> None:
    settings.RIGHTLEVEL_IDEMPOTENCY_RETENTION_DAYS = 7
    case = _ready(team)
    client = token_client(team.nurse)
    assert _attest(client, case, "old").status_code == 201
    IdempotencyKey.objects.filter(key="old").update(created_at=timezone.now() - dt.timedelta(days=8))
    fresh = IdempotencyKey.objects.create(
        user=team.nurse, key="fresh", method="POST", path="/x", body_sha256="0" * 64, status_code=201,
        created_at=timezone.now() - dt.timedelta(days=6),
    )  # fmt: skip
    assert idempotency_keys_purge() == 1
    assert list(IdempotencyKey.objects.values_list("pk", flat=True)) == [fresh.pk]
    from checklist.periodic_tasks import periodic_task_specs

    assert "checklist.tasks.idempotency_keys_purge" in {spec.task for spec in periodic_task_specs()}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(3))
def test_two_requests_with_the_same_key_at_once_write_once(round_: int) -> None:
    """The second waits on the key's unique index while the first runs, then replays its answer."""
    team = team_create()
    case = _ready(team)
    url, body = _attest_url(case), {"expected_version": case.evidence_version, "role": "nurse"}
    barrier = threading.Barrier(2)
    results: list[Any] = [None, None]
    clients = [token_client(team.nurse), token_client(team.nurse)]  # one device's two retries

    def run(index: int) -> None:
        try:
            client = clients[index]
            barrier.wait(timeout=30)
            response = client.post(url, body, format="json", headers={HEADER: f"race-{round_}"})
            results[index] = (response.status_code, response.get(REPLAYED_HEADER), response.content)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread below
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a request hung"
    for result in results:
        if isinstance(result, BaseException):
            raise result
    assert sorted(status for status, _, _ in results) == [201, 201], results
    assert sorted(str(replayed) for _, replayed, _ in results) == ["None", "true"]
    assert results[0][2] == results[1][2]
    assert StepAttestation.objects.filter(run__case=case).count() == 1
    assert AuditEvent.objects.filter(case=case, action="step.attested").count() == 1
    assert IdempotencyKey.objects.filter(key=f"race-{round_}").count() == 1


@pytest.mark.django_db
def test_the_offline_queue_chains_its_own_writes_and_still_gets_the_409_for_anyone_elses(team: Team) -> None:
    """Two level images kept offline from one view of the case: the first answers the version it
    made (204, X-Evidence-Version), the second expects that one; a change by another device
    between them is still a 409."""
    from checklist.views import QUEUE_HEADER
    from tests.support.workflow import case_through_time_out

    case = case_schedule(team)
    evidence_record(team, case)
    case = case_through_time_out(team, case)
    client = Client()
    client.force_login(team.radiographer)
    seen = case.evidence_version

    def image(key: str, version: int, count: int, reference: str) -> Any:
        data = {"localization-expected_version": version, "localization-phase": "pre_incision",
                "localization-reference": reference, "localization-count": count, "localization-label": "L2",
                "localization-marker_in_place": "yes", "localization-side": "left",
                "localization-read_by": team.surgeon.pk}  # fmt: skip
        return client.post(f"/cases/{case.pk}/do/localization", data, headers={HEADER: key, QUEUE_HEADER: "1"})

    first = image("q-1", seen, 4, "sacrum")
    assert first.status_code == 204, first.content
    moved = int(first["X-Evidence-Version"])
    assert moved == Case.objects.get(pk=case.pk).evidence_version > seen
    again = image("q-1", seen, 4, "sacrum")  # the tab crashed before it removed the first from its queue
    assert again.status_code == 204 and again[REPLAYED_HEADER] == "true" and again["X-Evidence-Version"] == str(moved)
    assert image("q-2", moved, 2, "last_rib").status_code == 204
    assert Localization.objects.filter(case=case).count() == 2
    # Someone else records the anatomy meanwhile: the queue's next write, from the old view, is a 409.
    services.anatomy_record(actor=team.radiographer, case=case.pk, thoracic=12, lumbar=5)
    stale = image("q-3", moved + 1, 3, "c2")
    assert stale.status_code == 409
    assert Localization.objects.filter(case=case).count() == 2
