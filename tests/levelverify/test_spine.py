"""Anatomy, notation and counting arithmetic (levelverify.spine)."""

from __future__ import annotations

import re

import pytest

from levelverify.errors import LevelInputError
from levelverify.spine import (
    Anatomy,
    NerveRoot,
    NotationError,
    Segment,
    Vertebra,
    count_to_unit,
    display_target,
    expected_counts,
    format_unit,
    near_conus,
    parse_levels,
    parse_unit,
    region_contains,
    unit_regions,
    unit_to_count,
    vertebra,
)

USUAL = Anatomy()
SIX_LUMBAR = Anatomy(lumbar=6)
FOUR_LUMBAR = Anatomy(lumbar=4)
SACRALIZED_L5 = Anatomy(lowest_mobile="L4")
LUMBARIZED_S1 = Anatomy(lowest_mobile="S1")
ELEVEN_THORACIC = Anatomy(thoracic=11)
THIRTEEN_THORACIC = Anatomy(thoracic=13)


def v(name: str) -> Vertebra:
    return vertebra(name)


def seg(upper: str, lower: str) -> Segment:
    return Segment(v(upper), v(lower))


def root(name: str) -> NerveRoot:
    return NerveRoot(v(name))


# --- anatomy -------------------------------------------------------------------------------------


def test_usual_sequence_positions() -> None:
    seq = USUAL.sequence
    assert len(seq) == 7 + 12 + 5 + 5
    assert USUAL.position(v("C1")) == 1
    assert USUAL.position(v("C7")) == 7
    assert USUAL.position(v("T1")) == 8
    assert USUAL.position(v("T12")) == 19
    assert USUAL.position(v("L1")) == 20
    assert USUAL.position(v("L5")) == 24
    assert USUAL.position(v("S1")) == 25
    assert USUAL.position(v("S5")) == 29
    assert USUAL.position(v("L6")) is None
    assert [x.name for x in seq[:3]] == ["C1", "C2", "C3"]


@pytest.mark.parametrize(
    ("anatomy", "first_lumbar", "last"),
    [(ELEVEN_THORACIC, 19, "S5"), (THIRTEEN_THORACIC, 21, "S5"), (SIX_LUMBAR, 20, "S5")],
)
def test_variant_sequences(anatomy: Anatomy, first_lumbar: int, last: str) -> None:
    assert anatomy.position(v("L1")) == first_lumbar
    assert anatomy.sequence[-1].name == last
    assert len(anatomy.sequence) == 7 + anatomy.thoracic + anatomy.lumbar + 5


def test_anatomy_defaults_and_risk() -> None:
    assert USUAL.lowest_rib == "T12"
    assert USUAL.lowest_mobile == "L5"
    assert USUAL.source == "whole_spine"
    assert USUAL.is_usual
    assert not USUAL.is_high_risk
    assert Anatomy(thoracic=11).lowest_rib == "T11"
    assert Anatomy(lumbar=6).lowest_mobile == "L6"
    for risky in (
        SIX_LUMBAR,
        FOUR_LUMBAR,
        SACRALIZED_L5,
        LUMBARIZED_S1,
        ELEVEN_THORACIC,
        THIRTEEN_THORACIC,
        Anatomy(lowest_rib="L1"),
        Anatomy(lowest_rib="T11"),
        Anatomy(source="lumbar_only"),
    ):
        assert risky.is_high_risk, risky
        assert not risky.is_usual


