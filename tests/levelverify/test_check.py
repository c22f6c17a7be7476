"""The level check (levelverify.check.check_levels): findings, verdicts and input errors."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from levelverify import check
from levelverify.check import (
    ANATOMY_MISSING,
    CONSENT_MISMATCH,
    CONSENT_MISSING,
    CONUS_PROXIMITY,
    COUNT_LABEL_MISMATCH,
    LOCALIZATION_MISSING,
    LOCALIZATION_OUTSIDE_PLAN,
    LUMBAR_ONLY_NUMBERING,
    MARKER_REMOVED,
    MARKING_MISMATCH,
    MARKING_MISSING,
    MSG_ANATOMY_MISSING,
    MSG_CONSENT_LEVELS,
    MSG_CONSENT_PROCEDURE,
    MSG_CONSENT_SIDE,
    MSG_COUNT_LABEL,
    MSG_LOCALIZATION_MISSING,
    MSG_MARKING_SIDE,
    MSG_PLAN_MISSING,
    MSG_PREOP_LEVELS,
    PLAN_MISSING,
    PREOP_IMAGING_MISMATCH,
    PREOP_IMAGING_MISSING,
    REFERENCES,
    SECOND_REFERENCE_REQUIRED,
    SEVERITY_BY_CODE,
    SIDES,
    STAGES,
    STRUCTURE_BY_PROCEDURE,
    check_levels,
)
from levelverify.errors import LevelInputError

Request = dict[str, Any]


def base(
    procedure: str = "selective_nerve_root_block",
    levels: str = "L2",
    side: str = "left",
    region: str = "lumbar",
    stage: str = "time_out",
    **anatomy: Any,
) -> Request:
    """A request on which every piece of evidence agrees."""
    return {
        "stage": stage,
        "anatomy": {"thoracic": 12, "lumbar": 5, "source": "whole_spine", **anatomy},
        "plan": {"procedure": procedure, "levels": levels, "side": side},
        "consent": {"procedure": procedure, "levels": levels, "side": side},
        "marking": {"region": region, "side": side},
        "preop_imaging": {"levels": levels},
    }


def loc(reference: str, count: Any, level: Any, marker_in_place: Any = True) -> dict[str, Any]:
    return {"reference": reference, "count": count, "level": level, "marker_in_place": marker_in_place}


def codes(result: dict[str, Any], severity: str | None = None) -> list[str]:
    return [f["code"] for f in result["findings"] if severity is None or f["severity"] == severity]


def messages(result: dict[str, Any], code: str) -> list[str]:
    return [f["message"] for f in result["findings"] if f["code"] == code]


def input_errors(request: Any) -> dict[str, list[str]]:
    with pytest.raises(LevelInputError) as caught:
        check_levels(request)
    return caught.value.errors


# --- constants -----------------------------------------------------------------------------------


def test_constants() -> None:
    assert len(STRUCTURE_BY_PROCEDURE) == 7
    assert STRUCTURE_BY_PROCEDURE["selective_nerve_root_block"] == "nerve_root"
    assert STRUCTURE_BY_PROCEDURE["transforaminal_epidural_injection"] == "nerve_root"
    assert STRUCTURE_BY_PROCEDURE["interlaminar_epidural_injection"] == "segment"
    assert STRUCTURE_BY_PROCEDURE["vertebral_augmentation"] == "vertebra"
    assert {STRUCTURE_BY_PROCEDURE[p] for p in ("decompression", "discectomy", "fusion")} == {"segment"}
    assert SIDES == ("left", "right", "bilateral", "midline")
    assert set(REFERENCES) == {"sacrum", "c2", "last_rib"}
    assert STAGES == ("time_out", "localization")
    assert sorted(code for code, sev in SEVERITY_BY_CODE.items() if sev == "stop") == sorted(
        [
            "CONSENT_MISMATCH",
            "PREOP_IMAGING_MISMATCH",
            "MARKING_MISMATCH",
            "COUNT_LABEL_MISMATCH",
            "LOCALIZATION_OUTSIDE_PLAN",
            "LOCALIZATION_SIDE_MISMATCH",
        ]
    )
    assert sorted(code for code, sev in SEVERITY_BY_CODE.items() if sev == "incomplete") == sorted(
        [
            "PLAN_MISSING",
            "CONSENT_MISSING",
            "MARKING_MISSING",
            "PREOP_IMAGING_MISSING",
            "ANATOMY_MISSING",
            "LOCALIZATION_MISSING",
            "SECOND_REFERENCE_REQUIRED",
        ]
    )
    assert sorted(code for code, sev in SEVERITY_BY_CODE.items() if sev == "warning") == sorted(
        ["MARKER_REMOVED", "CONUS_PROXIMITY", "LUMBAR_ONLY_NUMBERING"]
    )
    for code in SEVERITY_BY_CODE:
        assert getattr(check, code) == code


# --- the agreeing case ---------------------------------------------------------------------------


def test_all_agree_passes_with_target_and_counts() -> None:
    result = check_levels(base())
    assert result["verdict"] == "pass"
    assert result["stage"] == "time_out"
    assert result["target"] == {
        "procedure": "selective_nerve_root_block",
        "structure": "nerve_root",
        "units": ["L2"],
        "side": "left",
        "display": "left L2 nerve root (L2-L3 foramen)",
    }
    assert codes(result) == [CONUS_PROXIMITY]
    assert result["findings"][0]["severity"] == "warning"
    assert result["findings"][0]["sources"] == ["plan"]
    assert result["expected_counts"] == {"L2": {"sacrum": 4, "c2": 19, "last_rib": 2}}
    assert result["anatomy"]["recorded"] is True
    assert result["anatomy"]["high_risk"] is False
    assert result["contract"] == 2
    assert json.loads(json.dumps(result)) == result


def test_default_stage_is_time_out_and_null_means_absent() -> None:
    request = base()
    del request["stage"]
    assert check_levels(request)["stage"] == "time_out"
    request["stage"] = None
    assert check_levels(request)["verdict"] == "pass"
    request["localizations"] = None
    assert check_levels(request)["verdict"] == "pass"


def test_plan_structure_may_be_given_when_it_matches() -> None:
    request = base()
    request["plan"]["structure"] = "nerve_root"
    assert check_levels(request)["verdict"] == "pass"


def test_fusion_target_display_and_expected_counts() -> None:
    result = check_levels(base("fusion", "L1-L3", "bilateral"))
    assert result["verdict"] == "pass"
    assert result["target"]["units"] == ["L1-L2", "L2-L3"]
    assert result["target"]["display"] == "bilateral L1\u2013L2 and L2\u2013L3 segments"
    assert result["expected_counts"]["L2-L3"] == {"sacrum": 4, "c2": 20, "last_rib": 3}


# --- stop findings -------------------------------------------------------------------------------


def test_consent_side_mismatch() -> None:
    request = base()
    request["consent"]["side"] = "right"
    result = check_levels(request)
    assert result["verdict"] == "stop"
    assert codes(result, "stop") == [CONSENT_MISMATCH]
    assert messages(result, CONSENT_MISMATCH) == ["Consent says RIGHT, plan says LEFT."]
    assert messages(result, CONSENT_MISMATCH) == [MSG_CONSENT_SIDE.format(consent="RIGHT", plan="LEFT")]
    assert result["findings"][0]["sources"] == ["consent", "plan"]


def test_consent_level_mismatch() -> None:
    request = base()
    request["consent"]["levels"] = "L3"
    result = check_levels(request)
    assert messages(result, CONSENT_MISMATCH) == ["Consent names L3, plan names L2."]


def test_consent_procedure_mismatch() -> None:
    request = base()
    request["consent"]["procedure"] = "transforaminal_epidural_injection"
    result = check_levels(request)
    assert messages(result, CONSENT_MISMATCH) == [
        MSG_CONSENT_PROCEDURE.format(consent="TRANSFORAMINAL EPIDURAL INJECTION", plan="SELECTIVE NERVE ROOT BLOCK")
    ]


def test_consent_for_a_procedure_on_another_structure_reads_its_own_levels() -> None:
    request = base("discectomy", "L2-L3")
    request["consent"] = {"procedure": "selective_nerve_root_block", "levels": "L2", "side": "left"}
    result = check_levels(request)
    assert result["verdict"] == "stop"
    found = messages(result, CONSENT_MISMATCH)
    assert "Consent is for SELECTIVE NERVE ROOT BLOCK, plan is for DISCECTOMY." in found
    assert MSG_CONSENT_LEVELS.format(consent="L2", plan="L2-L3") in found


def test_consent_differs_in_everything_lists_each_difference() -> None:
    request = base("fusion", "L1-L3", "bilateral")
    request["consent"] = {"procedure": "decompression", "levels": "L1-L2", "side": "left"}
    result = check_levels(request)
    assert codes(result, "stop") == [CONSENT_MISMATCH] * 3
    assert set(messages(result, CONSENT_MISMATCH)) == {
        "Consent is for DECOMPRESSION, plan is for FUSION.",
        "Consent names L1-L2, plan names L1-L2 and L2-L3.",
        "Consent says LEFT, plan says BILATERAL.",
    }


@pytest.mark.parametrize(
    ("plan_levels", "consent_levels"),
    [("L1-L3", "L1-L2, L2-L3"), ("L2-L3", "L2/3"), ("L1-L3", "L2-3,L1/L2"), ("L4-S1", "L4-L5, L5/S1")],
)
def test_consent_in_other_notation_agrees(plan_levels: str, consent_levels: str) -> None:
    request = base("fusion", plan_levels, "bilateral")
    request["consent"]["levels"] = consent_levels
    request["preop_imaging"]["levels"] = consent_levels
    assert codes(check_levels(request), "stop") == []


def test_preop_imaging_mismatch() -> None:
    request = base()
    request["preop_imaging"]["levels"] = "L3"
    result = check_levels(request)
    assert codes(result, "stop") == [PREOP_IMAGING_MISMATCH]
    assert messages(result, PREOP_IMAGING_MISMATCH) == [MSG_PREOP_LEVELS.format(preop="L3", plan="L2")]
    assert messages(result, PREOP_IMAGING_MISMATCH) == ["Pre-op imaging shows L3, plan names L2."]


def test_preop_imaging_read_in_the_plans_structure() -> None:
    request = base("discectomy", "L2-L3")
    request["preop_imaging"]["levels"] = "L2\u20133"
    assert check_levels(request)["verdict"] == "pass"
    request["preop_imaging"]["levels"] = "L1-L3"
    result = check_levels(request)
    assert messages(result, PREOP_IMAGING_MISMATCH) == ["Pre-op imaging shows L1-L2 and L2-L3, plan names L2-L3."]


def test_marking_side_mismatch() -> None:
    request = base()
    request["marking"]["side"] = "right"
    result = check_levels(request)
    assert codes(result, "stop") == [MARKING_MISMATCH]
    assert messages(result, MARKING_MISMATCH) == [MSG_MARKING_SIDE.format(marking="RIGHT", plan="LEFT")]


def test_marking_bilateral_is_not_left() -> None:
    request = base()
    request["marking"]["side"] = "bilateral"
    assert codes(check_levels(request), "stop") == [MARKING_MISMATCH]


def test_marking_region_mismatch_names_region_and_levels() -> None:
    request = base()
    request["marking"]["region"] = "thoracic"
    result = check_levels(request)
    assert codes(result, "stop") == [MARKING_MISMATCH]
    (message,) = messages(result, MARKING_MISMATCH)
    assert "THORACIC" in message
    assert "L2 (LUMBAR)" in message


@pytest.mark.parametrize(
    ("procedure", "levels", "region", "agrees"),
    [
        ("discectomy", "T12-L1", "thoracic", True),
        ("discectomy", "T12-L1", "lumbar", True),
        ("discectomy", "L5-S1", "sacral", True),
        ("discectomy", "L5-S1", "lumbar", True),
        ("fusion", "L3-S1", "lumbar", True),
        ("fusion", "T11-L2", "lumbar", False),
        ("fusion", "T11-L2", "thoracolumbar", True),
        ("vertebral_augmentation", "T12", "lumbar", False),
        ("vertebral_augmentation", "T12, L1", "thoracic", False),
        ("selective_nerve_root_block", "S1", "sacral", True),
        ("selective_nerve_root_block", "S1", "lumbosacral", True),
        ("decompression", "C5-C6", "cervical", True),
        ("decompression", "C5-C6", "thoracic", False),
    ],
)
def test_marking_region_containment(procedure: str, levels: str, region: str, agrees: bool) -> None:
    side = "left" if procedure == "selective_nerve_root_block" else "midline"
    request = base(procedure, levels, side, region=region)
    assert (MARKING_MISMATCH not in codes(check_levels(request))) is agrees


def test_marking_region_message_lists_only_levels_outside() -> None:
    result = check_levels(base("fusion", "T11-L2", "bilateral", region="lumbar"))
    (message,) = messages(result, MARKING_MISMATCH)
    assert "T11-T12 (THORACIC)" in message
    assert "L1-L2" not in message


def test_count_label_mismatch_six_lumbar() -> None:
    request = base(stage="localization", lumbar=6)
    request["localizations"] = [loc("sacrum", 4, "L2")]
    result = check_levels(request)
    assert result["verdict"] == "stop"
    assert codes(result, "stop") == [COUNT_LABEL_MISMATCH]
    assert messages(result, COUNT_LABEL_MISMATCH) == [
        "Count 4 from the sacrum in this patient (12 thoracic, 6 lumbar vertebrae) is L3, "
        "but the image was labelled L2."
    ]
    assert messages(result, COUNT_LABEL_MISMATCH)[0] == MSG_COUNT_LABEL.format(
        counting="Count 4", reference="the sacrum", anatomy="12 thoracic, 6 lumbar vertebrae", counted="L3", label="L2"
    )
    finding = next(f for f in result["findings"] if f["code"] == COUNT_LABEL_MISMATCH)
    assert finding["sources"] == ["localizations[0]", "anatomy"]


def test_disc_count_mismatch_message() -> None:
    request = base("discectomy", "L2-L3", stage="localization")
    request["localizations"] = [loc("sacrum", 3, "L2-L3")]
    result = check_levels(request)
    assert messages(result, COUNT_LABEL_MISMATCH) == [
        "Disc count 3 from the sacrum in this patient (12 thoracic, 5 lumbar vertebrae) is L3-L4, "
        "but the image was labelled L2-L3."
    ]


@pytest.mark.parametrize(
    ("reference", "count", "label"),
    [("sacrum", 4, "L2"), ("c2", 19, "L2"), ("last_rib", 2, "L2"), ("c2", 19, "l2")],
)
def test_count_agrees_with_label(reference: str, count: int, label: str) -> None:
    request = base(stage="localization")
    request["localizations"] = [loc(reference, count, label)]
    assert check_levels(request)["verdict"] == "pass"


@pytest.mark.parametrize("count", [25, 40, 10**12 - 1])
def test_count_that_lands_nowhere_is_a_stop(count: int) -> None:
    request = base(stage="localization")
    request["localizations"] = [loc("sacrum", count, "L2")]
    result = check_levels(request)
    assert result["verdict"] == "stop"
    assert codes(result, "stop") == [COUNT_LABEL_MISMATCH]
    assert "does not land on any nerve root" in messages(result, COUNT_LABEL_MISMATCH)[0]


def test_localization_outside_plan() -> None:
    request = base("fusion", "L1-L3", "bilateral", stage="localization")
    request["localizations"] = [loc("sacrum", 3, "L3-L4")]
    result = check_levels(request)
    assert codes(result, "stop") == [LOCALIZATION_OUTSIDE_PLAN]
    assert messages(result, LOCALIZATION_OUTSIDE_PLAN) == [
        "Image labelled L3-L4 is not in the plan, which names L1-L2 and L2-L3."
    ]


def test_localization_both_miscounted_and_outside_plan() -> None:
    request = base(stage="localization")
    request["localizations"] = [loc("sacrum", 4, "L3")]
    result = check_levels(request)
    assert sorted(codes(result, "stop")) == sorted([COUNT_LABEL_MISMATCH, LOCALIZATION_OUTSIDE_PLAN])


def test_localizations_are_checked_at_time_out_too() -> None:
    request = base()
    request["localizations"] = [loc("sacrum", 3, "L3")]
    result = check_levels(request)
    assert result["verdict"] == "stop"
    assert LOCALIZATION_OUTSIDE_PLAN in codes(result)
    assert LOCALIZATION_MISSING not in codes(result)


def test_every_disagreement_is_listed() -> None:
    request = base(stage="localization", lumbar=6)
    request["consent"]["side"] = "right"
    request["consent"]["levels"] = "L3"
    request["marking"] = {"region": "thoracic", "side": "right"}
    request["preop_imaging"]["levels"] = "L1"
    request["localizations"] = [loc("sacrum", 4, "L2"), loc("c2", 20, "L3")]
    result = check_levels(request)
    assert result["verdict"] == "stop"
    stops = codes(result, "stop")
    assert stops.count(CONSENT_MISMATCH) == 2
    assert stops.count(MARKING_MISMATCH) == 2
    assert stops.count(PREOP_IMAGING_MISMATCH) == 1
    assert stops.count(COUNT_LABEL_MISMATCH) == 1  # c2 count 20 is L3, as labelled
    assert stops.count(LOCALIZATION_OUTSIDE_PLAN) == 1
    # Stops are listed first, then incomplete findings, then warnings.
    severities = [f["severity"] for f in result["findings"]]
    assert severities == sorted(severities, key=["stop", "incomplete", "warning"].index)


# --- incomplete findings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "code"),
    [
        ("consent", CONSENT_MISSING),
        ("marking", MARKING_MISSING),
        ("preop_imaging", PREOP_IMAGING_MISSING),
        ("anatomy", ANATOMY_MISSING),
    ],
)
@pytest.mark.parametrize("how", ["absent", "null"])
def test_missing_evidence_is_incomplete(field: str, code: str, how: str) -> None:
    request = base()
    if how == "absent":
        del request[field]
    else:
        request[field] = None
    result = check_levels(request)
    assert result["verdict"] == "incomplete"
    assert codes(result, "incomplete") == [code]


def test_plan_missing_skips_comparisons() -> None:
    request = base()
    del request["plan"]
    request["consent"]["side"] = "right"
    request["marking"]["region"] = "cervical"
    result = check_levels(request)
    assert result["verdict"] == "incomplete"
    assert codes(result, "incomplete") == [PLAN_MISSING]
    assert messages(result, PLAN_MISSING) == [MSG_PLAN_MISSING]
    assert codes(result, "stop") == []
    assert result["target"] is None
    assert result["expected_counts"] == {}
    assert CONUS_PROXIMITY not in codes(result)


def test_plan_missing_still_checks_counts_against_labels() -> None:
    request = base("discectomy", "L2-L3", stage="localization")
    del request["plan"]
    request["localizations"] = [loc("sacrum", 3, "L2-L3")]
    result = check_levels(request)
    assert result["verdict"] == "stop"
    assert codes(result, "stop") == [COUNT_LABEL_MISMATCH]
    assert "Disc count 3" in messages(result, COUNT_LABEL_MISMATCH)[0]


def test_nothing_at_all_is_incomplete_not_pass() -> None:
    result = check_levels({})
    assert result["verdict"] == "incomplete"
    assert sorted(codes(result)) == sorted(
        [PLAN_MISSING, CONSENT_MISSING, MARKING_MISSING, PREOP_IMAGING_MISSING, ANATOMY_MISSING]
    )
    result = check_levels({"stage": "localization"})
    assert LOCALIZATION_MISSING in codes(result)


def test_anatomy_missing_reads_usual_anatomy_and_says_so() -> None:
    request = base(stage="localization")
    del request["anatomy"]
    request["localizations"] = [loc("sacrum", 4, "L2")]
    result = check_levels(request)
    assert result["verdict"] == "incomplete"
    assert codes(result, "incomplete") == [ANATOMY_MISSING]
    assert messages(result, ANATOMY_MISSING) == [MSG_ANATOMY_MISSING]
    assert result["anatomy"]["recorded"] is False
    request["localizations"] = [loc("sacrum", 5, "L2")]
    result = check_levels(request)
    assert result["verdict"] == "stop"
    assert "assumed: anatomy not recorded" in messages(result, COUNT_LABEL_MISMATCH)[0]


def test_empty_or_partial_anatomy_object_is_not_recorded() -> None:
    """Contract v2, rule 4: anatomy is recorded only with thoracic, lumbar and source."""
    for anatomy in ({}, {"thoracic": 12, "lumbar": 5}, {"thoracic": 12, "source": "whole_spine"}):
        request = base()
        request["anatomy"] = anatomy
        result = check_levels(request)
        assert result["verdict"] == "incomplete"
        assert codes(result, "incomplete") == [ANATOMY_MISSING]
        assert result["anatomy"]["recorded"] is False


def test_localization_missing_only_at_localization_stage() -> None:
    result = check_levels(base(stage="localization"))
    assert codes(result, "incomplete") == [LOCALIZATION_MISSING]
    assert messages(result, LOCALIZATION_MISSING) == [MSG_LOCALIZATION_MISSING]
    assert LOCALIZATION_MISSING not in codes(check_levels(base()))
    request = base(stage="localization")
    request["localizations"] = []
    assert codes(check_levels(request), "incomplete") == [LOCALIZATION_MISSING]


def test_marker_removed_is_ignored_and_warned() -> None:
    request = base(stage="localization")
    request["localizations"] = [loc("sacrum", 3, "L3", marker_in_place=False)]
    result = check_levels(request)
    assert result["verdict"] == "incomplete"
    assert codes(result, "incomplete") == [LOCALIZATION_MISSING]
    assert codes(result, "stop") == []
    assert MARKER_REMOVED in codes(result, "warning")
    (message,) = messages(result, MARKER_REMOVED)
    assert "labelled L3" in message
    assert "marker was removed" in message


def test_marker_removed_beside_a_good_image_passes_with_warning() -> None:
    request = base(stage="localization")
    request["localizations"] = [loc("sacrum", 5, "L2", marker_in_place=False), loc("sacrum", 4, "L2")]
    result = check_levels(request)
    assert result["verdict"] == "pass"
    assert MARKER_REMOVED in codes(result)


@pytest.mark.parametrize(
    ("anatomy", "localizations", "required"),
    [
        ({"lumbar": 6}, [loc("sacrum", 5, "L2")], True),
        ({"lumbar": 6}, [loc("sacrum", 5, "L2"), loc("sacrum", 5, "L2")], True),
        ({"lumbar": 6}, [loc("sacrum", 5, "L2"), loc("c2", 19, "L2", marker_in_place=False)], True),
        ({"lumbar": 6}, [loc("sacrum", 5, "L2"), loc("c2", 19, "L2")], False),
        ({"lumbar": 6}, [loc("last_rib", 2, "L2"), loc("c2", 19, "L2")], False),
        ({"lumbar": 6}, [], True),
        ({"thoracic": 11}, [loc("c2", 18, "L2")], True),
        ({"lowest_mobile": "L4"}, [loc("sacrum", 3, "L2")], True),
        ({"lowest_rib": "L1"}, [loc("last_rib", 1, "L2")], True),
        ({"source": "lumbar_only"}, [loc("sacrum", 4, "L2")], True),
        ({}, [loc("sacrum", 4, "L2")], False),
    ],
)
def test_second_reference_required(anatomy: dict[str, Any], localizations: list[Any], required: bool) -> None:
    request = base(stage="localization", **anatomy)
    request["localizations"] = localizations
    result = check_levels(request)
    assert (SECOND_REFERENCE_REQUIRED in codes(result, "incomplete")) is required
    if required:
        assert result["verdict"] in ("incomplete", "stop")


def test_second_reference_not_asked_at_time_out() -> None:
    request = base(lumbar=6)
    request["localizations"] = [loc("sacrum", 5, "L2")]
    assert check_levels(request)["verdict"] == "pass"


# --- warnings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("procedure", "levels", "near"),
    [
        ("selective_nerve_root_block", "L2", True),
        ("selective_nerve_root_block", "L1", True),
        ("selective_nerve_root_block", "L3", False),
        ("discectomy", "L2-L3", True),
        ("discectomy", "T12-L1", True),
        ("discectomy", "L3-L4", False),
        ("interlaminar_epidural_injection", "L4-L5", False),
        ("vertebral_augmentation", "T12", True),
        ("vertebral_augmentation", "T11", False),
        ("fusion", "L3-S1", False),
        ("fusion", "L2-S1", True),
    ],
)
def test_conus_proximity(procedure: str, levels: str, near: bool) -> None:
    side = "left" if STRUCTURE_BY_PROCEDURE[procedure] == "nerve_root" else "midline"
    region = "thoracolumbar" if levels in ("L1", "L2", "T11", "T12", "T12-L1") else "lumbar"
    result = check_levels(base(procedure, levels, side, region=region))
    assert result["verdict"] == "pass"
    assert (CONUS_PROXIMITY in codes(result, "warning")) is near


def test_lumbar_only_numbering_warns_and_never_changes_the_verdict() -> None:
    result = check_levels(base(source="lumbar_only"))
    assert result["verdict"] == "pass"
    assert LUMBAR_ONLY_NUMBERING in codes(result, "warning")
    assert LUMBAR_ONLY_NUMBERING not in codes(check_levels(base()))


# --- invalid input -------------------------------------------------------------------------------


def mutate(path: str, value: Any, request: Request | None = None) -> Request:
    """Set (or with ... delete) a dotted path in a copy of the agreeing request."""
    request = copy.deepcopy(request if request is not None else base(stage="localization"))
    request.setdefault("localizations", [loc("sacrum", 4, "L2")])
    target: Any = request
    *parents, last = path.split(".")
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list):
        target[int(last)] = value
    elif value is ...:
        del target[last]
    else:
        target[last] = value
    return request


INVALID = [
    ("stage", "pre_op", "stage", "'pre_op' is not one of"),
    ("stage", 1, "stage", "stage"),
    ("extra", 1, "non_field_errors", "unknown field 'extra'"),
    ("anatomy", {"lumbar": 7}, "anatomy", "anatomy.lumbar"),
    ("anatomy", "usual", "anatomy", "must be an object"),
    ("anatomy.lumbars", 6, "anatomy", "unknown field 'lumbars'"),
    ("plan", "L2", "plan", "plan: must be an object"),
    ("plan.procedure", "kyphoplasty", "plan", "'kyphoplasty' is not one of"),
    ("plan.procedure", ..., "plan", "plan.procedure: this field is required"),
    ("plan.structure", "segment", "plan", "works on a nerve root, not a segment"),
    ("plan.structure", "disc", "plan", "plan.structure"),
    ("plan.side", "up", "plan", "plan.side"),
    ("plan.side", ..., "plan", "plan.side: this field is required"),
    ("plan.side", "midline", "plan", "not midline"),
    ("plan.side", "LEFT", "plan", "plan.side"),
    ("plan.levels", ..., "plan", "plan.levels: this field is required"),
    ("plan.levels", 2, "plan", "must be text"),
    ("plan.levels", "", "plan", "no level given"),
    (
        "plan.levels",
        "L6",
        "plan",
        "plan.levels: L6 does not exist in this patient's anatomy (12 thoracic, 5 lumbar vertebrae)",
    ),
    ("plan.levels", "T13", "plan", "T13 does not exist"),
    ("plan.levle", "L2", "plan", "unknown field 'levle'"),
    ("consent", [], "consent", "consent: must be an object"),
    ("consent.procedure", "block", "consent", "consent.procedure"),
    ("consent.levels", "L2-", "consent", "cannot read"),
    ("marking", True, "marking", "marking: must be an object"),
    ("marking.region", "lower back", "marking", "marking.region"),
    ("marking.side", None, "marking", "marking.side: this field is required"),
    ("preop_imaging", "L2", "preop_imaging", "must be an object"),
    ("preop_imaging.levels", "L9", "preop_imaging", "L9 does not exist"),
    ("preop_imaging.levels", ..., "preop_imaging", "preop_imaging.levels: this field is required"),
    ("localizations", {"reference": "sacrum"}, "localizations", "must be a list"),
    ("localizations", "sacrum 4", "localizations", "must be a list"),
    ("localizations.0", "L2", "localizations", "localizations[0]: must be an object"),
    ("localizations.0.reference", "coccyx", "localizations", "localizations[0].reference"),
    ("localizations.0.reference", ..., "localizations", "localizations[0].reference: this field is required"),
    ("localizations.0.count", 0, "localizations", "localizations[0].count: must be a whole number from 1 to"),
    ("localizations.0.count", -3, "localizations", "from 1 to"),
    ("localizations.0.count", True, "localizations", "from 1 to"),
    ("localizations.0.count", 4.0, "localizations", "from 1 to"),
    ("localizations.0.count", "4", "localizations", "from 1 to"),
    ("localizations.0.count", 10**12, "localizations", "from 1 to 999999999999"),
    ("localizations.0.count", ..., "localizations", "localizations[0].count: this field is required"),
    ("localizations.0.marker_in_place", ..., "localizations", "marker_in_place: this field is required"),
    ("localizations.0.marker_in_place", "yes", "localizations", "must be true or false"),
    ("localizations.0.marker_in_place", 1, "localizations", "must be true or false"),
    ("localizations.0.level", "L2, L3", "localizations", "names 2 nerve roots"),
    ("localizations.0.level", "L2-L4", "localizations", "ambiguous"),
    ("localizations.0.level", "L6", "localizations", "L6 does not exist"),
    ("localizations.0.level", 2, "localizations", "must be text"),
    ("localizations.0.side", "up", "localizations", "is not left or right"),
    ("localizations.0.side", None, "localizations", "is not left or right"),
    ("localizations.0.sid", "left", "localizations", "unknown field 'sid'"),
]


@pytest.mark.parametrize(("path", "value", "field", "fragment"), INVALID)
def test_invalid_input(path: str, value: Any, field: str, fragment: str) -> None:
    errors = input_errors(mutate(path, value))
    assert field in errors
    assert any(fragment in message for message in errors[field]), errors


@pytest.mark.parametrize("body", [None, [], "L2", 3, [base()]])
def test_non_object_body(body: Any) -> None:
    assert input_errors(body) == {"non_field_errors": [check.ERR_NOT_OBJECT]}


def test_segment_plan_rejects_lone_vertebrae_everywhere() -> None:
    request = base("discectomy", "L2-L3", stage="localization")
    request["localizations"] = [loc("sacrum", 4, "L2")]
    request["preop_imaging"]["levels"] = "L2"
    errors = input_errors(request)
    assert set(errors) == {"preop_imaging", "localizations"}
    assert "single vertebra" in errors["localizations"][0]
    request["localizations"] = [loc("sacrum", 4, "L1-L3")]
    assert "names 2 segments" in input_errors(request)["localizations"][0]


def test_consent_for_another_procedure_is_recorded_as_written() -> None:
    """Contract v2, rule 6: a consent for another procedure is a mismatch, never invalid input."""
    request = base("discectomy", "L2-L3")
    request["consent"] = {"procedure": "transforaminal_epidural_injection", "levels": "L2", "side": "midline"}
    result = check_levels(request)
    assert result["verdict"] == "stop"
    found = messages(result, CONSENT_MISMATCH)
    assert any("TRANSFORAMINAL EPIDURAL INJECTION" in m and "DISCECTOMY" in m for m in found)
    assert any("MIDLINE" in m for m in found)


def test_errors_are_collected_across_fields() -> None:
    request = base(stage="localization")
    request["plan"]["levels"] = "L6"
    request["consent"]["side"] = "up"
    request["marking"]["region"] = "neck"
    request["localizations"] = [loc("sacrum", 0, "L2"), loc("pelvis", 2, "L2")]
    errors = input_errors(request)
    assert set(errors) == {"plan", "consent", "marking", "localizations"}
    assert len(errors["localizations"]) == 2
    assert errors["localizations"][1].startswith("localizations[1].reference")


def test_invalid_anatomy_still_reports_other_fields() -> None:
    request = base()
    request["anatomy"] = {"lumbar": 9}
    request["plan"]["side"] = "up"
    assert set(input_errors(request)) == {"anatomy", "plan"}


def test_level_that_exists_only_in_the_recorded_anatomy() -> None:
    assert check_levels(base("vertebral_augmentation", "L6", "midline", lumbar=6))["verdict"] == "pass"
    assert (
        check_levels(base("vertebral_augmentation", "T13", "midline", region="thoracic", thoracic=13))["verdict"]
        == "pass"
    )
    errors = input_errors(base("vertebral_augmentation", "T12", "midline", region="thoracic", thoracic=11))
    assert "(11 thoracic, 5 lumbar vertebrae)" in errors["plan"][0]


def test_nonexistent_level_without_anatomy_advises_recording_it() -> None:
    request = base("vertebral_augmentation", "L6", "midline")
    del request["anatomy"]
    (message,) = input_errors(request)["plan"]
    assert "L6 does not exist" in message
    assert "no anatomy was recorded" in message


def test_level_input_error_is_a_value_error_with_readable_text() -> None:
    with pytest.raises(ValueError, match="L6 does not exist"):
        check_levels(mutate("plan.levels", "L6"))


def test_absurd_values_are_reported_not_crashed_on() -> None:
    huge = 10**5000  # too long for repr() under Python's int-to-str limit
    request = mutate("localizations.0.count", -huge)
    request["anatomy"]["thoracic"] = huge
    errors = input_errors(request)
    assert set(errors) == {"anatomy", "localizations"}
    assert "too large to show" in errors["localizations"][0]
    request = mutate("localizations.0.count", huge)
    assert "too large to show" in input_errors(request)["localizations"][0]
