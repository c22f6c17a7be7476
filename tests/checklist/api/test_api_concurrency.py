"""Two devices write to one case at the same moment: one wins, the other gets 409, no event is lost.

Each thread has its own database connection (Django's connections are per thread) and the two
requests are released together by a barrier, so they really race for the case's row lock.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from checklist import audit, services
from checklist.access import roles
from checklist.models import AuditEvent, Case, StepAttestation, User
from tests.support.factories import UserFactory
from tests.support.workflow import case_schedule, evidence_record, team_create

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(requests: list[tuple[User, str, dict[str, Any]]]) -> list[tuple[int, dict[str, Any]]]:
    """POST each (user, url, body) from its own thread, all released at once; (status, body) in order."""
    barrier = threading.Barrier(len(requests))
    results: list[tuple[int, dict[str, Any]] | BaseException | None] = [None] * len(requests)

    def run(index: int, user: User, url: str, body: dict[str, Any]) -> None:
        try:
            client = APIClient()
            client.force_authenticate(user)
            barrier.wait(timeout=30)
            response = client.post(url, body, format="json")
            results[index] = (response.status_code, response.json())
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread below
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, *item)) for i, item in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a request hung"
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return [result for result in results if isinstance(result, tuple)]


@pytest.fixture
def ready():
    """A case in the sign-in, two nurses of its room, and the evidence version both devices show."""
    team = team_create()
    second_nurse = UserFactory(username="nurse_b", roles=[roles.NURSE], full_name="Nora Nurse")
    team.room.staff.add(second_nurse)
    case = case_schedule(team)
    evidence_record(team, case)
    services.case_patient_in_room(actor=team.nurse, case=case.pk)
    return team, second_nurse, Case.objects.get(pk=case.pk)


@pytest.mark.parametrize("round_", range(3))
def test_two_nurses_attest_the_same_step_at_once(ready, round_: int) -> None:
    team, second_nurse, case = ready
    url = f"/api/v1/cases/{case.pk}/steps/consent_signed/attest/"
    body = {"expected_version": case.evidence_version, "role": "nurse"}

    results = race([(team.nurse, url, body), (second_nurse, url, body)])

    statuses = sorted(code for code, _ in results)
    assert statuses == [201, 409], results
    loser = next(payload for code, payload in results if code == 409)
    assert set(loser) == {"detail", "errors", "current"}
    current = Case.objects.get(pk=case.pk)
    assert loser["current"]["version"] == current.version
    assert loser["current"]["state"] == current.state
    winner = next(payload for code, payload in results if code == 201)
    live = StepAttestation.objects.filter(run__case=case, step_code="consent_signed", voided_at__isnull=True)
    assert live.count() == 1
    assert live.get().user.username == winner["attestation"]["user"]
    assert AuditEvent.objects.filter(case=case, action="step.attested").count() == 1
    assert audit.verify().ok


def test_two_devices_attesting_different_steps_at_once_both_land_in_the_chain(ready) -> None:
    team, second_nurse, case = ready
    body = {"expected_version": case.evidence_version, "role": "nurse"}
    results = race(
        [
            (team.nurse, f"/api/v1/cases/{case.pk}/steps/consent_signed/attest/", body),
            (second_nurse, f"/api/v1/cases/{case.pk}/steps/site_marked/attest/", body),
        ]
    )
    assert [code for code, _ in results] == [201, 201], results
    events = AuditEvent.objects.filter(case=case, action="step.attested")
    assert sorted(e.after["step"] for e in events) == ["consent_signed", "site_marked"]
    seqs = list(AuditEvent.objects.filter(case=case).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert audit.verify().ok


def test_a_stale_evidence_write_racing_a_fresh_one_gets_409(ready) -> None:
    """Two devices showing the same evidence version each record an anatomy: one is refused."""
    team, _second_nurse, case = ready
    url = f"/api/v1/cases/{case.pk}/anatomy/"
    results = race(
        [
            (team.radiographer, url, {"expected_version": case.evidence_version, "thoracic": 12, "lumbar": 5}),
            (team.nurse, url, {"expected_version": case.evidence_version, "thoracic": 12, "lumbar": 6}),
        ]
    )
    assert sorted(code for code, _ in results) == [201, 409], results
    assert Case.objects.get(pk=case.pk).evidence_version == case.evidence_version + 1
    assert AuditEvent.objects.filter(case=case, action="anatomy.recorded").count() == 2  # one from the setup
    assert audit.verify().ok