def test_anatomy_from_json() -> None:
    assert Anatomy.from_json({}) == USUAL
    assert Anatomy.from_json({"thoracic": 12, "lumbar": 5, "source": "whole_spine"}) == USUAL
    built = Anatomy.from_json({"thoracic": 13, "lumbar": 4, "lowest_rib": "l1", "lowest_mobile": " s1 "})
    assert (built.thoracic, built.lumbar, built.lowest_rib, built.lowest_mobile) == (13, 4, "L1", "S1")
    # Contract v2, rule 4: null is not "not recorded" inside an anatomy object; it is invalid.
    with pytest.raises(LevelInputError, match=r"anatomy\.thoracic: must not be null"):
        Anatomy.from_json({"thoracic": None, "source": None})


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"thoracic": 14}, "anatomy.thoracic"),
        ({"thoracic": 10}, "from 11 to 13"),
        ({"thoracic": True}, "anatomy.thoracic"),
        ({"thoracic": "12"}, "anatomy.thoracic"),
        ({"lumbar": 7}, "anatomy.lumbar"),
        ({"lumbar": 5.0}, "anatomy.lumbar"),
        ({"lowest_rib": "T10"}, "T11, T12 or L1"),
        ({"thoracic": 11, "lowest_rib": "T12"}, "T10, T11 or L1"),
        ({"lowest_mobile": "L3"}, "L4, L5 or S1"),
        ({"lumbar": 6, "lowest_mobile": "L4"}, "L5, L6 or S1"),
        ({"lowest_mobile": 5}, "anatomy.lowest_mobile"),
        ({"source": "mri"}, "whole_spine or lumbar_only"),
        ({"lumbars": 6}, "unknown field 'lumbars'"),
    ],
)
def test_anatomy_from_json_rejects(data: dict[str, object], fragment: str) -> None:
    with pytest.raises(LevelInputError) as caught:
        Anatomy.from_json(data)
    assert next(iter(caught.value.errors)) == "anatomy"
    assert set(caught.value.errors) <= {"anatomy", *data}
    assert any(fragment in message for message in caught.value.errors["anatomy"])


def test_anatomy_from_json_collects_all_problems_and_rejects_non_objects() -> None:
    with pytest.raises(LevelInputError) as caught:
        Anatomy.from_json({"thoracic": 20, "lumbar": 0, "source": "x"})
    assert len(caught.value.errors["anatomy"]) == 3
    for bad in (None, [], "usual", 12):
        with pytest.raises(LevelInputError) as caught:
            Anatomy.from_json(bad)
        assert "anatomy" in caught.value.errors


def test_anatomy_direct_construction_validates() -> None:
    with pytest.raises(LevelInputError):
        Anatomy(thoracic=14)
    with pytest.raises(LevelInputError):
        Anatomy(lowest_mobile="L2")


def test_describe() -> None:
    assert USUAL.describe() == "12 thoracic, 5 lumbar vertebrae"
    assert SIX_LUMBAR.describe() == "12 thoracic, 6 lumbar vertebrae"
    assert "lowest mobile vertebra L4" in SACRALIZED_L5.describe()
    assert "lowest rib on L1" in Anatomy(lowest_rib="L1").describe()
    assert "lumbar-only" in Anatomy(source="lumbar_only").describe()


# --- notation ------------------------------------------------------------------------------------

SEGMENT_NOTATIONS = [
    "L2-L3",
    "L2-3",
    "L2/3",
    "L2/L3",
    "L2\u20133",
    "L2\u2014L3",
    "l2 - l3",
    " L2 - L3 ",
    "L2 /L3",
    "l2-3",
    "L2\u2013L3",
    "L2\u2014 3",
    "L 2-L 3",
]


@pytest.mark.parametrize("text", SEGMENT_NOTATIONS)
def test_segment_notations_are_the_same_segment(text: str) -> None:
    assert parse_levels(text, "segment", USUAL) == (seg("L2", "L3"),)
    assert parse_unit(text, "segment", USUAL) == seg("L2", "L3")
    assert format_unit(parse_unit(text, "segment", USUAL)) == "L2-L3"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("T12-L1", ["T12-L1"]),
        ("T12/L1", ["T12-L1"]),
        ("L5-S1", ["L5-S1"]),
        ("L5/S1", ["L5-S1"]),
        ("C7-T1", ["C7-T1"]),
        ("C2-3", ["C2-C3"]),
        ("L1-L3", ["L1-L2", "L2-L3"]),
        ("L1-3", ["L1-L2", "L2-L3"]),
        ("L1-L2, L2-L3", ["L1-L2", "L2-L3"]),
        ("L2-L3,L1-L2", ["L1-L2", "L2-L3"]),
        ("L1-L3, L2-L3", ["L1-L2", "L2-L3"]),
        ("T11-L2", ["T11-T12", "T12-L1", "L1-L2"]),
        ("L4-S1", ["L4-L5", "L5-S1"]),
    ],
)
def test_segment_lists_and_spans(text: str, expected: list[str]) -> None:
    assert [format_unit(u) for u in parse_levels(text, "segment", USUAL)] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("L2", ["L2"]),
        ("l2", ["L2"]),
        (" L2 ", ["L2"]),
        ("L1-L3", ["L1", "L2", "L3"]),
        ("L1/3", ["L1", "L2", "L3"]),
        ("T12-L1", ["T12", "L1"]),
        ("L3, L1", ["L1", "L3"]),
        ("L2, L2", ["L2"]),
        ("L5-S1", ["L5", "S1"]),
    ],
)
def test_vertebra_lists_and_spans(text: str, expected: list[str]) -> None:
    units = parse_levels(text, "vertebra", USUAL)
    assert [format_unit(u) for u in units] == expected
    assert all(isinstance(u, Vertebra) for u in units)


