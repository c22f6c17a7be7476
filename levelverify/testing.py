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
        if not isinstance(case, dict) or not {"name", "request", "expect"} <= case.keys():
            raise ValueError(f"{source}: every case needs name, request and expect (got {case!r:.80})")
    return cases


def verdict_problems(expect: Mapping[str, Any], body: Mapping[str, Any]) -> list[str]:
    """Why a 200 verdict body does not meet a scenario's ``expect`` (empty list = it does)."""
    problems: list[str] = []
    findings = body.get("findings", [])
    verdict = expect["verdict"]
    if body.get("verdict") != verdict:
        problems.append(f"verdict {body.get('verdict')!r}, expected {verdict!r}")
    if verdict in ("stop", "incomplete"):
        codes = {f["code"] for f in findings if f["severity"] == verdict}
        if codes != set(expect["codes"]):
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
    messages = errors.get(field)
    if not messages:
        return [f"no error for field {field!r}; got fields {sorted(errors)}"]
    if not all(isinstance(m, str) and m.strip() for m in messages):
        return [f"field {field!r} has unreadable messages {messages!r}"]
    return []
