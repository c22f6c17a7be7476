"""HTTP benchmarks against gunicorn + PostgreSQL (run by bench/run through bench/suite.py).

1. Attesting a step (POST .../steps/{code}/attest/: policy, checklist rules, the attestation row,
   the audit append, the case version bump and the reminder outbox, in one transaction) against
   ``/bench/write/``, an authenticated POST that commits one trivial row. Goal <= 2.0.
2. The status poll answered 304 (ETag, session cookie, ``X-RightLevel-Passive`` as the tablet sends
   it) against ``/bench/constant/``, an authenticated GET returning a constant. Goal <= 1.2. The
   token-authenticated poll is reported too.
3. The tablet case page ``/cases/{id}/`` (session) against the same constant GET: reported, with
   the SQL queries one request makes at two sizes of case (measured in-process), which must be
   equal: the page's query count does not grow with the steps or the audit events.

Requests are sequential over one keep-alive connection; each figure is the mean latency seen
by the client in the fastest of several interleaved rounds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.server import Gunicorn, Http

ROUNDS = 12
PER_ROUND = 20
Row = tuple[str, str, str, str]


@dataclass
class Slot:
    case_id: int
    step: str
    role: str
    expected_version: int


def interleaved_latency(fns: dict[str, Callable[[], object]], *, number: int, rounds: int) -> dict[str, float]:
    """Mean seconds per call in the fastest of ``rounds`` rounds (the least disturbed by anything
    else on the machine); the functions alternate within each round, so drift hits all alike."""
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(number):
                fn()
            samples[name].append((time.perf_counter() - start) / number)
    return {name: min(values) for name, values in samples.items()}


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def verdict(ratio: float, goal: str) -> str:
    op, bound = goal.split()
    ok = ratio <= float(bound) if op == "<=" else ratio >= float(bound)
    return f"{goal} {'OK' if ok else 'MISSED'}"


# --- data -----------------------------------------------------------------------------------------


def attest_slots(count: int) -> tuple[list[Slot], Any]:
    """Cases with agreeing evidence and the patient in the room, and enough (step, role) pairs of
    their sign-in and time-out to attest ``count`` times, in an order the workflow accepts."""
    from checklist import services
    from checklist.models import Case
    from checklist.selectors import checklist_status
    from tests.support.workflow import case_schedule, evidence_record, team_create, theatre_for

    team = team_create("Bench OR", suffix="-bench")
    slots: list[Slot] = []
    while len(slots) < count:
        case = case_schedule(team, room=theatre_for(team, f"Bench OR {len(slots)}"))
        evidence_record(team, case)
        services.case_patient_in_room(actor=team.nurse, case=case)
        # The nurse's identity attestation is the wristband scan (no tick): made here, before the slots.
        services.identity_scan_record(actor=team.nurse, case=case.pk, barcode=case.patient.mrn)
        case = Case.objects.get(pk=case.pk)
        for phase in ("sign_in", "time_out"):
            for step in checklist_status(case):
                if step.phase == phase:
                    slots.extend(Slot(case.pk, step.code, role, case.evidence_version) for role in step.missing_roles)
    return slots[:count], team


def tokens(team: Any) -> dict[str, str]:
    from checklist.services.tokens import token_create

    return {
        role: token_create(actor=team.by_role(role), user=team.by_role(role))[1]
        for role in ("nurse", "surgeon", "anesthesia", "radiographer")
    }


def page_query_counts() -> list[tuple[str, int, int, int]]:
    """SQL queries of one GET /cases/{id}/ for a small and a large case (in-process, same stage)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from checklist import services
    from checklist.models import AuditEvent, Case
    from checklist.selectors import checklist_status
    from tests.support.workflow import case_schedule, evidence_record, phase_attest, team_create, theatre_for

    team = team_create("Bench OR 2", suffix="-pages")
    small = case_schedule(team)
    evidence_record(team, small)
    large = case_schedule(team, procedure="fusion", room=theatre_for(team, "Bench OR 3"))
    evidence_record(team, large, levels="L1-L3", lumbar=6)
    for i in range(60):  # sixty corrections of the consent: sixty more audit events and records
        services.consent_record(
            actor=team.nurse, case=large.pk, procedure="fusion", levels="L1-L3", side="left",
            date_signed=timezone.localdate(), witness=f"Witness {i}",
        )  # fmt: skip
    results = []
    for case in (small, large):
        services.case_patient_in_room(actor=team.nurse, case=case.pk)
        phase_attest(team, case, "sign_in")
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(team.nurse)
        client.get(f"/cases/{case.pk}/")  # warm caches (templates, content types)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/cases/{case.pk}/")
        assert response.status_code == 200, response.status_code
        fresh = Case.objects.get(pk=case.pk)
        results.append(
            (
                fresh.get_procedure_display(),
                len(checklist_status(fresh)),
                AuditEvent.objects.filter(case=fresh).count(),
                len(queries),
            )
        )
    return results