def test_nerve_root_items() -> None:
    """Contract v2, rule 2: a root, or one foramen naming the root of its upper vertebra."""
    assert parse_levels("L2", "nerve_root", USUAL) == (root("L2"),)
    assert parse_levels("L2-L3", "nerve_root", USUAL) == (root("L2"),)
    assert parse_levels("L2/3", "nerve_root", USUAL) == (root("L2"),)
    assert parse_levels("L4-5", "nerve_root", USUAL) == (root("L4"),)
    assert parse_levels("L5-S1", "nerve_root", USUAL) == (root("L5"),)
    assert parse_levels("T12-L1", "nerve_root", USUAL) == (root("T12"),)
    assert parse_levels("L4, L2", "nerve_root", USUAL) == (root("L2"), root("L4"))
    assert parse_levels("L2-L3, L3", "nerve_root", USUAL) == (root("L2"), root("L3"))
    assert parse_levels("S1", "nerve_root", USUAL) == (root("S1"),)
    assert parse_levels("L6-S1", "nerve_root", SIX_LUMBAR) == (root("L6"),)


@pytest.mark.parametrize(
    ("text", "anatomy", "fragment"),
    [
        ("L2-L4", USUAL, "ambiguous"),
        ("L1-L3", USUAL, "list the roots (L1, L2, L3)"),
        ("C6", USUAL, "cervical nerve roots are not supported"),
        ("C7-T1", USUAL, "cervical nerve roots are not supported"),
        ("S1-S2", USUAL, "inside the fused sacrum"),
        ("L5-S1", SACRALIZED_L5, "inside the fused sacrum"),
    ],
)
def test_nerve_root_items_refused(text: str, anatomy: Anatomy, fragment: str) -> None:
    with pytest.raises(NotationError, match=re.escape(fragment)):
        parse_levels(text, "nerve_root", anatomy)


def test_cross_region_segments_follow_the_anatomy() -> None:
    assert parse_levels("T11-L1", "segment", ELEVEN_THORACIC) == (seg("T11", "L1"),)
    assert parse_levels("T11-L1", "segment", USUAL) == (seg("T11", "T12"), seg("T12", "L1"))
    assert parse_levels("T13-L1", "segment", THIRTEEN_THORACIC) == (seg("T13", "L1"),)
    assert parse_levels("L6-S1", "segment", SIX_LUMBAR) == (seg("L6", "S1"),)
    assert parse_levels("L4-S1", "segment", FOUR_LUMBAR) == (seg("L4", "S1"),)


