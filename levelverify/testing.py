"""Helpers for tests of the level check (pure Python, no Django): the shared scenarios.

The API, the command and the engine are all tested against the same cases in
``shared/scenarios/level_checks.json`` (see that folder's README for how to compare).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SCENARIOS_ENV = "RIGHTLEVEL_SCENARIOS"
# The repository sits beside ``shared/``: levelverify/testing.py -> parents[1] is the repo root.
DEFAULT_SCENARIOS = Path(__file__).resolve().parents[1].parent / "shared" / "scenarios" / "level_checks.json"


def scenarios_path(path: Path | None = None) -> Path:
    """``path``, else ``$RIGHTLEVEL_SCENARIOS``, else the shared scenarios beside the repository."""
    if path is not None:
        return path
    override = os.environ.get(SCENARIOS_ENV)
    return Path(override) if override else DEFAULT_SCENARIOS


def load_scenarios(path: Path | None = None) -> list[dict[str, Any]]:
    """Load the scenario cases; fails loudly (never skips) when the file is missing or malformed."""
    source = scenarios_path(path)
    if not source.is_file():
        raise FileNotFoundError(
            f"Level-check scenarios not found at {source}; set {SCENARIOS_ENV} to the path of "
            "level_checks.json. The scenario tests must not be skipped."
        )
    cases = json.loads(source.read_text(encoding="utf-8"))
    if not isinstance(cases, list) or not cases:
        raise ValueError(f"{source} must hold a non-empty JSON list of cases")
    for case in cases:
        if (
            not isinstance(case, dict)
            or not {"name", "expect"} <= case.keys()
            or ("request" not in case and "request_text" not in case)
        ):
            raise ValueError(
                f"{source}: every case needs name, request (or request_text) and expect (got {case!r:.80})"
            )
    return cases


def request_body(case: Mapping[str, Any]) -> str:
    """The exact JSON text to send: ``request_text`` when given (a duplicated key, a huge number)."""
    text = case.get("request_text")
    return text if isinstance(text, str) else json.dumps(case["request"])


def expected_statuses(expect: Mapping[str, Any]) -> tuple[int, ...]:
    """``status`` may be one code or a list of allowed codes (``[200, 400]``)."""
    status = expect["status"]
    return tuple(status) if isinstance(status, list) else (status,)


def outcome_problems(expect: Mapping[str, Any], status: int, body: Mapping[str, Any]) -> list[str]:
    """Why an answer (HTTP status, or 400 for the command's exit 2; and its body) misses ``expect``."""
    allowed = expected_statuses(expect)
    if status not in allowed:
        return [f"status {status}, expected {allowed}"]
    if status == 400:
        if expect.get("field") is None:
            return [] if body.get("errors") else ["invalid input without any error message"]
        return error_problems(expect, body.get("errors", {}))
    return verdict_problems(expect, body)


def verdict_problems(expect: Mapping[str, Any], body: Mapping[str, Any]) -> list[str]:
    """Why a 200 verdict body does not meet a scenario's ``expect`` (empty list = it does)."""
    problems: list[str] = []
    findings = body.get("findings", [])
    verdict = expect["verdict"]
    if body.get("contract") != 2:
        problems.append(f"contract {body.get('contract')!r}, expected 2")
    for finding in findings:
        if finding.get("severity") in ("stop", "incomplete"):
            for key in ("message", "action"):
                if not (isinstance(finding.get(key), str) and finding[key].strip()):
                    problems.append(f"{finding.get('code')} has no {key}")
    if body.get("verdict") != verdict:
        problems.append(f"verdict {body.get('verdict')!r}, expected {verdict!r}")
    if verdict in ("stop", "incomplete"):
        codes = {f["code"] for f in findings if f["severity"] == verdict}
        if "codes" in expect and codes != set(expect["codes"]):
            problems.append(f"{verdict} codes {sorted(codes)}, expected {sorted(expect['codes'])}")
    else:
        blocking = sorted(f["code"] for f in findings if f["severity"] != "warning")
        if blocking:
            problems.append(f"pass with blocking findings {blocking}")
    missing = set(expect.get("warnings", [])) - {f["code"] for f in findings}
    if missing:
        problems.append(f"missing warnings {sorted(missing)}")
    return problems


def error_problems(expect: Mapping[str, Any], errors: Mapping[str, Any]) -> list[str]:
    """Why a 400 error body does not name the scenario's expected field (empty list = it does)."""
    field = expect["field"]
    if field is None:
        return [] if errors else ["no error message at all"]
    messages = errors.get(field)
    if not messages:
        return [f"no error for field {field!r}; got fields {sorted(errors)}"]
    if not all(isinstance(m, str) and m.strip() for m in messages):
        return [f"field {field!r} has unreadable messages {messages!r}"]
    return []
