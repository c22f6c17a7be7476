"""Load test: 40 simulated devices against gunicorn + PostgreSQL + Redis (run by bench/load).

- 30 **room tablets** (six per room, five rooms): each polls its case's status every 2 seconds
  with its ETag, as the tablet page does (``X-RightLevel-Passive``). When the case changed (200)
  it reads the case and, most of the time, attests one step still missing in the open phase under
  the role that step waits for (the nurse, anesthesia, radiographer or surgeon tapping on the
  room's tablet), and completes the time-out when every step is in. Six tablets on the same case:
  conflicts (409) are expected; they are part of the workflow, not errors.
- 10 **surgeon phones**: each polls one of its cases and, every few seconds, e-signs the plan in
  force (password again) or, when it is signed, writes a new version to sign next.

Every attestation and signature the server acknowledged (201) is logged with its id, with the
count of responses by status code, to ``$BENCH_DIR/load-acknowledged.json`` when the test stops;
bench/load_check.py then finds each of them in the database. The devices read their tokens and
cases from ``$BENCH_DIR/load-manifest.json`` (written by bench/seed_load.py).
"""

from __future__ import annotations

import itertools
import json
import os
import random
from collections import Counter
from pathlib import Path
from typing import Any

from locust import HttpUser, between, constant, events, task

BENCH_DIR = Path(os.environ.get("BENCH_DIR", "var/bench"))
MANIFEST: dict[str, Any] = json.loads((BENCH_DIR / "load-manifest.json").read_text())
ATTEST_CHANCE = 0.6
PHASES = ("sign_in", "time_out")
ACCEPTED = {200, 201, 304, 409}

acknowledged: dict[str, list[int]] = {"attestations": [], "signatures": [], "plans": []}
statuses: Counter[int] = Counter()
_rooms = itertools.cycle(range(len(MANIFEST["rooms"])))
_surgeons = itertools.cycle(range(len(MANIFEST["surgeons"])))


def checked(response: Any) -> Any:
    """Count the status; 2xx, 304 and 409 are fine, anything else a failure (5xx above all)."""
    statuses[response.status_code] += 1
    if response.status_code not in ACCEPTED:
        response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
    else:
        response.success()
    return response


class Device(HttpUser):
    abstract = True
    token = ""
    case_id = 0
    etag = ""

    def headers(self, token: str | None = None, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Token {token or self.token}", "X-RightLevel-Passive": "1", **extra}

    def poll(self) -> bool:
        """The tablet's 2-second poll; True when the case changed since the last one."""
        with self.client.get(
            f"/api/v1/cases/{self.case_id}/status",
            headers=self.headers(**({"If-None-Match": self.etag} if self.etag else {})),
            name="GET status",
            catch_response=True,
        ) as response:
            checked(response)
            if response.status_code == 200:
                self.etag = response.headers.get("ETag", "")
                return True
            return False

    def detail(self) -> dict[str, Any] | None:
        with self.client.get(
            f"/api/v1/cases/{self.case_id}/", headers=self.headers(), name="GET case", catch_response=True
        ) as response:
            checked(response)
            return response.json() if response.status_code == 200 else None

    def post(self, path: str, body: dict[str, Any], name: str, token: str | None = None) -> Any:
        url = f"/api/v1/cases/{self.case_id}/{path}"
        with self.client.post(url, json=body, headers=self.headers(token), name=name, catch_response=True) as response:
            return checked(response)


class RoomTablet(Device):
    fixed_count = 30
    wait_time = constant(2)

    def on_start(self) -> None:
        self.room = MANIFEST["rooms"][next(_rooms)]
        self.tokens: dict[str, str] = self.room["tokens"]
        self.token = self.tokens["nurse"]
        self.queue = list(self.room["cases"])
        self.case_id = self.queue.pop(0)

    def next_case(self) -> None:
        if self.queue:
            self.case_id, self.etag = self.queue.pop(0), ""

    @task
    def tick(self) -> None:
        if not self.poll() or random.random() > ATTEST_CHANCE:
            return
        case = self.detail()
        if case is None:
            return
        if case["time_out_completed_at"]:
            self.next_case()
            return
        steps = case["checklist"]["steps"]
        version = case["evidence_version"]
        for phase in PHASES:
            waiting = [(s["code"], role) for s in steps if s["phase"] == phase for role in s["missing_roles"]]
            if waiting:
                code, role = random.choice(waiting)
                token = self.tokens[role] if role != "surgeon" else self.room["surgeon_tokens"][str(self.case_id)]
                response = self.post(
                    f"steps/{code}/attest/", {"expected_version": version, "role": role}, "POST attest", token
                )
                if response.status_code == 201:
                    acknowledged["attestations"].append(response.json()["attestation"]["id"])
                return
        response = self.post("time-out/complete/", {"expected_version": version}, "POST time-out complete")
        if response.status_code == 200:
            self.next_case()


class SurgeonPhone(Device):
    fixed_count = 10
    wait_time = between(2, 4)

    def on_start(self) -> None:
        surgeon = MANIFEST["surgeons"][next(_surgeons)]
        self.token = surgeon["token"]
        self.username, self.password = surgeon["username"], surgeon["password"]
        self.cases = surgeon["cases"]
        self.case_id = random.choice(self.cases)

    @task(3)
    def watch(self) -> None:
        self.poll()

    @task(1)
    def sign_or_revise(self) -> None:
        self.case_id, self.etag = random.choice(self.cases), ""
        case = self.detail()
        if case is None:
            return
        version, plan = case["evidence_version"], case["plan"]
        if plan is not None and plan["signature"] is None:
            response = self.post(
                f"plans/{plan['number']}/sign/",
                {"expected_version": version, "username": self.username, "password": self.password},
                "POST sign",
            )
            if response.status_code == 201:
                acknowledged["signatures"].append(response.json()["signature"]["id"])
        else:
            body = {"expected_version": version, "procedure": case["procedure"], "levels": "L2",
                    "side": random.choice(["left", "right"])}  # fmt: skip
            response = self.post("plans/", body, "POST plan")
            if response.status_code == 201:
                acknowledged["plans"].append(response.json()["plan"]["id"])


@events.test_stop.add_listener
def _write_log(**_: Any) -> None:
    (BENCH_DIR / "load-acknowledged.json").write_text(
        json.dumps({**acknowledged, "statuses": {str(k): v for k, v in sorted(statuses.items())}})
    )
