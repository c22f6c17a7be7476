"""Fuzzing the REST API from its own OpenAPI schema (schemathesis), in-process through WSGI.

Every operation of ``/api/schema/`` gets valid and invalid input (schemathesis' positive and
negative generation), half the time aimed at a real case (so the writes reach the services, not
only the 404), authenticated with an API token as a nurse of the case's room and as its surgeon.
No response may be a server error, and every response must be one the schema documents, in the
shape it documents. Bounded for CI: a few examples per operation and mode, derandomized so a run
is repeatable, no deadline (the first request of a worker is slow).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from checklist import services
from checklist.models import Case
from tests.support.api_workflow import token_client
from tests.support.workflow import Team, case_schedule, case_through_time_out, evidence_record, team_create

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

EXAMPLES = 12
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def wsgi_app(settings: Any, tmp_path: Any) -> Iterator[WSGIHandler]:
    """Django's WSGI application, sharing the test's database connection and transaction (as the
    test client does, the connection is not closed at the end of each request)."""
    settings.MEDIA_ROOT = str(tmp_path)
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def world(settings: Any, tmp_path: Any) -> tuple[Team, list[dict[str, Any]]]:
    """Two real cases to aim at: one in the sign-in (steps to attest), one past the time-out with a
    level image read (localization, durable mark, confirmation); the ids their paths take."""
    team = team_create()
    signing_in = case_schedule(team)
    evidence_record(team, signing_in)
    services.case_patient_in_room(actor=team.nurse, case=signing_in.pk)
    # In another room with the same team: one patient per room, and both patients are in.
    next_door, _ = services.room_ensure(
        actor=team.admin, name="OR 2", staff=[team.nurse, team.anesthesia, team.radiographer]
    )
    localizing = case_through_time_out(team, _with_evidence(team, case_schedule(team, room=next_door)))
    image = services.localization_record(
        actor=team.radiographer, case=localizing.pk, phase="pre_incision", reference="sacrum", count=4, label="L2",
        marker_in_place=True, read_by=team.surgeon,
    )  # fmt: skip
    # And a level image counted by taps, for the second-read operations.
    from imaging.services import image_read_record
    from imaging.store import LocalImageStore
    from tests.imaging.test_reads import receive, taps_from_sacrum_to

    settings.IMAGING_STORAGE_DIR = tmp_path / "images"
    level_image, layout = receive(LocalImageStore(settings.IMAGING_STORAGE_DIR), localizing)
    read = image_read_record(
        actor=team.radiographer, image=level_image, case=localizing, phase="pre_incision", reference="sacrum",
        taps=taps_from_sacrum_to(layout, "L3"), label="L3", marker_in_place=True, read_by=team.radiographer,
    )  # fmt: skip
    return team, [
        {"case_id": signing_in.pk, "number": 1, "step_code": "patient_identity_confirmed", "localization_id": image.pk},
        {"case_id": localizing.pk, "number": 1, "step_code": "level_image_read", "localization_id": image.pk,
         "read_id": read.pk, "image_id": level_image.pk},
    ]  # fmt: skip


def _with_evidence(team: Team, case: Any) -> Any:
    evidence_record(team, case)
    return case


def _auth(user: Any) -> dict[str, str]:
    return {"Authorization": token_client(user)._credentials["HTTP_AUTHORIZATION"]}


@pytest.mark.parametrize("who", ["nurse", "surgeon"])
def test_no_server_error_and_no_response_outside_the_schema(wsgi_app, world, who) -> None:
    team, real = world
    headers = _auth(getattr(team, who))
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app, headers=headers)
    # Revoking the token ends this client's session by design (every later call would be a 401, a
    # false green): tests/checklist/access/test_tokens.py covers it.
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations if op.path != "/api/v1/auth/token/revoke/"]
    assert len(operations) >= 20, [op.label for op in operations]
    failures: dict[str, str] = {}  # one example of each distinct failure
    answered: dict[str, set[int]] = {}  # operation -> the statuses it answered with

    real_cases = {ids["case_id"] for ids in real}

    def call_and_check(case: Any) -> None:
        body, case_id = case.body, (case.path_parameters or {}).get("case_id")
        if case_id in real_cases and isinstance(body, dict) and isinstance(body.get("expected_version"), int):
            # The version the device would have shown: the write reaches the service, past the 409.
            body["expected_version"] = Case.objects.get(pk=case_id).evidence_version
        response = case.call(headers=headers)
        answered.setdefault(case.operation.label, set()).add(response.status_code)
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:  # collected: every operation runs, all failures are reported
            for failure in group.exceptions:
                key = f"{case.operation.label}: {failure.title} (HTTP {response.status_code})"
                failures.setdefault(key, f"{key}\n{str(group)[:1500]}")

    for operation in operations:
        strategies = []
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategies.append(operation.as_strategy(generation_mode=mode))
            for ids in real:
                fixed = {name: value for name, value in ids.items() if f"{{{name}}}" in operation.path}
                if fixed:
                    strategies.append(operation.as_strategy(generation_mode=mode, path_parameters=fixed))
        fuzz = settings(
            max_examples=EXAMPLES * len(strategies),
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )(given(case=st.one_of(strategies))(call_and_check))
        fuzz()

    assert not failures, "\n".join(failures) + "\n\n" + "\n\n".join(list(failures.values())[:5])
    # The fuzzing reached past the routing and the case lookup (an answer other than 404) on every
    # operation, and writes went through the services to a success.
    report = "\n".join(f"{label}: {sorted(statuses)}" for label, statuses in sorted(answered.items()))
    assert all(statuses - {404} for statuses in answered.values()), report
    writes = {label for label, statuses in answered.items() if label.startswith("POST") and statuses & {200, 201}}
    assert len(writes) >= 4, report