@pytest.mark.parametrize(
    ("text", "structure", "anatomy", "fragment"),
    [
        ("L6", "vertebra", USUAL, "L6 does not exist in this patient's anatomy (12 thoracic, 5 lumbar vertebrae)"),
        ("L6", "nerve_root", USUAL, "L6 does not exist in this patient's anatomy"),
        ("L5-L6", "segment", USUAL, "L6 does not exist"),
        ("T13", "vertebra", USUAL, "T13 does not exist in this patient's anatomy (12 thoracic, 5 lumbar"),
        ("T12", "vertebra", ELEVEN_THORACIC, "(11 thoracic, 5 lumbar vertebrae)"),
        ("L5", "vertebra", FOUR_LUMBAR, "(12 thoracic, 4 lumbar vertebrae)"),
        ("S6", "vertebra", USUAL, "S6 does not exist"),
        ("C8", "nerve_root", USUAL, "C8 is not a vertebra"),
        ("L0", "vertebra", USUAL, "L0 is not a vertebra name"),
        ("L2", "segment", USUAL, "L2 is a single vertebra; a segment names two adjacent vertebrae, e.g. L2-L3"),
        ("L3-L2", "segment", USUAL, "bottom-up"),
        ("L3-2", "vertebra", USUAL, "write the upper level first (L2-L3)"),
        ("L2-L2", "segment", USUAL, "names L2 twice"),
        ("", "vertebra", USUAL, "no level given"),
        ("   ", "segment", USUAL, "no level given"),
        ("L2,,L3", "vertebra", USUAL, "empty"),
        ("L2,", "vertebra", USUAL, "empty"),
        ("lumbar two", "vertebra", USUAL, "cannot read 'lumbar two'"),
        ("L2 L3", "segment", USUAL, "cannot read"),
        ("X2", "vertebra", USUAL, "cannot read"),
        ("L2-L3-L4", "segment", USUAL, "cannot read"),
        ("L" + "2" * 300, "vertebra", USUAL, "longer than"),
        ("L\u0662", "vertebra", USUAL, "U+0662"),  # Arabic-Indic digit two is not a level number
    ],
)
def test_invalid_levels(text: str, structure: str, anatomy: Anatomy, fragment: str) -> None:
    with pytest.raises(NotationError) as caught:
        parse_levels(text, structure, anatomy)  # type: ignore[arg-type]
    assert fragment in str(caught.value)


def test_errors_are_collected_across_items_and_flag_missing_levels() -> None:
    with pytest.raises(NotationError) as caught:
        parse_levels("L6, T13, L2", "vertebra", USUAL)
    assert len(caught.value.messages) == 2
    assert caught.value.not_in_anatomy
    with pytest.raises(NotationError) as caught:
        parse_levels("L2", "segment", USUAL)
    assert not caught.value.not_in_anatomy


def test_parse_unit_requires_exactly_one() -> None:
    assert parse_unit("L2", "vertebra", USUAL) == v("L2")
    assert parse_unit("L2", "nerve_root", USUAL) == root("L2")
    with pytest.raises(NotationError, match="names 2 segments"):
        parse_unit("L1-L3", "segment", USUAL)
    with pytest.raises(NotationError, match="names 2 vertebrae"):
        parse_unit("L2-L3", "vertebra", USUAL)
    with pytest.raises(NotationError, match="names 2 nerve roots"):
        parse_unit("L2, L3", "nerve_root", USUAL)
    with pytest.raises(NotationError, match="single vertebra"):
        parse_unit("L2", "segment", USUAL)


def test_unknown_structure_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown structure"):
        parse_levels("L2", "disc", USUAL)  # type: ignore[arg-type]


# --- display -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("structure", "text", "side", "expected"),
    [
        ("nerve_root", "L2", "left", "left L2 nerve root (L2-L3 foramen)"),
        ("nerve_root", "L4-L5", "left", "left L4 nerve root (L4-L5 foramen)"),
        ("nerve_root", "S1", "right", "right S1 nerve root (first sacral foramen)"),
        ("nerve_root", "L2, L3", "right", "right L2 and L3 nerve roots (L2-L3 and L3-L4 foramina)"),
        ("segment", "L2-L3", None, "L2\u2013L3 segment"),
        ("segment", "L2-L3", "left", "left L2\u2013L3 segment"),
        ("segment", "L1-L3", None, "L1\u2013L2 and L2\u2013L3 segments"),
        ("segment", "L1-L4", "bilateral", "bilateral L1\u2013L2, L2\u2013L3 and L3\u2013L4 segments"),
        ("vertebra", "L2", None, "L2 vertebra"),
        ("vertebra", "L1-L2", "midline", "midline L1 and L2 vertebrae"),
    ],
)
def test_display_target(structure: str, text: str, side: str | None, expected: str) -> None:
    units = parse_levels(text, structure, USUAL)  # type: ignore[arg-type]
    assert display_target(structure, units, side) == expected  # type: ignore[arg-type]


