"""manage.py check_levels FILE|-: every shared scenario through a real process, exit codes 0/1/2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from levelverify.testing import load_scenarios, outcome_problems, request_body

REPO = Path(__file__).resolve().parents[2]
CASES = load_scenarios()


def _run(args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings.test")
    return subprocess.run(
        [sys.executable, "manage.py", "check_levels", *args],
        cwd=REPO,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _check(case: dict[str, Any], result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode in (0, 1, 2), result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    body = json.loads(result.stdout)
    status = 400 if result.returncode == 2 else 200
    assert outcome_problems(case["expect"], status, body) == [], body
    if status == 200:
        assert result.returncode == (0 if body["verdict"] == "pass" else 1)


def test_every_scenario_through_the_command_from_a_file(tmp_path: Path) -> None:
    # One process per case is slow; a file per case still exercises argument parsing and exit codes.
    failures = []
    for case in CASES:
        path = tmp_path / f"{case['name']}.json"
        path.write_text(request_body(case), encoding="utf-8")
        result = _run([str(path)])
        try:
            _check(case, result)
        except AssertionError as exc:
            failures.append(f"{case['name']}: {exc}")
    assert failures == []


@pytest.mark.parametrize(
    "case", [CASES[0], next(c for c in CASES if c["expect"]["status"] == 400)], ids=lambda c: c["name"]
)
def test_the_command_reads_stdin(case: dict[str, Any]) -> None:
    _check(case, _run(["-"], stdin=request_body(case)))


def test_the_command_prints_what_the_engine_returns() -> None:
    case = next(c for c in CASES if c["expect"].get("verdict") == "stop")
    cli = json.loads(_run(["-"], stdin=json.dumps(case["request"])).stdout)
    from levelverify.check import check_levels

    assert cli == check_levels(case["request"])


@pytest.mark.parametrize(
    ("stdin", "fragment"),
    [("{oops", "Not valid JSON"), ("[]", "JSON object"), ("", "Not valid JSON")],
)
def test_unreadable_input_exits_2_with_a_message(stdin: str, fragment: str) -> None:
    result = _run(["-"], stdin=stdin)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert fragment in json.loads(result.stdout)["errors"]["non_field_errors"][0]


def test_a_missing_file_exits_2(tmp_path: Path) -> None:
    result = _run([str(tmp_path / "absent.json")])
    assert result.returncode == 2
    assert "Cannot read" in json.loads(result.stdout)["errors"]["non_field_errors"][0]
