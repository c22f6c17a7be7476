"""Shared set-up for benchmarks: Django on a throwaway test database, timing helpers."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def django_setup(root_urlconf: str = "bench.urls") -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    scratch = Path(tempfile.mkdtemp(prefix="rightlevel-bench-"))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{scratch / 'bench.sqlite3'}")
    import django
    from django.conf import settings

    django.setup()
    settings.ROOT_URLCONF = root_urlconf
    settings.DEBUG = False
    from django.test.utils import setup_test_environment

    setup_test_environment()
    from django.db import connection

    if connection.vendor == "sqlite":
        connection.settings_dict["TEST"]["NAME"] = str(scratch / "bench-test.sqlite3")
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)


def django_setup_live(settings_module: str = "bench.settings") -> None:
    """Django on the database DATABASE_URL names, as it is (bench/run has just migrated it): the
    database the gunicorn under test serves, so what the bench writes the server sees."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module)
    if "DATABASE_URL" not in os.environ:
        sys.exit("DATABASE_URL is not set: run the benchmarks with bench/run, which starts PostgreSQL")
    import django

    django.setup()


def best_per_call(fn: Callable[[], object], *, number: int, repeat: int = 7) -> float:
    """Fastest mean seconds per call over ``repeat`` runs of ``number`` calls (least noisy figure)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number)
    return min(times)


def interleaved_rate(fns: dict[str, Callable[[], object]], *, number: int, rounds: int = 7) -> dict[str, float]:
    """Calls per second of each function, measured in alternating rounds so drift hits all alike."""
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(number):
                fn()
            samples[name].append(number / (time.perf_counter() - start))
    return {name: statistics.median(values) for name, values in samples.items()}


def print_table(title: str, rows: list[tuple[str, str, str, str]]) -> None:
    print(f"\n{title}")
    header = ("measure", "figure", "ratio", "goal")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)))