def test_format_unit() -> None:
    assert format_unit(seg("T12", "L1")) == "T12-L1"
    assert format_unit(seg("L5", "S1")) == "L5-S1"
    assert format_unit(root("L2")) == "L2"
    assert format_unit(v("C2")) == "C2"
    assert str(seg("L2", "L3")) == "L2-L3"


def test_units_constructed_bottom_up_are_rejected() -> None:
    with pytest.raises(ValueError, match="top-down"):
        Segment(v("L3"), v("L2"))
    with pytest.raises(ValueError, match="not a vertebra"):
        Vertebra("X", 1)


# --- counting ------------------------------------------------------------------------------------

WORKED_EXAMPLES = [
    # (anatomy, reference, structure, count, unit name)
    (USUAL, "sacrum", "vertebra", 4, "L2"),
    (USUAL, "last_rib", "vertebra", 2, "L2"),
    (USUAL, "c2", "vertebra", 19, "L2"),
    (USUAL, "sacrum", "segment", 4, "L2-L3"),
    (USUAL, "last_rib", "segment", 3, "L2-L3"),
    (USUAL, "c2", "segment", 20, "L2-L3"),
    (SIX_LUMBAR, "sacrum", "vertebra", 4, "L3"),
    (SIX_LUMBAR, "sacrum", "vertebra", 5, "L2"),
    (SIX_LUMBAR, "c2", "vertebra", 19, "L2"),
    (SACRALIZED_L5, "sacrum", "vertebra", 3, "L2"),
    (LUMBARIZED_S1, "sacrum", "vertebra", 5, "L2"),
    (ELEVEN_THORACIC, "c2", "vertebra", 18, "L2"),
    (ELEVEN_THORACIC, "sacrum", "vertebra", 4, "L2"),
    (ELEVEN_THORACIC, "last_rib", "vertebra", 2, "L2"),
    (USUAL, "sacrum", "segment", 1, "L5-S1"),
    (USUAL, "last_rib", "segment", 1, "T12-L1"),
    (USUAL, "c2", "segment", 1, "C2-C3"),
    (USUAL, "c2", "vertebra", 1, "C3"),
    (USUAL, "sacrum", "vertebra", 1, "L5"),
    (USUAL, "last_rib", "vertebra", 1, "L1"),
    (SACRALIZED_L5, "sacrum", "segment", 1, "L4-L5"),
    (LUMBARIZED_S1, "sacrum", "segment", 1, "S1-S2"),
    (SIX_LUMBAR, "sacrum", "segment", 1, "L6-S1"),
    (Anatomy(lowest_rib="L1"), "last_rib", "segment", 1, "L1-L2"),
    (Anatomy(lowest_rib="L1"), "last_rib", "vertebra", 1, "L2"),
    (Anatomy(lowest_rib="T11"), "last_rib", "vertebra", 1, "T12"),
    (THIRTEEN_THORACIC, "last_rib", "segment", 1, "T13-L1"),
    (THIRTEEN_THORACIC, "c2", "vertebra", 20, "L2"),
]


@pytest.mark.parametrize(("anatomy", "reference", "structure", "count", "name"), WORKED_EXAMPLES)
def test_worked_examples_both_directions(
    anatomy: Anatomy, reference: str, structure: str, count: int, name: str
) -> None:
    unit = count_to_unit(reference, count, structure, anatomy)
    assert unit is not None
    assert format_unit(unit) == name
    assert unit_to_count(reference, unit, anatomy) == count


def test_nerve_root_counts_are_vertebra_counts() -> None:
    assert count_to_unit("sacrum", 4, "nerve_root", USUAL) == root("L2")
    assert unit_to_count("sacrum", root("L2"), USUAL) == 4
    assert unit_to_count("c2", root("L2"), ELEVEN_THORACIC) == 18
    assert expected_counts(root("L2"), USUAL) == expected_counts(v("L2"), USUAL)


