"""Properties over every anatomy, and robustness of the parser and the check on arbitrary input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from levelverify.check import (
    CONSENT_MISMATCH,
    COUNT_LABEL_MISMATCH,
    PREOP_IMAGING_MISMATCH,
    PROCEDURES,
    REFERENCES,
    REGIONS,
    SEVERITY_BY_CODE,
    SIDES,
    STAGES,
    STRUCTURE_BY_PROCEDURE,
    check_levels,
    verdict_for,
)
from levelverify.check import Finding as _Finding
from levelverify.errors import LevelInputError
from levelverify.spine import (
    SOURCES,
    STRUCTURES,
    Anatomy,
    NerveRoot,
    NotationError,
    Segment,
    Structure,
    Unit,
    allowed_lowest_mobiles,
    allowed_lowest_ribs,
    count_to_unit,
    format_unit,
    parse_levels,
    parse_unit,
    unit_to_count,
)

# No example database: the suite must not write files into the repository.
FAST = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

ANATOMIES = [
    Anatomy(thoracic, lumbar, rib, mobile, source)
    for thoracic in (11, 12, 13)
    for lumbar in (4, 5, 6)
    for rib in allowed_lowest_ribs(thoracic)
    for mobile in allowed_lowest_mobiles(lumbar)
    for source in SOURCES
]
TOP_LEVEL_ERROR_KEYS = {
    "plan",
    "consent",
    "marking",
    "preop_imaging",
    "localizations",
    "anatomy",
    "stage",
    "non_field_errors",
}


def variants(unit: Unit, anatomy: Anatomy | None = None) -> list[str]:
    """Every notation domain.md allows for one unit (a root also by its foramen, contract v2)."""
    if isinstance(unit, NerveRoot):
        texts = [unit.name, unit.name.lower(), f" {unit.name} "]
        anatomy = anatomy or Anatomy()
        position = anatomy.position(unit.vertebra)
        below = anatomy.segment_at(position) if position is not None else None
        if below is not None:
            texts += [t for t in variants(below) if "," not in t]
        return texts
    if not isinstance(unit, Segment):
        return [unit.name, unit.name.lower(), f" {unit.name} "]
    upper, lower = unit.upper.name, unit.lower.name
    texts = [f"{upper}{sep}{lower}" for sep in ("-", "/", "\u2013", "\u2014", " - ", " / ")]
    texts.append(f"{upper.lower()} - {lower.lower()}")
    if unit.upper.region == unit.lower.region:
        short = lower[1:]
        texts += [f"{upper}-{short}", f"{upper}/{short}", f"{upper}\u2013{short}", f"{upper}\u2014{short}"]
    return texts


# --- exhaustive over every allowed anatomy -------------------------------------------------------


def test_there_are_162_anatomies_and_one_is_usual() -> None:
    assert len(ANATOMIES) == 3 * 3 * 3 * 3 * 2
    assert [a for a in ANATOMIES if a.is_usual] == [Anatomy()]


def test_format_then_parse_is_identity_for_every_unit_and_notation() -> None:
    for anatomy in ANATOMIES:
        for structure in STRUCTURES:
            for unit in anatomy.units(structure):
                assert anatomy.contains(unit)
                for text in variants(unit, anatomy):
                    assert parse_unit(text, structure, anatomy) == unit, (anatomy, text)
                assert parse_levels(format_unit(unit), structure, anatomy) == (unit,)


def test_spans_expand_to_every_unit_between_their_ends() -> None:
    """Vertebra spans: every vertebra; segment spans: every real disc space (none below the one under
    the lowest mobile vertebra, none above C2-C3); root items: one root or one foramen (contract v2)."""
    for anatomy in ANATOMIES:
        seq = anatomy.sequence
        last_disc = anatomy.last_disc_position  # 1-based position of the upper vertebra of the last disc
        for structure in STRUCTURES:
            for top in range(0, len(seq) - 1, 3):
                for bottom in range(top + 1, min(top + 5, len(seq))):
                    text = f"{seq[top]}-{seq[bottom]}"
                    real_discs = top + 1 >= 2 and bottom <= last_disc
                    if structure == "vertebra":
                        units = parse_levels(text, structure, anatomy)
                        assert len(units) == bottom - top + 1
                    elif structure == "segment" and real_discs:
                        units = parse_levels(text, structure, anatomy)
                        assert len(units) == bottom - top
                    elif structure == "nerve_root" and real_discs and bottom == top + 1 and seq[top].region != "C":
                        units = parse_levels(text, structure, anatomy)
                        assert units == (NerveRoot(seq[top]),)
                    else:
                        with pytest.raises(NotationError):
                            parse_levels(text, structure, anatomy)
                        continue
                    assert list(units) == sorted(units, key=lambda u: u.sort_key)
                    assert all(anatomy.contains(u) for u in units)


def test_counts_and_units_are_inverse_for_every_reference() -> None:
    for anatomy in ANATOMIES:
        length = len(anatomy.sequence)
        for structure in STRUCTURES:
            for reference in REFERENCES:
                reached = []
                for unit in anatomy.units(structure):
                    count = unit_to_count(reference, unit, anatomy)
                    if count is not None:
                        assert count >= 1
                        assert count_to_unit(reference, count, structure, anatomy) == unit
                        reached.append(unit)
                landed = []
                for count in range(-1, length + 3):
                    unit = count_to_unit(reference, count, structure, anatomy)
                    if unit is not None:
                        assert count >= 1
                        assert unit_to_count(reference, unit, anatomy) == count
                        landed.append(unit)
                assert len(landed) == len(set(landed)) == len(reached)


def test_neighbouring_counts_land_on_different_units() -> None:
    for anatomy in ANATOMIES:
        for structure in STRUCTURES:
            for reference in REFERENCES:
                for count in range(1, 30):
                    here = count_to_unit(reference, count, structure, anatomy)
                    there = count_to_unit(reference, count + 1, structure, anatomy)
                    assert here is None or here != there


def test_sacrum_count_one_and_disc_one_follow_the_landmarks() -> None:
    for anatomy in ANATOMIES:
        mobile = anatomy.lowest_mobile_vertebra
        rib = anatomy.lowest_rib_vertebra
        assert count_to_unit("sacrum", 1, "vertebra", anatomy) == mobile
        disc = count_to_unit("sacrum", 1, "segment", anatomy)
        assert isinstance(disc, Segment) and disc.upper == mobile
        disc = count_to_unit("last_rib", 1, "segment", anatomy)
        assert isinstance(disc, Segment) and disc.upper == rib
        assert count_to_unit("c2", 1, "segment", anatomy) == parse_unit("C2-C3", "segment", anatomy)


# --- the parser never raises anything but NotationError ----------------------------------------

LEVELISH = st.text(alphabet="CTLSctlsx0123456789-/\u2013\u2014\u2212, \t", max_size=25)


@FAST
@given(
    text=st.one_of(st.text(max_size=60), LEVELISH),
    structure=st.sampled_from(STRUCTURES),
    anatomy=st.sampled_from(ANATOMIES),
)
def test_parser_raises_only_its_own_error(text: str, structure: Structure, anatomy: Anatomy) -> None:
    try:
        units = parse_levels(text, structure, anatomy)
    except NotationError as error:
        assert error.messages and all(isinstance(m, str) and m for m in error.messages)
    else:
        assert units
        assert all(anatomy.contains(u) and u.structure == structure for u in units)
        assert list(units) == sorted(set(units), key=lambda u: u.sort_key)
        # Canonical text reads back to the same units.
        assert parse_levels(", ".join(format_unit(u) for u in units), structure, anatomy) == units
    try:
        unit = parse_unit(text, structure, anatomy)
    except NotationError:
        return
    assert parse_levels(text, structure, anatomy) == (unit,)


# --- the check on arbitrary and near-valid input ------------------------------------------------

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=12)
JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


def keys_in(value: Any) -> set[str]:
    """Every key of every object inside a JSON value."""
    if isinstance(value, dict):
        return {k for k in value if isinstance(k, str)} | {k for v in value.values() for k in keys_in(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_in(v)}
    return set()


def assert_well_formed(request: Any) -> dict[str, Any] | None:
    """check_levels either raises LevelInputError with readable messages or returns a sane verdict."""
    try:
        result = check_levels(request)
    except LevelInputError as error:
        assert error.errors
        # Top-level fields, plus unknown or duplicated keys named as themselves (contract v2, rule 7).
        assert set(error.errors) <= TOP_LEVEL_ERROR_KEYS | keys_in(request)
        assert all(messages and all(isinstance(m, str) and m for m in messages) for messages in error.errors.values())
        return None
    assert result["verdict"] in ("pass", "stop", "incomplete")
    findings = [_Finding(f["code"], f["severity"], tuple(f["sources"]), f["message"]) for f in result["findings"]]
    assert result["verdict"] == verdict_for(findings)
    assert result["contract"] == 2
    for finding in findings:
        assert SEVERITY_BY_CODE[finding.code] == finding.severity
        assert finding.message
    for raw in result["findings"]:
        # Contract v2, rule 8: every stop and incomplete finding says what to do.
        assert (raw["severity"] == "warning") or (isinstance(raw.get("action"), str) and raw["action"])
    assert json.loads(json.dumps(result)) == result
    if result["verdict"] == "pass":
        # Never a false pass: all evidence present and recorded.
        assert isinstance(request, dict)
        for field in ("plan", "consent", "marking", "preop_imaging", "anatomy"):
            assert request.get(field) is not None
        assert {"thoracic", "lumbar", "source"} <= request["anatomy"].keys()
        if request.get("stage") == "localization":
            assert any(item["marker_in_place"] for item in request["localizations"])
    return result


@FAST
@given(body=JSON)
def test_check_on_arbitrary_json(body: Any) -> None:
    assert_well_formed(body)


@FAST
@given(body=st.dictionaries(st.sampled_from(sorted(TOP_LEVEL_ERROR_KEYS - {"non_field_errors"})), JSON, max_size=7))
def test_check_on_arbitrary_values_for_known_fields(body: dict[str, Any]) -> None:
    assert_well_formed(body)


def maybe(strategy: st.SearchStrategy[Any], junk: st.SearchStrategy[Any] = JSON_SCALARS) -> st.SearchStrategy[Any]:
    """Mostly valid values, sometimes junk."""
    return st.one_of(strategy, strategy, strategy, junk)


LEVEL_TEXT = st.one_of(
    st.sampled_from(
        [
            "L2",
            "L2-L3",
            "L2/3",
            "L1-L3",
            "L4-S1",
            "T12-L1",
            "L5-S1",
            "L2, L3",
            "L6",
            "T13",
            "C5-C6",
            "S1",
            "L3-L2",
            "L2-",
            "",
        ]
    ),
    LEVELISH,
)
ANATOMY_JSON = st.fixed_dictionaries(
    {},
    optional={
        "thoracic": maybe(st.integers(11, 13)),
        "lumbar": maybe(st.integers(4, 6)),
        "lowest_rib": maybe(st.sampled_from(["T10", "T11", "T12", "T13", "L1"])),
        "lowest_mobile": maybe(st.sampled_from(["L3", "L4", "L5", "L6", "S1"])),
        "source": maybe(st.sampled_from(SOURCES)),
    },
)
ORDER_JSON = st.fixed_dictionaries(
    {
        "procedure": maybe(st.sampled_from(PROCEDURES)),
        "levels": maybe(LEVEL_TEXT),
        "side": maybe(st.sampled_from(SIDES)),
    },
    optional={"structure": maybe(st.sampled_from(STRUCTURES))},
)
LOCALIZATION_JSON = st.fixed_dictionaries(
    {
        "reference": maybe(st.sampled_from(REFERENCES)),
        "count": maybe(st.integers(1, 35), st.integers() | JSON_SCALARS),
        "level": maybe(LEVEL_TEXT),
        "marker_in_place": maybe(st.booleans()),
    }
)
NEAR_VALID = st.fixed_dictionaries(
    {},
    optional={
        "stage": maybe(st.sampled_from(STAGES)),
        "anatomy": maybe(ANATOMY_JSON),
        "plan": maybe(ORDER_JSON),
        "consent": maybe(ORDER_JSON),
        "marking": maybe(
            st.fixed_dictionaries({"region": maybe(st.sampled_from(REGIONS)), "side": maybe(st.sampled_from(SIDES))})
        ),
        "preop_imaging": maybe(st.fixed_dictionaries({"levels": maybe(LEVEL_TEXT)})),
        "localizations": maybe(st.lists(maybe(LOCALIZATION_JSON), max_size=3)),
    },
)


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=NEAR_VALID)
def test_check_on_near_valid_requests(body: dict[str, Any]) -> None:
    assert_well_formed(body)


@st.composite
def agreeing_requests(draw: st.DrawFn) -> tuple[dict[str, Any], Anatomy, Structure, tuple[Unit, ...]]:
    """A fully agreeing request on any anatomy, with consent and imaging in other notations."""
    anatomy = draw(st.sampled_from(ANATOMIES))
    procedure = draw(st.sampled_from(PROCEDURES))
    structure = STRUCTURE_BY_PROCEDURE[procedure]
    candidates = anatomy.units(structure)
    index = draw(st.integers(0, len(candidates) - 1))
    span = draw(st.integers(1, 3))
    units = candidates[index : index + span]
    side = draw(st.sampled_from([s for s in SIDES if not (structure == "nerve_root" and s == "midline")]))
    notations = [draw(st.sampled_from(variants(u, anatomy))) for u in units]
    request = {
        "stage": "time_out",
        "anatomy": anatomy.to_json(),
        "plan": {"procedure": procedure, "levels": ", ".join(format_unit(u) for u in units), "side": side},
        "consent": {"procedure": procedure, "levels": ",".join(reversed(notations)), "side": side},
        "marking": {
            "region": "cervicothoracic" if units[0].vertebrae[0].region == "C" else "thoracolumbar",
            "side": side,
        },
        "preop_imaging": {"levels": ", ".join(notations)},
    }
    return request, anatomy, structure, units


@FAST
@given(case=agreeing_requests())
def test_notation_never_changes_agreement(case: tuple[dict[str, Any], Anatomy, Structure, tuple[Unit, ...]]) -> None:
    request, _, _, units = case
    result = assert_well_formed(request)
    assert result is not None
    stops = [f["code"] for f in result["findings"] if f["severity"] == "stop"]
    assert CONSENT_MISMATCH not in stops
    assert PREOP_IMAGING_MISMATCH not in stops
    assert result["target"]["units"] == [format_unit(u) for u in units]


@FAST
@given(case=agreeing_requests(), reference=st.sampled_from(REFERENCES), shift=st.sampled_from([-1, 0, 1]))
def test_count_matches_label_exactly_when_the_arithmetic_says_so(
    case: tuple[dict[str, Any], Anatomy, Structure, tuple[Unit, ...]], reference: str, shift: int
) -> None:
    request, anatomy, _, units = case
    unit = units[0]
    count = unit_to_count(reference, unit, anatomy)
    if count is None or count + shift < 1:
        return
    request["stage"] = "localization"
    request["localizations"] = [
        {"reference": reference, "count": count + shift, "level": format_unit(unit), "marker_in_place": True}
    ]
    result = assert_well_formed(request)
    assert result is not None
    mismatched = any(f["code"] == COUNT_LABEL_MISMATCH for f in result["findings"])
    assert mismatched is (shift != 0)
    if shift:
        assert result["verdict"] == "stop"
