"""Contract v2 of the level check: each rule, properties that hunt false passes, and strict input.

The rules are those of "The level check, version 2" in the design's domain.md. The properties do not
re-use the engine's own tables: junction regions, neighbours and notations are written out here.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from levelverify.check import (
    ACTION_BY_CODE,
    CONSENT_MISMATCH,
    LOCALIZATION_OUTSIDE_PLAN,
    LOCALIZATION_SIDE_MISMATCH,
    MARKING_MISMATCH,
    PROCEDURES,
    REGIONS,
    SEVERITY_BY_CODE,
    STRUCTURE_BY_PROCEDURE,
    check_levels,
)
from levelverify.errors import LevelInputError
from levelverify.spine import (
    Anatomy,
    NerveRoot,
    Segment,
    Vertebra,
    allowed_lowest_mobiles,
    allowed_lowest_ribs,
    format_unit,
    parse_levels,
    region_contains,
    unit_to_count,
)
from levelverify.strict_json import MAX_DEPTH, loads_strict
from levelverify.testing import load_scenarios, outcome_problems

FAST = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
CASES = load_scenarios()


def agreeing(
    procedure: str = "selective_nerve_root_block",
    levels: str = "L2",
    side: str = "left",
    region: str = "lumbar",
    stage: str = "time_out",
) -> dict[str, Any]:
    return {
        "stage": stage,
        "anatomy": {"thoracic": 12, "lumbar": 5, "source": "whole_spine"},
        "plan": {"procedure": procedure, "levels": levels, "side": side},
        "consent": {"procedure": procedure, "levels": levels, "side": side},
        "marking": {"region": region, "side": side},
        "preop_imaging": {"levels": levels},
    }


def stop_codes(result: dict[str, Any]) -> set[str]:
    return {f["code"] for f in result["findings"] if f["severity"] == "stop"}


def errors_of(request: Any) -> dict[str, list[str]]:
    with pytest.raises(LevelInputError) as caught:
        check_levels(request)
    return caught.value.errors


# --- rule 1: junction regions are exact ----------------------------------------------------------


@pytest.mark.parametrize(
    ("procedure", "levels", "side", "region"),
    [
        # The false passes v1 let through: a junction read as "either region".
        ("discectomy", "L5-S1", "left", "thoracolumbar"),
        ("vertebral_augmentation", "T3", "midline", "thoracolumbar"),
        ("decompression", "L1-L2", "bilateral", "lumbosacral"),
        ("decompression", "L2-L3", "bilateral", "thoracolumbar"),
        ("fusion", "L3-L5", "bilateral", "lumbosacral"),
        ("vertebral_augmentation", "C5", "midline", "cervicothoracic"),
        ("selective_nerve_root_block", "L3", "left", "thoracolumbar"),
    ],
)
def test_a_junction_mark_never_covers_a_level_outside_its_list(
    procedure: str, levels: str, side: str, region: str
) -> None:
    result = check_levels(agreeing(procedure, levels, side, region))
    assert result["verdict"] == "stop"
    assert stop_codes(result) == {MARKING_MISMATCH}


@pytest.mark.parametrize(
    ("procedure", "levels", "side", "region"),
    [
        ("fusion", "T11-L2", "bilateral", "thoracolumbar"),
        ("discectomy", "L4-L5", "left", "lumbosacral"),
        ("discectomy", "L5-S1", "left", "lumbosacral"),
        ("vertebral_augmentation", "T1", "midline", "cervicothoracic"),
        ("selective_nerve_root_block", "L2", "left", "thoracolumbar"),
    ],
)
def test_a_junction_mark_covers_its_own_levels(procedure: str, levels: str, side: str, region: str) -> None:
    assert check_levels(agreeing(procedure, levels, side, region))["verdict"] == "pass"


def _junction_list(region: str, thoracic: int, lumbar: int) -> set[str]:
    """Written out from domain.md v2, rule 1, independently of the engine."""
    return {
        "cervicothoracic": {"C6", "C7", "T1", "T2"},
        "thoracolumbar": {f"T{thoracic - 1}", f"T{thoracic}", "L1", "L2"},
        "lumbosacral": {f"L{lumbar - 1}", f"L{lumbar}", "S1"},
    }[region]


@pytest.mark.parametrize("thoracic", [11, 12, 13])
@pytest.mark.parametrize("lumbar", [4, 5, 6])
def test_every_junction_region_contains_exactly_its_listed_vertebrae(thoracic: int, lumbar: int) -> None:
    anatomy = Anatomy(thoracic=thoracic, lumbar=lumbar)
    for region in ("cervicothoracic", "thoracolumbar", "lumbosacral"):
        listed = _junction_list(region, thoracic, lumbar)
        inside = {v.name for v in anatomy.sequence if region_contains(region, v, anatomy)}
        assert inside == listed, (region, thoracic, lumbar)
        for segment in anatomy.units("segment"):
            assert isinstance(segment, Segment)
            expected = {segment.upper.name, segment.lower.name} <= listed
            assert region_contains(region, segment, anatomy) is expected, (region, segment)


def test_the_marking_message_names_what_the_junction_covers() -> None:
    result = check_levels(agreeing("discectomy", "L5-S1", "left", "thoracolumbar"))
    (message,) = [f["message"] for f in result["findings"] if f["code"] == MARKING_MISMATCH]
    assert "THORACOLUMBAR (T11, T12, L1, L2)" in message
    assert "L5-S1" in message


# --- rule 2: nerve roots as clinicians name them --------------------------------------------------


def test_a_foramen_names_the_root_of_its_upper_vertebra() -> None:
    result = check_levels(agreeing("transforaminal_epidural_injection", "L4-L5", "left"))
    assert result["verdict"] == "pass"
    assert result["target"]["units"] == ["L4"]
    assert result["target"]["display"] == "left L4 nerve root (L4-L5 foramen)"
    for same in ("L4", "L4-5", "L4/5", "l4 - l5", "L4\u20135"):
        request = agreeing("transforaminal_epidural_injection", "L4-L5", "left")
        request["consent"]["levels"] = same
        request["preop_imaging"]["levels"] = same
        assert check_levels(request)["verdict"] == "pass", same


def test_a_foramen_one_level_off_is_a_stop() -> None:
    request = agreeing("transforaminal_epidural_injection", "L4-L5", "left")
    request["consent"]["levels"] = "L5-S1"
    assert stop_codes(check_levels(request)) == {CONSENT_MISMATCH}


def test_a_root_image_may_be_labelled_by_its_vertebra_or_its_foramen() -> None:
    for label, count in (("L4", 2), ("L4-L5", 2), ("L4/5", 2)):
        request = agreeing("selective_nerve_root_block", "L4", "left", stage="localization")
        request["localizations"] = [{"reference": "sacrum", "count": count, "level": label, "marker_in_place": True}]
        assert check_levels(request)["verdict"] == "pass", label
    request = agreeing("selective_nerve_root_block", "L4", "left", stage="localization")
    request["localizations"] = [{"reference": "sacrum", "count": 1, "level": "L5-S1", "marker_in_place": True}]
    assert stop_codes(check_levels(request)) == {LOCALIZATION_OUTSIDE_PLAN}


def test_a_root_image_outside_the_plan_is_read_back_as_roots_with_their_foramina() -> None:
    """The nurse reads the stop aloud: "L5" alone would not say that the image shows the L5-S1
    foramen while the plan's root leaves at L4-L5."""
    request = agreeing("selective_nerve_root_block", "L4", "left", stage="localization")
    request["localizations"] = [{"reference": "sacrum", "count": 1, "level": "L5-S1", "marker_in_place": True}]
    (finding,) = [f for f in check_levels(request)["findings"] if f["code"] == LOCALIZATION_OUTSIDE_PLAN]
    assert finding["message"] == (
        "Image labelled L5 nerve root (L5-S1 foramen) is not in the plan, which names L4 nerve root (L4-L5 foramen)."
    )