def test_expected_counts() -> None:
    assert expected_counts(v("L2"), USUAL) == {"sacrum": 4, "c2": 19, "last_rib": 2}
    assert expected_counts(seg("L2", "L3"), USUAL) == {"sacrum": 4, "c2": 20, "last_rib": 3}
    assert expected_counts(v("L2"), SIX_LUMBAR) == {"sacrum": 5, "c2": 19, "last_rib": 2}
    # Above the last rib and below the lowest mobile vertebra no count reaches.
    assert expected_counts(v("T10"), USUAL)["last_rib"] is None
    assert expected_counts(v("S2"), USUAL)["sacrum"] is None
    assert expected_counts(seg("S1", "S2"), USUAL)["sacrum"] is None
    assert expected_counts(v("C2"), USUAL)["c2"] is None
    assert expected_counts(seg("C1", "C2"), USUAL)["c2"] is None
    assert expected_counts(v("T12"), USUAL)["last_rib"] is None
    # A unit this anatomy does not have is reached by nothing.
    assert set(expected_counts(v("L6"), USUAL).values()) == {None}
    assert set(expected_counts(seg("T11", "L1"), USUAL).values()) == {None}


@pytest.mark.parametrize(
    ("reference", "count", "structure"),
    [
        ("sacrum", 25, "vertebra"),
        ("sacrum", 25, "segment"),
        ("c2", 28, "vertebra"),
        ("c2", 28, "segment"),
        ("last_rib", 11, "vertebra"),
        ("last_rib", 11, "segment"),
        ("sacrum", 0, "vertebra"),
        ("c2", -1, "segment"),
        ("c2", 10**40, "nerve_root"),
    ],
)
def test_counts_off_the_sequence_land_nowhere(reference: str, count: int, structure: str) -> None:
    assert count_to_unit(reference, count, structure, USUAL) is None


def test_last_counts_that_still_land() -> None:
    assert count_to_unit("sacrum", 24, "vertebra", USUAL) == v("C1")
    assert count_to_unit("sacrum", 23, "segment", USUAL) == seg("C2", "C3")
    assert count_to_unit("sacrum", 24, "segment", USUAL) is None  # C1-C2 has no disc (v2 rule 5)
    assert count_to_unit("c2", 27, "vertebra", USUAL) == v("S5")
    assert count_to_unit("c2", 23, "segment", USUAL) == seg("L5", "S1")
    assert count_to_unit("c2", 24, "segment", USUAL) is None  # inside the fused sacrum
    assert count_to_unit("last_rib", 6, "segment", USUAL) == seg("L5", "S1")
    assert count_to_unit("last_rib", 7, "segment", USUAL) is None
    assert count_to_unit("last_rib", 10, "vertebra", USUAL) == v("S5")
    assert count_to_unit("c2", 1, "nerve_root", USUAL) is None  # C3: cervical roots are not supported


def test_unknown_reference_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown reference"):
        count_to_unit("coccyx", 1, "vertebra", USUAL)
    with pytest.raises(ValueError, match="unknown reference"):
        unit_to_count("coccyx", v("L2"), USUAL)


# --- regions -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "unit", "inside"),
    [
        ("lumbar", v("L2"), True),
        ("thoracic", v("L2"), False),
        ("lumbar", root("L2"), True),
        ("thoracic", seg("T12", "L1"), True),
        ("lumbar", seg("T12", "L1"), True),
        ("sacral", seg("T12", "L1"), False),
        ("lumbar", seg("L5", "S1"), True),
        ("sacral", seg("L5", "S1"), True),
        ("cervical", seg("C7", "T1"), True),
        ("thoracic", seg("C7", "T1"), True),
        ("sacral", v("S1"), True),
        # Junctions are exact lists (contract v2, rule 1), never "either region".
        ("thoracolumbar", v("T10"), False),
        ("thoracolumbar", v("T11"), True),
        ("thoracolumbar", v("L2"), True),
        ("thoracolumbar", v("L3"), False),
        ("thoracolumbar", seg("L1", "L2"), True),
        ("thoracolumbar", seg("L2", "L3"), False),
        ("thoracolumbar", seg("L5", "S1"), False),
        ("thoracolumbar", v("T3"), False),
        ("lumbosacral", v("S1"), True),
        ("lumbosacral", seg("L4", "L5"), True),
        ("lumbosacral", seg("L3", "L4"), False),
        ("lumbosacral", seg("L1", "L2"), False),
        ("lumbosacral", v("T12"), False),
        ("cervicothoracic", seg("C7", "T1"), True),
        ("cervicothoracic", v("C5"), False),
        ("cervicothoracic", seg("T2", "T3"), False),
        ("cervical", v("T1"), False),
    ],
)
def test_region_contains(region: str, unit: Vertebra | Segment | NerveRoot, inside: bool) -> None:
    assert region_contains(region, unit) is inside


