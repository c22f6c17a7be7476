"""levelverify.verdict: the one verdict function the server and the tablet run, and the tablet's
offline half (entries kept on the tablet applied to the basis the server last judged)."""

from __future__ import annotations

import io
import json
import random
import sys
import zipfile
from typing import Any

import pytest

from levelverify.bundle import ENGINE_MODULES, engine_bundle, engine_bundle_revision
from levelverify.check import check_levels
from levelverify.testing import load_scenarios, request_body
from levelverify.verdict import (
    EVIDENCE_INVALID,
    check_json,
    judge,
    judge_offline,
    judge_offline_json,
    with_entries,
    workflow_findings_of,
)
from tests.support.random_requests import agreeing_request, random_basis_and_entries

AGREEING = {
    "stage": "localization",
    "anatomy": {"thoracic": 12, "lumbar": 5, "lowest_rib": "T12", "lowest_mobile": "L5", "source": "whole_spine"},
    "plan": {"procedure": "selective_nerve_root_block", "levels": "L2", "side": "left"},
    "consent": {"procedure": "selective_nerve_root_block", "levels": "L2", "side": "left"},
    "marking": {"region": "lumbar", "side": "left"},
    "preop_imaging": {"levels": "L2"},
}
UNSIGNED = {"code": "PLAN_NOT_SIGNED", "severity": "incomplete", "sources": ["plan"], "message": "m", "action": "a"}


def image(count: str, label: str = "L2", reference: str = "sacrum", **more: str) -> dict[str, Any]:
    fields = {"phase": "pre_incision", "reference": reference, "count": count, "label": label,
              "marker_in_place": "yes", "side": "left", **more}  # fmt: skip
    return {"kind": "localization", "fields": fields}


def test_judge_is_the_engine_when_the_workflow_adds_nothing() -> None:
    for case in load_scenarios():
        if case["expect"]["status"] == 200 and "request" in case:
            assert judge(case["request"]) == check_levels(case["request"])


def test_unreadable_evidence_is_a_stop_never_an_exception() -> None:
    result = judge({**AGREEING, "plan": {**AGREEING["plan"], "levels": "L6"}})
    assert result["verdict"] == "stop"
    assert [f["code"] for f in result["findings"]] == [EVIDENCE_INVALID]


def test_workflow_findings_only_make_the_verdict_stricter() -> None:
    request = {
        **AGREEING,
        "localizations": [{"reference": "sacrum", "count": 4, "level": "L2", "marker_in_place": True}],
    }
    assert judge(request)["verdict"] == "pass"
    assert judge(request, [UNSIGNED])["verdict"] == "incomplete"
    stop = {**UNSIGNED, "code": "PATIENT_IDENTITY_MISMATCH", "severity": "stop"}
    assert judge(request, [UNSIGNED, stop])["verdict"] == "stop"


def test_the_workflow_findings_of_a_stored_verdict_are_what_the_engine_does_not_give() -> None:
    stored = judge(AGREEING, [UNSIGNED])
    assert workflow_findings_of(AGREEING, stored["findings"]) == [UNSIGNED]
    # A finding the engine gave when it was stored but gives no longer is kept: stricter, never laxer.
    ghost = {"code": "CONSENT_MISMATCH", "severity": "stop", "sources": ["consent"], "message": "old", "action": ""}
    assert workflow_findings_of(AGREEING, [*stored["findings"], ghost]) == [UNSIGNED, ghost]


def test_an_agreeing_count_kept_offline_passes_and_a_miscount_stops() -> None:
    basis = {"request": AGREEING, "workflow_findings": []}
    assert judge_offline(basis, [])["verdict"] == "incomplete"  # no level image yet
    passed = judge_offline(basis, [image("4"), image("2", reference="last_rib")])
    assert passed["verdict"] == "pass"
    assert passed["checked_on"] == "tablet"
    stopped = judge_offline(basis, [image("3")])
    assert stopped["verdict"] == "stop"
    assert "COUNT_LABEL_MISMATCH" in {f["code"] for f in stopped["findings"]}
    # The marker on the other side of a left plan.
    assert judge_offline(basis, [image("4", side="right")])["verdict"] == "stop"
    # The server's stop stays a stop whatever the tablet records.
    stop = {**UNSIGNED, "code": "PATIENT_IDENTITY_MISMATCH", "severity": "stop"}
    assert judge_offline({"request": AGREEING, "workflow_findings": [stop]}, [image("4")])["verdict"] == "stop"