@pytest.mark.parametrize(
    ("levels", "fragment"),
    [
        ("L2-L4", "list the roots (L2, L3, L4)"),
        ("C6", "cervical nerve roots are not supported"),
        ("C6-C7", "cervical nerve roots are not supported"),
    ],
)
def test_ambiguous_spans_and_cervical_roots_are_refused_saying_how_to_write_them(levels: str, fragment: str) -> None:
    errors = errors_of(agreeing("selective_nerve_root_block", levels, "left"))
    assert any(fragment in message for message in errors["plan"]), errors


# --- rule 3: the side seen on the image ----------------------------------------------------------


def test_an_image_on_the_other_side_stops_a_unilateral_plan() -> None:
    request = agreeing(stage="localization")
    request["localizations"] = [
        {"reference": "sacrum", "count": 4, "level": "L2", "marker_in_place": True, "side": "right"}
    ]
    result = check_levels(request)
    assert stop_codes(result) == {LOCALIZATION_SIDE_MISMATCH}
    request["localizations"][0]["side"] = "left"
    assert check_levels(request)["verdict"] == "pass"


def test_an_image_side_never_contradicts_a_bilateral_or_midline_plan() -> None:
    for side in ("bilateral", "midline"):
        procedure = "decompression" if side == "bilateral" else "interlaminar_epidural_injection"
        request = agreeing(procedure, "L4-L5", side, stage="localization")
        request["localizations"] = [
            {"reference": "sacrum", "count": 2, "level": "L4-L5", "marker_in_place": True, "side": "left"}
        ]
        assert check_levels(request)["verdict"] == "pass"