# --- measurement ----------------------------------------------------------------------------------


def run(server: Gunicorn) -> list[Row]:
    from tests.support.factories import TEST_PASSWORD

    total = ROUNDS * PER_ROUND
    slots, team = attest_slots(total + 5)
    keys = tokens(team)
    by_role = {role: Http(server.port, token=key) for role, key in keys.items()}
    writer = Http(server.port, token=keys["nurse"])
    queue = iter(slots)
    statuses: dict[str, list[int]] = {"attest": [], "write": []}

    def attest() -> None:
        slot = next(queue)
        status, _ = by_role[slot.role].post_json(
            f"/api/v1/cases/{slot.case_id}/steps/{slot.step}/attest/",
            {"expected_version": slot.expected_version, "role": slot.role},
        )
        statuses["attest"].append(status)

    def write() -> None:
        status, _ = writer.post_json("/bench/write/", {"expected_version": 1, "role": "nurse"})
        statuses["write"].append(status)

    attest()  # warm both paths (first request of a worker imports and connects)
    write()
    writes = interleaved_latency({"attest": attest, "write": write}, number=PER_ROUND, rounds=ROUNDS)
    bad = [s for s in statuses["attest"] if s != 201] + [s for s in statuses["write"] if s != 201]
    assert not bad, f"unexpected statuses {bad[:10]}"

    # Polls and pages: a nurse's browser session (login over HTTP), and a token client.
    case_id = slots[0].case_id
    browser = Http(server.port)
    browser.login(team.nurse.username, TEST_PASSWORD)
    passive = {"X-RightLevel-Passive": "1"}
    _, headers, _ = browser.get(f"/api/v1/cases/{case_id}/status", passive)
    etag = headers["etag"]
    api = Http(server.port, token=keys["nurse"])

    def expect(client: Http, path: str, status: int, headers: dict[str, str] | None = None) -> Callable[[], None]:
        def call() -> None:
            got, _, _ = client.get(path, headers)
            assert got == status, (path, got)

        return call

    status_path = f"/api/v1/cases/{case_id}/status"
    reads = interleaved_latency(
        {
            "poll": expect(browser, status_path, 304, {**passive, "If-None-Match": etag}),
            "constant": expect(browser, "/bench/constant/", 200, passive),
            "poll_token": expect(api, status_path, 304, {"If-None-Match": etag}),
            "constant_token": expect(api, "/bench/constant/", 200),
        },
        number=PER_ROUND * 2,
        rounds=ROUNDS,
    )
    pages = interleaved_latency(
        {"page": expect(browser, f"/cases/{case_id}/", 200), "constant": expect(browser, "/bench/constant/", 200)},
        number=PER_ROUND // 2,
        rounds=ROUNDS,
    )
    counts = page_query_counts()

    attest_ratio = writes["attest"] / writes["write"]
    poll_ratio = reads["poll"] / reads["constant"]
    token_ratio = reads["poll_token"] / reads["constant_token"]
    page_ratio = pages["page"] / pages["constant"]
    (small_name, small_steps, small_events, small_q), (large_name, large_steps, large_events, large_q) = counts
    return [
        ("attest a step (POST, 201)", ms(writes["attest"]), "", ""),
        ("baseline POST inserting one row", ms(writes["write"]), "", ""),
        ("attest / baseline POST", "", f"{attest_ratio:.2f}", verdict(attest_ratio, "<= 2.0")),
        ("status poll 304 (session, passive)", ms(reads["poll"]), "", ""),
        ("baseline GET constant (session)", ms(reads["constant"]), "", ""),
        ("status 304 / baseline GET", "", f"{poll_ratio:.2f}", verdict(poll_ratio, "<= 1.2")),
        ("status 304 / baseline GET (token)", f"{ms(reads['poll_token'])} vs {ms(reads['constant_token'])}",
         f"{token_ratio:.2f}", "reported"),
        ("tablet case page (session)", ms(pages["page"]), "", ""),
        ("case page / baseline GET", "", f"{page_ratio:.2f}", "reported"),
        (f"case page SQL queries, {small_name}", f"{small_q} ({small_steps} steps, {small_events} events)", "", ""),
        (
            f"case page SQL queries, {large_name}",
            f"{large_q} ({large_steps} steps, {large_events} events)",
            "",
            "equal " + ("OK" if small_q == large_q else "MISSED"),
        ),
    ]  # fmt: skip
