"""The compliance dashboard (/quality/) at 1,000 and at 100,000 cases, over HTTP (reported).

Bare cases are bulk-created in a date window of their own (every state of the workflow, with
plausible timestamps), so the dashboard's date filter covers exactly 1,000 and then 100,000 of
them. Reported: the page's median latency at both sizes, their ratio, and the SQL queries one
request makes (in-process), which must not grow with the number of cases.

Run: bench/run dashboard
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import time
from pathlib import Path
from typing import Any

from bench.server import Gunicorn, Http

SMALL, LARGE = 1_000, 100_000
REQUESTS = 5
WINDOW = (dt.date(2024, 1, 1), dt.date(2024, 12, 31))
Row = tuple[str, str, str, str]


def bulk_cases(count: int, *, team: Any, start_index: int) -> None:
    """``count`` bare cases (patient, room, surgeon, state, timestamps) in WINDOW, 5,000 a batch."""
    from django.utils import timezone

    from checklist.models import Case, CaseState, Patient, Verdict

    rng = random.Random(start_index)
    first = timezone.make_aware(dt.datetime.combine(WINDOW[0], dt.time(7)))
    span_minutes = (WINDOW[1] - WINDOW[0]).days * 24 * 60
    states = [CaseState.SCHEDULED, CaseState.SIGN_IN, CaseState.TIME_OUT, CaseState.LOCALIZATION,
              CaseState.SIGN_OUT, CaseState.COMPLETED, CaseState.CANCELLED]  # fmt: skip
    for batch_start in range(0, count, 5000):
        n = min(5000, count - batch_start)
        patients = Patient.objects.bulk_create(
            Patient(mrn=f"BENCH{start_index + batch_start + i:07d}", family_name="Bench", given_name="Case",
                    date_of_birth=dt.date(1960, 1, 1))
            for i in range(n)
        )  # fmt: skip
        cases = []
        for patient in patients:
            start = first + dt.timedelta(minutes=rng.randrange(span_minutes))
            stage = rng.randrange(len(states))
            state = states[stage]
            reached = 0 if state == CaseState.CANCELLED else stage
            in_room = start + dt.timedelta(minutes=rng.randrange(30)) if reached >= 1 else None
            time_out = in_room + dt.timedelta(minutes=rng.randrange(5, 70)) if in_room and reached >= 3 else None
            localized = time_out + dt.timedelta(minutes=rng.randrange(5, 40)) if time_out and reached >= 4 else None
            ended = localized + dt.timedelta(minutes=30) if localized and reached >= 5 else None
            cases.append(
                Case(patient=patient, room=team.room, scheduled_start=start, surgeon=team.surgeon,
                     anesthesia=team.anesthesia, procedure="selective_nerve_root_block", state=state,
                     verdict=Verdict.PASS if reached >= 3 else Verdict.INCOMPLETE, patient_in_room_at=in_room,
                     time_out_completed_at=time_out, localization_passed_at=localized, procedure_ended_at=ended,
                     signed_out_at=ended if state == CaseState.COMPLETED else None)
            )  # fmt: skip
        Case.objects.bulk_create(cases)


def page_queries(user: Any, path: str) -> int:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    client.get(path)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200, response.status_code
    return len(queries)


def page_seconds(browser: Http, path: str) -> float:
    browser.get(path)  # warm
    samples = []
    for _ in range(REQUESTS):
        start = time.perf_counter()
        status, _, _ = browser.get(path)
        samples.append(time.perf_counter() - start)
        assert status == 200, status
    return statistics.median(samples)


def run(server: Gunicorn) -> list[Row]:
    from django.db import connection

    from checklist.models import Case
    from tests.support.factories import TEST_PASSWORD
    from tests.support.workflow import team_create

    team = team_create("Dashboard OR", suffix="-dash")
    browser = Http(server.port)
    browser.login(team.quality.username, TEST_PASSWORD)
    path = f"/quality/?date_from={WINDOW[0]}&date_to={WINDOW[1]}"
    figures = {}
    queries = {}
    created = 0
    for size in (SMALL, LARGE):
        started = time.perf_counter()
        bulk_cases(size - created, team=team, start_index=created)
        created = size
        build = time.perf_counter() - started
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        in_window = Case.objects.filter(scheduled_start__date__range=WINDOW).count()
        assert in_window == size, in_window
        figures[size] = page_seconds(browser, path)
        queries[size] = page_queries(team.quality, path)
        print(f"   {size:,} cases (bulk-created in {build:.1f} s): {figures[size] * 1000:.0f} ms", flush=True)
    ratio = figures[LARGE] / figures[SMALL]
    return [
        (f"quality dashboard, {SMALL:,} cases", f"{figures[SMALL] * 1000:.0f} ms, {queries[SMALL]} queries", "", ""),
        (f"quality dashboard, {LARGE:,} cases", f"{figures[LARGE] * 1000:.0f} ms, {queries[LARGE]} queries", "", ""),
        (
            f"dashboard {LARGE:,} / {SMALL:,} cases",
            "queries " + ("equal" if queries[SMALL] == queries[LARGE] else "GROW"),
            f"{ratio:.1f}",
            "reported",
        ),
    ]


def main() -> None:
    import os

    from bench.common import django_setup_live, print_table

    django_setup_live()
    with Gunicorn(Path(os.environ.get("BENCH_DIR", "var/bench"))) as server:
        print_table("Compliance dashboard (one run)", run(server))


if __name__ == "__main__":
    main()