def test_an_image_side_is_ignored_with_the_image_when_the_marker_was_removed() -> None:
    request = agreeing(stage="localization")
    request["localizations"] = [
        {"reference": "sacrum", "count": 4, "level": "L2", "marker_in_place": False, "side": "right"}
    ]
    assert LOCALIZATION_SIDE_MISMATCH not in stop_codes(check_levels(request))


# --- rule 4: anatomy is never assumed ------------------------------------------------------------


def test_anatomy_without_a_source_is_read_as_usual_and_never_passes() -> None:
    request = agreeing()
    request["anatomy"] = {"thoracic": 12, "lumbar": 6}
    result = check_levels(request)
    assert result["verdict"] == "incomplete"
    assert result["anatomy"]["recorded"] is False
    assert result["anatomy"]["lumbar"] == 5  # read against the usual anatomy, as when absent
    message = next(f["message"] for f in result["findings"] if f["code"] == "ANATOMY_MISSING")
    assert "source" in message


@pytest.mark.parametrize("field", ["thoracic", "lumbar", "source", "lowest_rib", "lowest_mobile"])
@pytest.mark.parametrize("value", [None, [], {}, 12.0, True])
def test_null_or_a_wrong_type_in_an_anatomy_field_is_invalid(field: str, value: Any) -> None:
    request = agreeing()
    request["anatomy"][field] = value
    errors = errors_of(request)
    assert any(f"anatomy.{field}" in message for message in errors["anatomy"]), errors


# --- rule 5: only real structures ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("levels", "anatomy"),
    [
        ("C1-C2", {}),
        ("S1-S2", {}),
        ("L5-S1", {"lowest_mobile": "L4"}),
        ("L4-S2", {}),
        ("L3-S1", {"lumbar": 4, "lowest_mobile": "L3"}),
    ],
)
def test_a_segment_must_be_a_disc_space_that_exists(levels: str, anatomy: dict[str, Any]) -> None:
    request = agreeing("discectomy", "L4-L5")
    request["anatomy"].update(anatomy)
    request["plan"]["levels"] = levels
    assert "plan" in errors_of(request)


def test_a_lumbarized_s1_has_an_s1_s2_disc() -> None:
    request = agreeing("discectomy", "S1-S2", region="sacral")
    request["anatomy"]["lowest_mobile"] = "S1"
    assert check_levels(request)["verdict"] == "pass"


# --- rule 6: consent as written -------------------------------------------------------------------


