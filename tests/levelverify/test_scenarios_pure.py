"""Every shared scenario through the pure engine (the HTTP and CLI tests reuse levelverify.testing)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from levelverify.check import check_levels
from levelverify.errors import LevelInputError
from levelverify.strict_json import loads_strict
from levelverify.testing import (
    DEFAULT_SCENARIOS,
    SCENARIOS_ENV,
    error_problems,
    load_scenarios,
    outcome_problems,
    scenarios_path,
    verdict_problems,
)

# The brief's location: tests/levelverify/x.py -> parents[2] is the repository root, beside shared/.
EXPECTED_DEFAULT = Path(__file__).resolve().parents[2].parent / "shared" / "scenarios" / "level_checks.json"
CASES = load_scenarios()  # raises at collection when the file is missing: never a silent skip


def test_default_location_is_beside_the_repository() -> None:
    assert DEFAULT_SCENARIOS == EXPECTED_DEFAULT


def test_env_override_and_loud_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nope.json"
    monkeypatch.setenv(SCENARIOS_ENV, str(missing))
    assert scenarios_path() == missing
    with pytest.raises(FileNotFoundError, match=SCENARIOS_ENV):
        load_scenarios()
    copy = tmp_path / "cases.json"
    copy.write_text(json.dumps(CASES[:2]), encoding="utf-8")
    monkeypatch.setenv(SCENARIOS_ENV, str(copy))
    assert [c["name"] for c in load_scenarios()] == [c["name"] for c in CASES[:2]]
    copy.write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match="non-empty JSON list"):
        load_scenarios(copy)


def test_scenarios_cover_both_outcomes() -> None:
    statuses = {case["expect"]["status"] for case in CASES}
    assert statuses == {200, 400}
    assert len(CASES) >= 31
    assert len({case["name"] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_scenario(case: dict[str, Any]) -> None:
    expect = case["expect"]
    try:
        # The engine reads what a JSON object holds; request_text goes through the strict reader.
        request = case["request"] if "request" in case else loads_strict(case["request_text"])
        result = check_levels(request)
    except LevelInputError as caught:
        assert outcome_problems(expect, 400, {"errors": caught.errors}) == []
    else:
        assert outcome_problems(expect, 200, result) == [], result["findings"]
        assert json.loads(json.dumps(result)) == result


def test_comparison_helpers_detect_differences() -> None:
    expect = {"status": 200, "verdict": "stop", "codes": ["CONSENT_MISMATCH"], "warnings": ["CONUS_PROXIMITY"]}
    good = {
        "contract": 2,
        "verdict": "stop",
        "findings": [
            {"code": "CONSENT_MISMATCH", "severity": "stop", "message": "Consent says RIGHT.", "action": "Re-read."},
            {"code": "CONUS_PROXIMITY", "severity": "warning"},
        ],
    }
    assert verdict_problems(expect, good) == []
    assert verdict_problems(expect, {"verdict": "pass", "findings": []}) != []
    extra = {"verdict": "stop", "findings": [*good["findings"], {"code": "MARKING_MISMATCH", "severity": "stop"}]}
    assert verdict_problems(expect, extra) != []
    passing = {"status": 200, "verdict": "pass", "codes": [], "warnings": []}
    assert (
        verdict_problems(
            passing, {"verdict": "pass", "findings": [{"code": "CONSENT_MISSING", "severity": "incomplete"}]}
        )
        != []
    )
    assert error_problems({"status": 400, "field": "plan"}, {"plan": ["plan.levels: bad"]}) == []
    assert error_problems({"status": 400, "field": "plan"}, {"consent": ["bad"]}) != []
    # v2: contract version and an action on every blocking finding are part of every answer.
    assert verdict_problems(expect, {**good, "contract": 1}) != []
    no_action = {**good, "findings": [{"code": "CONSENT_MISMATCH", "severity": "stop", "message": "m"}]}
    assert verdict_problems(expect, no_action) != []
    either = {"status": [200, 400], "verdict": "stop"}
    assert outcome_problems(either, 400, {"errors": {"plan": ["bad"]}}) == []
    assert outcome_problems(either, 200, good) == []
    assert outcome_problems(either, 200, {"contract": 2, "verdict": "pass", "findings": []}) != []
    assert outcome_problems({"status": 400, "field": None}, 400, {"errors": {"non_field_errors": ["x"]}}) == []
    assert outcome_problems({"status": 400, "field": "plan"}, 200, good) != []