def test_unit_regions_and_unknown_region() -> None:
    assert unit_regions(seg("T12", "L1")) == ("thoracic", "lumbar")
    assert unit_regions(v("L2")) == ("lumbar",)
    with pytest.raises(ValueError, match="unknown region"):
        region_contains("neck", v("C2"))


@pytest.mark.parametrize(
    ("unit", "near"),
    [
        (v("L2"), True),
        (v("L1"), True),
        (v("T12"), True),
        (v("T13"), True),
        (root("L2"), True),
        (seg("L2", "L3"), True),
        (seg("T11", "T12"), True),
        (v("L3"), False),
        (v("T11"), False),
        (seg("L3", "L4"), False),
        (seg("L4", "L5"), False),
    ],
)
def test_near_conus(unit: Vertebra | Segment | NerveRoot, near: bool) -> None:
    assert near_conus(unit) is near


# --- caches (results are memoized; errors never are) --------------------------------------------


def test_cached_parse_raises_the_same_error_every_time() -> None:
    for text, structure in (("L6", "vertebra"), ("L2", "segment"), ("L3-L1", "nerve_root"), ("X1", "vertebra")):
        messages = []
        for _ in range(3):
            with pytest.raises(NotationError) as caught:
                parse_levels(text, structure, USUAL)  # type: ignore[arg-type]
            messages.append((caught.value.messages, caught.value.not_in_anatomy, str(caught.value)))
        assert messages[0] == messages[1] == messages[2]
    for _ in range(2):
        with pytest.raises(NotationError, match="names 2 vertebrae"):
            parse_unit("L2-L3", "vertebra", USUAL)


def test_cached_parse_depends_on_the_anatomy() -> None:
    assert parse_levels("L6", "vertebra", SIX_LUMBAR) == (v("L6"),)
    with pytest.raises(NotationError, match=r"\(12 thoracic, 4 lumbar vertebrae\)"):
        parse_levels("L5-L6", "vertebra", FOUR_LUMBAR)
    # Equal anatomies share results; a differing landmark changes only the error message.
    with pytest.raises(NotationError) as usual_error:
        parse_levels("L6", "vertebra", USUAL)
    with pytest.raises(NotationError) as sacralized_error:
        parse_levels("L6", "vertebra", SACRALIZED_L5)
    assert "lowest mobile vertebra L4" in str(sacralized_error.value)
    assert "lowest mobile" not in str(usual_error.value)


def test_anatomy_from_json_is_shared_and_errors_repeat() -> None:
    data = {"thoracic": 12, "lumbar": 6, "lowest_mobile": "l6"}
    first, second = Anatomy.from_json(data), Anatomy.from_json(dict(data))
    assert first == second == SIX_LUMBAR
    assert first.sequence is second.sequence
    assert Anatomy.usual() == USUAL
    for bad in ({"thoracic": 14}, {"thoracic": True}, {"lumbar": 5.0}, {"lumbar": [5]}, {"lumbars": 6}):
        errors = []
        for _ in range(2):
            with pytest.raises(LevelInputError) as caught:
                Anatomy.from_json(bad)
            errors.append(caught.value.errors)
        assert errors[0] == errors[1]
    for _ in range(2):
        with pytest.raises(LevelInputError, match=r"anatomy\.thoracic"):
            Anatomy(thoracic=14)


def test_expected_counts_hands_out_a_fresh_dict() -> None:
    counts = expected_counts(v("L2"), USUAL)
    counts["sacrum"] = 99
    assert expected_counts(v("L2"), USUAL) == {"sacrum": 4, "c2": 19, "last_rib": 2}
