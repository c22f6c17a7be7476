"""Every benchmark of bench/run in one process, printed as ONE table (bench/run starts the services).

Sections, in this order (later ones add data the earlier ones must not see):
  api        attest vs a trivial write, status 304 vs a constant GET, the case page (bench/api.py)
  walk       an agreeing time-out over HTTP, server seconds (bench/timeout_walk.py)
  verify     verify_audit throughput vs sha256 over the same canonical bytes (bench/audit_verify.py)
  nightly    the nightly incremental verification vs the full one at two trail sizes (bench/audit_verify.py)
  append     audit appends, 8 concurrent writers on 8 cases vs 1 writer (bench/audit_append.py)
  ingest     HL7 messages over MLLP, recorded, applied and audited vs bare python-hl7 parsing (bench/hl7_ingest.py)
  offline    the tablet offline (Chromium): verdict per check, replay of 100 queued writes, cache (bench/offline.py)
  dashboard  the compliance dashboard at 100,000 cases vs 1,000 (bench/dashboard.py)

Run: bench/run [section ...]
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

from bench.common import django_setup_live, print_table

SECTIONS = ("api", "walk", "verify", "nightly", "append", "ingest", "offline", "dashboard")


def main() -> None:
    wanted = sys.argv[1:] or list(SECTIONS)
    unknown = sorted(set(wanted) - set(SECTIONS))
    if unknown:
        sys.exit(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    django_setup_live()
    from django.db import connection

    from bench import api, audit_append, audit_verify, dashboard, hl7_ingest, offline, timeout_walk
    from bench.server import Gunicorn

    started = time.monotonic()
    rows: list[tuple[str, str, str, str]] = []
    log_dir = Path(os.environ.get("BENCH_DIR", "var/bench"))
    with Gunicorn(log_dir) as server:
        for name, section in (("api", api.run), ("walk", timeout_walk.run), ("dashboard", None)):
            if name in wanted and section is not None:
                print(f"== {name}", flush=True)
                rows += section(server)
        if "verify" in wanted:
            print("== verify", flush=True)
            rows += audit_verify.run_live()
        if "nightly" in wanted:
            print("== nightly", flush=True)
            rows += audit_verify.run_nightly()
        if "append" in wanted:
            print("== append", flush=True)
            rows += audit_append.run()
        if "ingest" in wanted:
            print("== ingest", flush=True)
            rows += hl7_ingest.run()
        if "offline" in wanted:
            print("== offline", flush=True)
            rows += offline.run(server)
        if "dashboard" in wanted:  # last: its 100,000 bare cases have no audit trail
            print("== dashboard", flush=True)
            rows += dashboard.run(server)
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg = cursor.fetchone()[0]
    print_table(
        f"RightLevel benchmarks: PostgreSQL {pg}, gunicorn 3 workers x 4 threads, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs; one run, {time.monotonic() - started:.0f} s",
        rows,
    )


if __name__ == "__main__":
    main()
