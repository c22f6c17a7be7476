"""An agreeing time-out, end to end over HTTP: what the server costs the people in the room.

Backs the README's "a nurse completes an agreeing time-out in under a minute": the rest of that
minute belongs to the people. For each of several cases (agreeing evidence, signed plan, sign-in
complete, set up through the services) the walk is done twice over:

- **REST API** (token clients, as a tablet app): the surgeon, anesthesia and the nurse each read
  the case, then attest each of their time-out steps; the nurse completes the time-out.
- **Tablet pages** (signed-in browser sessions): each person opens the case page and taps
  "attest my time-out steps" once; the nurse taps "Complete the time-out" and the page reloads.

Reported: the server's time for the whole walk (the sum of gunicorn's per-request times from its
access log), the wall-clock time seen by the client, and the number of requests; medians.

Run: bench/run walk   (PostgreSQL, Redis and gunicorn started for you)
"""

from __future__ import annotations

import json
import re
import statistics
import time
from pathlib import Path
from typing import Any

from bench.server import Gunicorn, Http, csrf_token

WALKS = 5
PEOPLE = ("surgeon", "anesthesia", "nurse")
Row = tuple[str, str, str, str]


def cases_ready(count: int) -> tuple[Any, list[int]]:
    from checklist import services
    from tests.support.workflow import case_schedule, evidence_record, phase_attest, team_create, theatre_for

    team = team_create("Walk OR", suffix="-walk")
    ids = []
    for i in range(count * 2):
        case = case_schedule(team, room=theatre_for(team, f"Walk OR {i}"))
        evidence_record(team, case)
        services.case_patient_in_room(actor=team.nurse, case=case.pk)
        phase_attest(team, case, "sign_in")
        ids.append(case.pk)
    return team, ids


def api_walk(clients: dict[str, Http], case_id: int) -> None:
    base = f"/api/v1/cases/{case_id}/"
    for role in PEOPLE:
        client = clients[role]
        status, _, body = client.get(base)
        assert status == 200, status
        detail = json.loads(body)
        version = detail["evidence_version"]
        for step in detail["checklist"]["steps"]:
            if step["phase"] == "time_out" and role in step["missing_roles"]:
                status, data = client.post_json(
                    f"{base}steps/{step['code']}/attest/", {"expected_version": version, "role": role}
                )
                assert status == 201, (status, data)
    status, data = clients["nurse"].post_json(f"{base}time-out/complete/", {"expected_version": version})
    assert status == 200 and data["case"]["state"] == "localization", (status, data)


# Attributes may stand on lines of their own (djLint formats the templates that way).
_VERSION = re.compile(rb'name="expected_version"\s+value="(\d+)"')


def _version(html: bytes) -> str:
    match = _VERSION.search(html)
    assert match is not None, "no expected_version on the case page"
    return match.group(1).decode()


_SHOWN = re.compile(rb'name="phase"\s+value="time_out"\s*/?>.{0,400}?name="shown"\s+value="([^"]*)"', re.DOTALL)


def _shown(html: bytes) -> str:
    """The token the page signed when it showed the time-out button (issue 12: a tap counts only
    for a button that was on screen, for at least ATTEST_GUARD_SECONDS)."""
    match = _SHOWN.search(html)
    assert match is not None, "no time-out attest button on the case page"
    return match.group(1).decode()


def tablet_walk(browsers: dict[str, Http], case_id: int) -> None:
    """Each person: the case page on their device, one tap (no sooner than the attest guard
    allows, as a person reading the page would), the page again (the redirect)."""
    from django.conf import settings

    page = f"/cases/{case_id}/"
    html = b""
    for role in PEOPLE:
        browser = browsers[role]
        status, _, html = browser.get(page)
        assert status == 200, status
        time.sleep(settings.RIGHTLEVEL_ATTEST_GUARD_SECONDS)
        fields = {"expected_version": _version(html), "phase": "time_out", "role": role, "shown": _shown(html)}
        status, headers, _ = browser.post_form(f"{page}do/attest-phase", fields, token=csrf_token(html))
        assert status == 302, status
        status, _, html = browser.get(headers["location"])
        assert status == 200, status
    nurse = browsers["nurse"]  # the last to tap: her page is current
    fields = {"expected_version": _version(html)}
    status, headers, _ = nurse.post_form(f"{page}do/time-out", fields, token=csrf_token(html))
    assert status == 302, status
    status, _, html = nurse.get(headers["location"])
    assert status == 200 and b"Time-out complete" in html, status


def timed(server: Gunicorn, walk: Any, *args: Any) -> tuple[float, float, int]:
    before = server.access_lines()
    start = time.perf_counter()
    walk(*args)
    wall = time.perf_counter() - start
    time.sleep(0.05)  # the access log line is written after the response
    seconds, requests = server.server_seconds(since_line=before)
    return seconds, wall, requests


def run(server: Gunicorn) -> list[Row]:

    from checklist.models import Case
    from checklist.services.tokens import token_create
    from tests.support.factories import TEST_PASSWORD

    team, ids = cases_ready(WALKS)
    clients = {role: Http(server.port, token=token_create(actor=team.by_role(role), user=team.by_role(role))[1])
               for role in PEOPLE}  # fmt: skip
    browsers = {role: Http(server.port) for role in PEOPLE}
    for role, browser in browsers.items():
        browser.login(team.by_role(role).username, TEST_PASSWORD)
    api = [timed(server, api_walk, clients, case_id) for case_id in ids[:WALKS]]
    tablet = [timed(server, tablet_walk, browsers, case_id) for case_id in ids[WALKS:]]
    assert Case.objects.filter(pk__in=ids, time_out_completed_at__isnull=False).count() == len(ids)

    def row(name: str, samples: list[tuple[float, float, int]]) -> Row:
        server_s = statistics.median(s for s, _, _ in samples)
        wall = statistics.median(w for _, w, _ in samples)
        requests = samples[0][2]
        return (
            f"agreeing time-out, {name} ({requests} requests)",
            f"{server_s:.3f} s server, {wall:.3f} s wall",
            "",
            "< 60 s " + ("OK" if wall < 60 else "MISSED"),
        )

    return [row("REST API", api), row("tablet pages", tablet)]


def main() -> None:
    import os

    from bench.common import django_setup_live, print_table

    django_setup_live()
    with Gunicorn(Path(os.environ.get("BENCH_DIR", "var/bench"))) as server:
        rows = run(server)
    print_table(f"Agreeing time-out over HTTP (median of {WALKS} walks)", rows)


if __name__ == "__main__":
    main()