@pytest.mark.parametrize(
    "consent",
    [
        {"procedure": "vertebral_augmentation", "levels": "L4", "side": "left"},
        {"procedure": "selective_nerve_root_block", "levels": "L4", "side": "midline"},
        {"procedure": "fusion", "levels": "L4-S1", "side": "left"},
        {"procedure": "vertebral_augmentation", "levels": "L4-L6", "side": "left"},
    ],
)
def test_consent_for_another_procedure_is_a_stop_never_invalid_input(consent: dict[str, Any]) -> None:
    request = agreeing("discectomy", "L4-L5", "left")
    request["consent"] = consent
    result = check_levels(request)
    assert result["verdict"] == "stop"
    assert CONSENT_MISMATCH in stop_codes(result)


def test_consent_for_the_plans_procedure_that_cannot_be_read_is_invalid() -> None:
    request = agreeing("discectomy", "L4-L5", "left")
    request["consent"]["levels"] = "L4"
    assert "consent" in errors_of(request)


# --- rule 7: strict input -------------------------------------------------------------------------

LOOK_ALIKES = [
    "\u0422" + "2",  # Cyrillic capital TE
    "L\uff12",  # full-width digit two
    "L\u0662",  # Arabic-Indic digit two
    "L2\u200b",  # zero-width space
    "L2\u00a0",  # no-break space
    "L2\u2212L3",  # minus sign
    "L2\u2011L3",  # non-breaking hyphen
    "\u216c2",  # Roman numeral fifty, looks like L
    "L2\x00",
]


@pytest.mark.parametrize("text", LOOK_ALIKES)
@pytest.mark.parametrize("field", ["plan", "consent", "preop_imaging"])
def test_look_alike_characters_in_levels_are_invalid_naming_the_field(text: str, field: str) -> None:
    request = agreeing("discectomy", "L2-L3")
    request[field]["levels"] = text
    assert field in errors_of(request)


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_look_alike_characters_in_a_label_are_invalid(text: str) -> None:
    request = agreeing(stage="localization")
    request["localizations"] = [{"reference": "sacrum", "count": 4, "level": text, "marker_in_place": True}]
    assert "localizations" in errors_of(request)


def test_ascii_whitespace_is_read_as_separation() -> None:
    request = agreeing("fusion", "L1-L3", "bilateral")
    request["consent"]["levels"] = "L1 -\tL2,\nL2/L3"
    assert check_levels(request)["verdict"] == "pass"


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("localizations", 0, "marker_in_palce"), True, "marker_in_palce"),
        (("plan", "levles"), "L2", "levles"),
        (("marking", "sdie"), "left", "sdie"),
        (("plna",), {}, "plna"),
    ],
)
def test_misspelt_fields_are_named(path: tuple[Any, ...], value: Any, field: str) -> None:
    request = agreeing(stage="localization")
    request["localizations"] = [{"reference": "sacrum", "count": 4, "level": "L2", "marker_in_place": True}]
    target: Any = request
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    errors = errors_of(request)
    assert field in errors
    assert all(field in message for message in errors[field])


@pytest.mark.parametrize(
    "marker",
    ["false", "true", 1, 0, None, "yes", [True]],
)
def test_marker_in_place_must_be_a_boolean(marker: Any) -> None:
    request = agreeing(stage="localization")
    request["localizations"] = [{"reference": "sacrum", "count": 4, "level": "L2", "marker_in_place": marker}]
    assert "localizations" in errors_of(request)


def test_marker_in_place_is_required() -> None:
    request = agreeing(stage="localization")
    request["localizations"] = [{"reference": "sacrum", "count": 4, "level": "L2"}]
    assert "marker_in_place" in errors_of(request)["localizations"][0]


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"plan": {"procedure": "discectomy"}, "plan": {"procedure": "discectomy"}}', "plan"),
        ('{"anatomy": {"thoracic": 12, "thoracic": 11, "lumbar": 5, "source": "whole_spine"}}', "thoracic"),
        (
            '{"localizations": [{"reference": "sacrum", "count": 4, "count": 5, "level": "L2",'
            ' "marker_in_place": true}]}',
            "count",
        ),
    ],
)
def test_duplicate_keys_are_invalid_naming_the_key(text: str, field: str) -> None:
    errors = errors_of(loads_strict(text))
    assert field in errors
    assert "more than once" in errors[field][0]


def _nested(depth: int) -> str:
    """An object holding lists: ``depth`` levels in all, the outer object being the first."""
    return '{"plan": ' + "[" * (depth - 1) + "1" + "]" * (depth - 1) + "}"


