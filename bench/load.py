"""The load test end to end (bench/load starts PostgreSQL and Redis and migrates first).

1. Seed the cases through the services (bench/seed_load.py).
2. Start gunicorn (production settings over HTTP, 3 workers x 4 threads).
3. Run locust headless: 40 devices (bench/locustfile.py) for LOAD_SECONDS (default 60).
4. Check: zero 5xx; every attestation, signature and plan version the server acknowledged (201)
   is in the database with its audit event; ``manage.py verify_audit`` exits 0.
5. Print one table: requests, statuses, p50/p95/p99 per kind of request and overall.
Exit status 1 when a check fails.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.common import django_setup_live, print_table
from bench.server import REPO, Gunicorn

USERS = 40


def locust(host: str, bench_dir: Path, seconds: int) -> None:
    command = [
        sys.executable, "-m", "locust", "-f", str(REPO / "bench" / "locustfile.py"), "--headless",
        "--users", str(USERS), "--spawn-rate", "10", "--run-time", f"{seconds}s", "--host", host,
        "--csv", str(bench_dir / "locust"), "--only-summary", "--stop-timeout", "10", "--loglevel", "WARNING",
    ]  # fmt: skip
    # Exit status 1 means "some requests failed": the checks below say which, and why.
    with (bench_dir / "locust.log").open("w") as log:
        subprocess.run(command, cwd=REPO, env={**os.environ, "BENCH_DIR": str(bench_dir)}, check=False,
                       timeout=seconds + 120, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip


def percentiles(bench_dir: Path) -> list[dict[str, str]]:
    with (bench_dir / "locust_stats.csv").open() as f:
        return list(csv.DictReader(f))


def check_acknowledged(log: dict[str, list[int]]) -> list[tuple[str, str, str, str]]:
    from checklist.models import AuditEvent, PlanVersion, Signature, StepAttestation

    rows = []
    for kind, model, object_type in (
        ("attestations", StepAttestation, "StepAttestation"),
        ("signatures", Signature, "Signature"),
        ("plans", PlanVersion, "PlanVersion"),
    ):
        ids = set(log[kind])
        found = set(model.objects.filter(pk__in=ids).values_list("pk", flat=True))
        audited = set(
            AuditEvent.objects.filter(object_type=object_type, object_id__in=[str(i) for i in ids]).values_list(
                "object_id", flat=True
            )
        )
        missing = len(ids - found) + len({str(i) for i in ids} - audited)
        rows.append(
            (
                f"acknowledged {kind} (201) in the database and audited",
                f"{len(found)} of {len(ids)}",
                "",
                "all " + ("OK" if missing == 0 else f"MISSED ({missing} missing)"),
            )
        )
    return rows


def verify_audit() -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, "manage.py", "verify_audit", "--no-progress"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return result.returncode, (result.stdout + result.stderr).strip().splitlines()[-1]


def main() -> None:
    seconds = int(os.environ.get("LOAD_SECONDS", "60"))
    bench_dir = Path(os.environ.get("BENCH_DIR", "var/bench")).resolve()
    bench_dir.mkdir(parents=True, exist_ok=True)
    django_setup_live()
    from bench.seed_load import seed

    started = time.monotonic()
    manifest = seed(bench_dir / "load-manifest.json")
    cases = sum(len(r["cases"]) for r in manifest["rooms"]) + sum(len(s["cases"]) for s in manifest["surgeons"])
    took = time.monotonic() - started
    print(f"== seeded {cases} cases in {took:.0f} s; locust: {USERS} devices, {seconds} s", flush=True)
    with Gunicorn(bench_dir) as server:
        locust(server.base_url, bench_dir, seconds)
    log = json.loads((bench_dir / "load-acknowledged.json").read_text())
    statuses = {int(k): v for k, v in log["statuses"].items()}
    server_errors = sum(v for k, v in statuses.items() if k >= 500)
    other_failures = sum(v for k, v in statuses.items() if k >= 400 and k < 500 and k != 409)
    code, summary = verify_audit()

    rows = []
    for row in percentiles(bench_dir):
        if row["Name"] and int(row["Request Count"]):
            rows.append(
                (
                    f"{row['Name']} ({row['Request Count']} requests, {float(row['Requests/s']):.1f}/s)",
                    f"p50 {row['50%']} ms, p95 {row['95%']} ms, p99 {row['99%']} ms",
                    "",
                    "",
                )
            )
    rows.append(("responses by status", ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())), "", ""))
    rows.append(("server errors (5xx)", str(server_errors), "", "0 " + ("OK" if server_errors == 0 else "MISSED")))
    rows.append(("other refusals (4xx but 409)", str(other_failures), "", "reported"))
    rows += check_acknowledged(log)
    rows.append(("manage.py verify_audit", summary, "", "exit 0 " + ("OK" if code == 0 else f"MISSED (exit {code})")))
    print_table(f"Load test: {USERS} devices for {seconds} s against gunicorn + PostgreSQL + Redis on 127.0.0.1", rows)
    failed = server_errors or code != 0 or any("MISSED" in r[3] for r in rows)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
