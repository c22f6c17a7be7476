"""The demo as a person runs it: migrate, seed, map the codes, start ``manage.py mllp_listen`` and
load a day's schedule with ``manage.py hl7_send FILE`` (every process real, on a throwaway SQLite)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "interfaces" / "demo" / "day_schedule.hl7"


def manage(env: dict[str, str], *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
        check=check,
    )  # fmt: skip


def test_load_a_days_schedule_through_the_listener(tmp_path: Path) -> None:
    database = tmp_path / "demo.sqlite3"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "DATABASE_URL": f"sqlite:///{database}"}
    env.pop("DATABASE_ASSUME_ROLE", None)
    manage(env, "migrate", "-v0")
    manage(env, "seed_demo")
    mapped = manage(env, "hl7_mapping_set", "--demo", "--actor", "admin")
    assert "63030 -> discectomy" in mapped.stdout

    listener = subprocess.Popen(
        [sys.executable, "manage.py", "mllp_listen", "--port", "0"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert listener.stdout is not None
        line = listener.stdout.readline()
        assert line.startswith("MLLP listening on 127.0.0.1:"), line
        port = line.rsplit(":", 1)[1].strip()
        sent = manage(env, "hl7_send", str(DEMO), "--port", port)
        assert sent.stdout.splitlines()[-1] == "11 sent, 11 accepted, 0 refused"
        # Sent again: every message is a repeat, acknowledged and applied once.
        again = manage(env, "hl7_send", str(DEMO), "--port", port)
        assert again.stdout.splitlines()[-1] == "11 sent, 11 accepted, 0 refused"
        assert again.stdout.count("Repeat: already received.") == 11
        bad = tmp_path / "bad.hl7"
        bad.write_text("MSH|^~\\&|EHR|GENHOSP|RIGHTLEVEL|OR|20270115||SIU^S12|X1|P|2.5.1\nSCH|||\n")
        refused = manage(env, "hl7_send", str(bad), "--port", port, check=False)
        assert refused.returncode == 1
        assert refused.stdout.splitlines()[0].startswith("MSA|AE|X1|")
    finally:
        listener.terminate()
        listener.wait(timeout=30)
    with sqlite3.connect(database) as db:
        states = dict(
            db.execute(
                "SELECT p.mrn, c.state FROM checklist_case c JOIN checklist_patient p ON p.id = c.patient_id"
                " WHERE p.mrn LIKE 'HL7-%'"
            ).fetchall()
        )
        review = db.execute(
            "SELECT appointment_id FROM interfaces_appointment WHERE status = 'needs_review'"
        ).fetchall()
        name = db.execute("SELECT given_name FROM checklist_patient WHERE mrn = 'HL7-0005'").fetchone()
    assert len(states) == 7  # the eighth appointment's code is unmapped: needs review, no case
    assert states["HL7-0007"] == "cancelled"
    assert review == [("DEMO-HL7-08",)]
    assert name == ("EMIKO",)


def test_hl7_send_says_why_it_cannot_send(tmp_path: Path) -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    missing = manage(env, "hl7_send", str(tmp_path / "nope.hl7"), check=False)
    assert missing.returncode == 1 and "Cannot read" in missing.stderr
    empty = tmp_path / "empty.hl7"
    empty.write_text("# nothing\n")
    assert "holds no HL7 message" in manage(env, "hl7_send", str(empty), check=False).stderr
    closed = manage(env, "hl7_send", str(DEMO), "--port", "1", check=False)
    assert closed.returncode == 1 and "Cannot reach the MLLP listener" in closed.stderr