def test_nesting_beyond_32_levels_is_invalid_and_within_it_is_read() -> None:
    assert isinstance(loads_strict(_nested(MAX_DEPTH)), dict)
    with pytest.raises(LevelInputError):
        loads_strict(_nested(MAX_DEPTH + 1))
    with pytest.raises(LevelInputError):
        loads_strict("[" * 100_000 + "]" * 100_000)


@pytest.mark.parametrize("number", ["1234567890123", "-1234567890123", "1.23456789012345", "1e999999", "NaN"])
def test_numbers_longer_than_12_digits_and_non_numbers_are_invalid(number: str) -> None:
    with pytest.raises(LevelInputError):
        loads_strict('{"localizations": [{"count": ' + number + "}]}")
    assert loads_strict('{"count": 123456789012}') == {"count": 123456789012}


# --- rule 8: every finding names what to do ------------------------------------------------------


def test_every_stop_and_incomplete_code_has_an_action() -> None:
    for code, severity in SEVERITY_BY_CODE.items():
        if severity != "warning":
            assert ACTION_BY_CODE[code].strip(), code


@pytest.mark.parametrize("case", [c for c in CASES if c["expect"]["status"] == 200], ids=lambda c: c["name"])
def test_every_scenario_answer_carries_contract_2_and_actions(case: dict[str, Any]) -> None:
    result = check_levels(case["request"])
    assert result["contract"] == 2
    for finding in result["findings"]:
        if finding["severity"] != "warning":
            assert finding["message"].strip() and finding["action"].strip()


# --- metamorphic: every shared scenario through every notation of its levels ---------------------

_ITEM = re.compile(r"([CTLS])(\d+)(?:\s*[-/\u2013\u2014]\s*([CTLS])?(\d+))?", re.IGNORECASE)
STYLES = [
    ("-", True, False),
    ("/", False, False),
    ("\u2013", False, False),
    ("\u2014", True, False),
    (" - ", True, True),
    ("/", True, True),
]


def renotate(text: str, style: tuple[str, bool, bool]) -> str:
    """The same levels in another notation domain.md allows (L2-L3, L2/3, L2-3 with an en dash, l2 - l3, ...)."""
    separator, full_second, lower = style

    def one(match: re.Match[str]) -> str:
        first = f"{match.group(1).upper()}{int(match.group(2))}"
        if match.group(4) is None:
            out = first
        else:
            region = (match.group(3) or match.group(1)).upper()
            same = region == match.group(1).upper()
            second = f"{region}{int(match.group(4))}" if full_second or not same else str(int(match.group(4)))
            out = f"{first}{separator}{second}"
        return out.lower() if lower else out

    return _ITEM.sub(one, text)


def renotate_request(request: dict[str, Any], style: tuple[str, bool, bool]) -> dict[str, Any]:
    changed = copy.deepcopy(request)
    for field in ("plan", "consent", "preop_imaging"):
        if isinstance(changed.get(field), dict) and isinstance(changed[field].get("levels"), str):
            changed[field]["levels"] = renotate(changed[field]["levels"], style)
    for item in changed.get("localizations") or []:
        if isinstance(item, dict) and isinstance(item.get("level"), str):
            item["level"] = renotate(item["level"], style)
    return changed


def _outcome(request: dict[str, Any]) -> tuple[Any, ...]:
    try:
        result = check_levels(request)
    except LevelInputError as error:
        return ("invalid", tuple(sorted(error.errors)))
    return (result["verdict"], tuple(sorted({f["code"] for f in result["findings"]})), tuple(result["target"] or ()))


@pytest.mark.parametrize("case", [c for c in CASES if "request" in c], ids=lambda c: c["name"])
def test_every_scenario_gets_the_same_verdict_in_every_notation(case: dict[str, Any]) -> None:
    original = _outcome(case["request"])
    for style in STYLES:
        changed = renotate_request(case["request"], style)
        assert _outcome(changed) == original, (style, changed)
        if case["expect"]["status"] == 200:
            assert outcome_problems(case["expect"], 200, check_levels(changed)) == []