def test_entries_replace_the_evidence_in_force_and_add_level_images_in_order() -> None:
    consent = {"kind": "consent", "fields": {"procedure": "selective_nerve_root_block", "levels": "L3", "side": "left"}}
    anatomy = {"kind": "anatomy", "fields": {"thoracic": "12", "lumbar": "6", "lowest_rib": " t12 ",
                                             "lowest_mobile": "l6", "source": "whole_spine"}}  # fmt: skip
    updated = with_entries(AGREEING, [image("4"), consent, anatomy, image("5", label="L3")])
    assert updated["consent"]["levels"] == "L3"
    assert updated["anatomy"] == {"thoracic": 12, "lumbar": 6, "lowest_rib": "T12", "lowest_mobile": "L6",
                                  "source": "whole_spine"}  # fmt: skip
    assert [x["count"] for x in updated["localizations"]] == [4, 5]
    assert updated["localizations"][0] == {"reference": "sacrum", "count": 4, "level": "L2", "marker_in_place": True,
                                           "side": "left"}  # fmt: skip
    assert "localizations" not in AGREEING  # the basis itself is left as it was
    assert judge_offline({"request": AGREEING}, [consent])["verdict"] == "stop"


@pytest.mark.parametrize(
    "entry",
    [
        image("three"),
        image("-1"),
        image("4", label="L9"),
        image("4", reference="moon"),
        {"kind": "anatomy", "fields": {"thoracic": "x", "lumbar": "5", "source": "whole_spine"}},
        {"kind": "plan", "fields": {"levels": "L3"}},
        {"kind": "localization"},
    ],
)
def test_an_entry_that_cannot_be_read_is_a_stop_never_a_pass(entry: dict[str, Any]) -> None:
    assert judge_offline({"request": AGREEING, "workflow_findings": []}, [image("4"), entry])["verdict"] == "stop"


def test_across_the_javascript_boundary_it_is_json_in_json_out() -> None:
    basis, entries = {"request": AGREEING, "workflow_findings": []}, [image("4")]
    assert json.loads(judge_offline_json(json.dumps(basis), json.dumps(entries))) == judge_offline(basis, entries)
    for case in load_scenarios():
        answer = json.loads(check_json(request_body(case)))
        assert answer["status"] in (200, 400)
        assert ("errors" in answer["body"]) == (answer["status"] == 400)


def test_random_offline_verdicts_are_never_laxer_than_the_server_would_be() -> None:
    """The tablet applies entries as the server records them: judging the same request built the
    server's way (the entries as records) gives the same verdict."""
    rng = random.Random(7)
    for _ in range(300):
        request = agreeing_request(rng)
        images = request.pop("localizations")
        entries = [image(str(x["count"]), label=x["level"], reference=x["reference"], side="") for x in images]
        offline = judge_offline({"request": request, "workflow_findings": []}, entries)
        assert offline["verdict"] == judge({**request, "localizations": images})["verdict"]
    for _ in range(200):
        basis, entries = random_basis_and_entries(rng)
        assert judge_offline(basis, entries)["verdict"] in ("pass", "stop", "incomplete")


def test_the_bundle_holds_exactly_the_pure_modules_and_runs_on_its_own(tmp_path, monkeypatch) -> None:
    bundle = engine_bundle()
    assert bundle == engine_bundle() and len(engine_bundle_revision()) == 16
    archive = zipfile.ZipFile(io.BytesIO(bundle))
    assert archive.namelist() == [f"levelverify/{name}.py" for name in ENGINE_MODULES]
    archive.extractall(tmp_path)
    # Imported from the zip's files alone, as Pyodide does: nothing else of the project is needed.
    for name in [m for m in sys.modules if m == "levelverify" or m.startswith("levelverify.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *[p for p in sys.path if "site-packages" not in p and p]])
    import levelverify.verdict as shipped

    assert shipped.__file__.startswith(str(tmp_path))
    assert (
        json.loads(shipped.judge_offline_json(json.dumps({"request": AGREEING}), json.dumps([image("4")])))[
            "checked_on"
        ]
        == "tablet"
    )
