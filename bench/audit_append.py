"""Audit appends under concurrency (PostgreSQL): 8 writers on 8 different cases against 1 writer.

Each writer is a process with its own database connection that appends events to its own case's
chain, one transaction per event (``audit.append`` locks only that chain's head row). With no
global lock, eight writers keep both cores busy where one writer waits on its round trips:
throughput(8) / throughput(1) goal >= 1.6 on two cores. Rounds alternate 1 and 8 writers; each
round runs for a fixed time; the trail is verified afterwards.

Run: bench/run append
"""

from __future__ import annotations

import multiprocessing as mp
import statistics
import time

WRITERS = 8
ROUNDS = 3
SECONDS = 4.0
Row = tuple[str, str, str, str]


def _writer(case_id: int, user_id: int, barrier: mp.synchronize.Barrier, results: mp.Queue) -> None:  # type: ignore[type-arg]
    from django.db import connection, transaction

    from checklist import audit
    from checklist.models import Case, User

    case = Case.objects.get(pk=case_id)
    actor = User.objects.get(pk=user_id)
    connection.ensure_connection()
    barrier.wait()
    deadline = time.monotonic() + SECONDS
    done = 0
    while time.monotonic() < deadline:
        with transaction.atomic():
            audit.append(
                action="bench.appended",
                actor=actor,
                case=case,
                object_type="Bench",
                object_id=done,
                after={"n": done, "note": "concurrent append benchmark"},
            )
        done += 1
    connection.close()
    results.put(done)


def _spin(seconds: float, results: mp.Queue) -> None:  # type: ignore[type-arg]
    n, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        sum(range(1000))
        n += 1
    results.put(n)


def cpu_scaling(seconds: float = 2.0) -> float:
    """Pure-Python work in 2 processes against 1: the parallelism the machine offers right now
    (2.0 on two idle cores; less when something else is running)."""
    context = mp.get_context("fork")
    rates = []
    for processes in (1, 2):
        results: mp.Queue = context.Queue()  # type: ignore[type-arg]
        workers = [context.Process(target=_spin, args=(seconds, results)) for _ in range(processes)]
        for worker in workers:
            worker.start()
        rates.append(sum(results.get(timeout=seconds + 30) for _ in workers))
        for worker in workers:
            worker.join()
    return rates[1] / rates[0]


def rate(case_ids: list[int], user_id: int) -> float:
    """Appends per second with one writer process per case, all running for SECONDS."""
    from django.db import connections

    connections.close_all()  # never share a connection across fork
    context = mp.get_context("fork")
    barrier = context.Barrier(len(case_ids))
    results: mp.Queue = context.Queue()  # type: ignore[type-arg]
    workers = [context.Process(target=_writer, args=(c, user_id, barrier, results)) for c in case_ids]
    for worker in workers:
        worker.start()
    total = sum(results.get(timeout=SECONDS + 60) for _ in workers)
    for worker in workers:
        worker.join()
        assert worker.exitcode == 0, worker.exitcode
    return total / SECONDS


def run() -> list[Row]:
    from checklist import audit
    from tests.support.workflow import case_schedule, team_create

    team = team_create("Append OR", suffix="-append")
    cases = [case_schedule(team).pk for _ in range(WRITERS)]
    one: list[float] = []
    many: list[float] = []
    for _ in range(ROUNDS):
        one.append(rate(cases[:1], team.nurse.pk))
        many.append(rate(cases, team.nurse.pk))
    single, concurrent = statistics.median(one), statistics.median(many)
    scaling = cpu_scaling()
    report = audit.verify()
    ratio = concurrent / single
    return [
        ("audit appends, 1 writer", f"{single:,.0f} events/s", "", ""),
        (f"audit appends, {WRITERS} writers on {WRITERS} cases", f"{concurrent:,.0f} events/s", "", ""),
        (
            f"{WRITERS} writers / 1 writer",
            f"trail {'intact' if report.ok else 'BROKEN'}: {report.events:,} events",
            f"{ratio:.2f}",
            ">= 1.6 " + ("OK" if ratio >= 1.6 and report.ok else "MISSED"),
        ),
        ("  CPU scaling of the machine, 2 processes / 1", "pure Python, same run", f"{scaling:.2f}", "(the ceiling)"),
    ]


def main() -> None:
    from bench.common import django_setup_live, print_table

    django_setup_live()
    print_table("Audit appends under concurrency (one run)", run())


if __name__ == "__main__":
    main()