# --- properties: neighbouring evidence never passes ---------------------------------------------

ANATOMIES = [
    Anatomy(t, lu, rib, mobile, "whole_spine")
    for t in (11, 12, 13)
    for lu in (4, 5, 6)
    for rib in allowed_lowest_ribs(t)
    for mobile in allowed_lowest_mobiles(lu)
]


@st.composite
def agreeing_cases(draw: st.DrawFn) -> tuple[dict[str, Any], Anatomy, list[Any]]:
    anatomy = draw(st.sampled_from(ANATOMIES))
    procedure = draw(st.sampled_from(PROCEDURES))
    structure = STRUCTURE_BY_PROCEDURE[procedure]
    candidates = anatomy.units(structure)
    index = draw(st.integers(1, len(candidates) - 2))  # leave a neighbour on each side
    units = [candidates[index]]
    sides = ["left", "right", "bilateral"] + ([] if structure == "nerve_root" else ["midline"])
    side = draw(st.sampled_from(sides))
    letter = units[0].vertebrae[0].region
    region = {"C": "cervical", "T": "thoracic", "L": "lumbar", "S": "sacral"}[letter]
    levels = format_unit(units[0])
    request = {
        "stage": "time_out",
        "anatomy": anatomy.to_json(),
        "plan": {"procedure": procedure, "levels": levels, "side": side},
        "consent": {"procedure": procedure, "levels": levels, "side": side},
        "marking": {"region": region, "side": side},
        "preop_imaging": {"levels": levels},
    }
    return request, anatomy, [candidates[index - 1], candidates[index], candidates[index + 1]]


def _never_passes(request: dict[str, Any]) -> None:
    try:
        result = check_levels(request)
    except LevelInputError:
        return  # refused: not a pass
    assert result["verdict"] == "stop", (request, result["findings"])


@FAST
@given(case=agreeing_cases(), field=st.sampled_from(["consent", "preop_imaging"]), step=st.sampled_from([0, 2]))
def test_moving_consent_or_imaging_to_a_neighbouring_level_always_stops(
    case: tuple[dict[str, Any], Anatomy, list[Any]], field: str, step: int
) -> None:
    request, _, around = case
    assert check_levels(request)["verdict"] == "pass"
    request[field]["levels"] = format_unit(around[step])
    _never_passes(request)


@FAST
@given(
    case=agreeing_cases(),
    field=st.sampled_from(["consent", "marking"]),
    side=st.sampled_from(["left", "right", "bilateral", "midline"]),
)
def test_moving_consent_or_marking_to_another_side_always_stops(
    case: tuple[dict[str, Any], Anatomy, list[Any]], field: str, side: str
) -> None:
    request, _, _ = case
    if side == request["plan"]["side"]:
        return
    request[field]["side"] = side
    _never_passes(request)


@FAST
@given(case=agreeing_cases(), region=st.sampled_from(REGIONS))
def test_a_mark_on_a_region_that_does_not_hold_the_target_always_stops(
    case: tuple[dict[str, Any], Anatomy, list[Any]], region: str
) -> None:
    request, anatomy, around = case
    target = around[1]
    names = {v.name for v in target.vertebrae}
    if region in ("cervicothoracic", "thoracolumbar", "lumbosacral"):
        holds = names <= _junction_list(region, anatomy.thoracic, anatomy.lumbar)
    else:
        holds = any(name[0] == region[0].upper() for name in names)
    request["marking"]["region"] = region
    if holds:
        assert MARKING_MISMATCH not in stop_codes(check_levels(request))
    else:
        _never_passes(request)


@FAST
@given(
    case=agreeing_cases(),
    reference=st.sampled_from(["sacrum", "c2", "last_rib"]),
    shift=st.sampled_from([-1, 1]),
    image_side=st.sampled_from([None, "left", "right"]),
)
def test_a_count_off_by_one_never_passes_with_the_same_label(
    case: tuple[dict[str, Any], Anatomy, list[Any]], reference: str, shift: int, image_side: str | None
) -> None:
    request, anatomy, around = case
    target = around[1]
    count = unit_to_count(reference, target, anatomy)
    if count is None or count + shift < 1:
        return
    request["stage"] = "localization"
    image: dict[str, Any] = {
        "reference": reference,
        "count": count + shift,
        "level": format_unit(target),
        "marker_in_place": True,
    }
    if image_side is not None:
        image["side"] = image_side
    request["localizations"] = [image]
    _never_passes(request)


@FAST
@given(
    case=agreeing_cases(),
    wrong=st.sampled_from(["consent", "preop_imaging", "marking_side", "image"]),
    also=st.sampled_from(["consent", "preop_imaging", "marking_region", "image_side", "nothing"]),
)
def test_a_stop_never_becomes_a_pass_when_other_evidence_moves(
    case: tuple[dict[str, Any], Anatomy, list[Any]], wrong: str, also: str
) -> None:
    request, anatomy, around = case
    request["stage"] = "localization"
    target = around[1]
    count = unit_to_count("c2", target, anatomy)
    request["localizations"] = [
        {"reference": "c2", "count": count, "level": format_unit(target), "marker_in_place": True}
    ]
    if wrong == "consent":
        request["consent"]["levels"] = format_unit(around[0])
    elif wrong == "preop_imaging":
        request["preop_imaging"]["levels"] = format_unit(around[2])
    elif wrong == "marking_side":
        request["marking"]["side"] = "right" if request["plan"]["side"] == "left" else "left"
    else:
        neighbour = around[2]
        request["localizations"][0].update(
            {"count": unit_to_count("c2", neighbour, anatomy), "level": format_unit(neighbour)}
        )
    if also in ("consent", "preop_imaging") and also != wrong:
        request[also]["levels"] = format_unit(around[0] if also == "consent" else around[2])
    elif also == "marking_region":
        request["marking"]["region"] = "thoracolumbar"
    elif also == "image_side":
        request["localizations"][0]["side"] = "left"
    _never_passes(request)


# --- hostile bytes: never past the API or the command --------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=15,
)


@FAST
@given(raw=st.binary(max_size=200))
def test_random_bytes_are_read_or_refused_never_raised(raw: bytes) -> None:
    try:
        value = loads_strict(raw)
    except LevelInputError as error:
        assert error.errors
        return
    try:
        check_levels(value) if isinstance(value, dict) else None
    except LevelInputError as error:
        assert error.errors


@FAST
@given(value=st.dictionaries(st.sampled_from(["plan", "consent", "anatomy", "localizations", "x"]), JSON_VALUES))
def test_random_json_is_a_verdict_or_invalid_input(value: dict[str, Any]) -> None:
    try:
        result = check_levels(loads_strict(json.dumps(value)))
    except LevelInputError as error:
        assert error.errors and all(m for ms in error.errors.values() for m in ms)
    else:
        assert result["contract"] == 2 and result["verdict"] in ("pass", "stop", "incomplete")


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(raw=st.binary(max_size=120) | JSON_VALUES.map(lambda v: json.dumps(v).encode()))
def test_random_bodies_never_make_the_endpoint_fail(raw: bytes) -> None:
    from django.test import Client

    from tests.support.factories import UserFactory

    user = UserFactory(roles=["nurse"])
    client = Client()
    client.force_login(user)
    response = client.post("/api/v1/level-checks/", data=raw, content_type="application/json")
    assert response.status_code in (200, 400), response.content
    body = response.json()
    assert ("verdict" in body and body["contract"] == 2) or body["errors"]


@FAST
@given(raw=st.binary(max_size=120))
def test_random_bytes_never_make_the_command_raise(raw: bytes, tmp_path_factory: pytest.TempPathFactory) -> None:
    from levelverify.management.commands.check_levels import EXIT_INVALID, Command

    path = Path(tmp_path_factory.mktemp("raw")) / "body.json"
    path.write_bytes(raw)
    code, body = Command()._run(str(path))
    assert code in (0, 1, EXIT_INVALID)
    json.dumps(body)
    if code == EXIT_INVALID:
        assert body["errors"]


def test_units_used_here_are_the_engines_own_types() -> None:
    assert parse_levels("L4-L5", "nerve_root", Anatomy()) == (NerveRoot(Vertebra("L", 4)),)
