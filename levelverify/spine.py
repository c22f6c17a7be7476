"""Spine anatomy, level notation and counting arithmetic.

Pure Python: this module implements "Words and notation" and "Counting arithmetic" of the level-check
contract in the design's domain.md. Units are named (``L2``, ``L2-L3``); positions in the sequence
depend on the patient's anatomy, so every lookup that needs a position takes an ``Anatomy``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from types import MappingProxyType
from typing import ClassVar, Final, Literal, TypeAlias, cast

from levelverify.errors import InputErrors, LevelInputError

Structure: TypeAlias = Literal["vertebra", "segment", "nerve_root"]
Reference: TypeAlias = Literal["sacrum", "c2", "last_rib"]
Source: TypeAlias = Literal["whole_spine", "lumbar_only"]

STRUCTURES: Final[tuple[Structure, ...]] = ("vertebra", "segment", "nerve_root")
REFERENCES: Final[tuple[Reference, ...]] = ("sacrum", "c2", "last_rib")
SOURCES: Final[tuple[Source, ...]] = ("whole_spine", "lumbar_only")

REGION_LETTERS: Final[tuple[str, ...]] = ("C", "T", "L", "S")
REGION_NAMES: Final[Mapping[str, str]] = MappingProxyType(
    {"C": "cervical", "T": "thoracic", "L": "lumbar", "S": "sacral"}
)
# Skin-marking regions (contract v2, rule 1). A plain region is the vertebrae of one letter; a
# junction is an exact list of vertebrae that depends on the anatomy (``junction_vertebrae``).
PLAIN_REGIONS: Final[Mapping[str, str]] = MappingProxyType(
    {"cervical": "C", "thoracic": "T", "lumbar": "L", "sacral": "S"}
)
JUNCTION_REGIONS: Final[tuple[str, ...]] = ("cervicothoracic", "thoracolumbar", "lumbosacral")
MARKING_REGIONS: Final[tuple[str, ...]] = (*PLAIN_REGIONS, *JUNCTION_REGIONS)

CERVICAL_COUNT: Final = 7
SACRAL_COUNT: Final = 5
THORACIC_COUNTS: Final = range(11, 14)
LUMBAR_COUNTS: Final = range(4, 7)
USUAL_THORACIC: Final = 12
USUAL_LUMBAR: Final = 5

REFERENCE_PHRASES: Final[Mapping[str, str]] = MappingProxyType(
    {"sacrum": "the sacrum", "c2": "C2", "last_rib": "the last rib"}
)
STRUCTURE_NOUNS: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        "vertebra": ("vertebra", "vertebrae"),
        "segment": ("segment", "segments"),
        "nerve_root": ("nerve root", "nerve roots"),
    }
)

# Longest levels text the parser reads; real entries are a few dozen characters.
MAX_LEVELS_TEXT = 200
# Whitespace read in levels text (contract v2, rule 7: ASCII only; no-break or zero-width spaces are
# refused, never silently read).
ASCII_WHITESPACE: Final = " \t\n\r"


class NotationError(ValueError):
    """Level text that cannot be read, or names a level this anatomy does not have.

    ``messages`` holds one readable sentence per problem; ``not_in_anatomy`` is true when at least
    one problem is a level missing from the recorded anatomy (so the caller can add advice).
    """

    messages: list[str]
    not_in_anatomy: bool

    def __init__(self, messages: str | Iterable[str], *, not_in_anatomy: bool = False) -> None:
        self.messages = [messages] if isinstance(messages, str) else list(messages)
        self.not_in_anatomy = not_in_anatomy
        super().__init__("; ".join(self.messages))


# --- units ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Vertebra:
    region: str
    number: int
    structure: ClassVar[Structure] = "vertebra"

    def __post_init__(self) -> None:
        if self.region not in REGION_LETTERS or self.number < 1:
            raise ValueError(f"not a vertebra name: {self.region}{self.number}")

    @property
    def name(self) -> str:
        return f"{self.region}{self.number}"

    @property
    def display(self) -> str:
        return self.name

    @property
    def sort_key(self) -> tuple[int, int]:
        return (REGION_LETTERS.index(self.region), self.number)

    @property
    def vertebrae(self) -> tuple[Vertebra, ...]:
        return (self,)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Segment:
    """A disc space / motion segment between two vertebrae adjacent in the patient's anatomy."""

    upper: Vertebra
    lower: Vertebra
    structure: ClassVar[Structure] = "segment"

    def __post_init__(self) -> None:
        if self.upper.sort_key >= self.lower.sort_key:
            raise ValueError(f"segment must be written top-down: {self.upper}-{self.lower}")

    @property
    def name(self) -> str:
        return f"{self.upper}-{self.lower}"

    @property
    def display(self) -> str:
        return f"{self.upper}\u2013{self.lower}"

    @property
    def sort_key(self) -> tuple[int, int]:
        return self.upper.sort_key

    @property
    def vertebrae(self) -> tuple[Vertebra, ...]:
        return (self.upper, self.lower)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class NerveRoot:
    """A spinal nerve root, named after the vertebra below whose pedicle it exits (thoracic, lumbar
    and sacral roots only: contract v2 refuses cervical roots). ``L4`` exits through the L4-L5
    foramen; ``S1`` through the first sacral foramen."""

    vertebra: Vertebra
    structure: ClassVar[Structure] = "nerve_root"

    @property
    def name(self) -> str:
        return self.vertebra.name

    @property
    def display(self) -> str:
        return self.name

    @property
    def sort_key(self) -> tuple[int, int]:
        return self.vertebra.sort_key

    @property
    def vertebrae(self) -> tuple[Vertebra, ...]:
        return (self.vertebra,)

    def __str__(self) -> str:
        return self.name


Unit: TypeAlias = Vertebra | Segment | NerveRoot


def vertebra(name: str) -> Vertebra:
    """``Vertebra`` from a canonical-ish name such as ``L2`` or ``t12`` (no anatomy check)."""
    match = _NAME_RE.fullmatch(name.strip()) if isinstance(name, str) else None
    if match is None or int(match.group(2)) < 1:
        raise NotationError(f"{quote_value(name)} is not a vertebra name such as L2 or T12")
    return Vertebra(match.group(1).upper(), int(match.group(2)))


def unit_key(unit: Unit) -> tuple[int, int]:
    return unit.sort_key


def format_unit(unit: Unit) -> str:
    """Canonical text: ``L2``, ``T12-L1``, ``L5-S1``."""
    return unit.name


def format_units(units: Iterable[Unit]) -> str:
    """Canonical comma-separated list, top-down."""
    return ", ".join(unit.name for unit in sorted(units, key=unit_key))


def join_words(words: list[str], conjunction: str = "and") -> str:
    """``A``, ``A and B``, ``A, B and C``."""
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {conjunction} {words[-1]}"


_ORDINALS: Final = ("first", "second", "third", "fourth", "fifth")


def root_foramen(root: NerveRoot, anatomy: Anatomy | None = None) -> str:
    """The foramen a root exits through: "L4-L5 foramen", "first sacral foramen" (S1)."""
    anatomy = anatomy or Anatomy.usual()
    v = root.vertebra
    if v.region == "S" and (anatomy.lowest_mobile_vertebra != v):
        return f"{_ORDINALS[v.number - 1]} sacral foramen" if v.number <= len(_ORDINALS) else "sacral foramen"
    position = anatomy.position(v)
    below = anatomy.segment_at(position) if position is not None else None
    return f"{below.name} foramen" if below is not None else f"{v.name} foramen"


def display_target(
    structure: Structure, units: Iterable[Unit], side: str | None = None, anatomy: Anatomy | None = None
) -> str:
    """Readable target: "left L4 nerve root (L4-L5 foramen)", "L1-L2 and L2-L3 segments" (en dashes),
    "L2 vertebra"."""
    return _display_target(structure, tuple(sorted(units, key=unit_key)), side, anatomy or Anatomy.usual())


@lru_cache(maxsize=1024)  # the same few targets are shown on every check; all arguments are immutable
def _display_target(structure: Structure, ordered: tuple[Unit, ...], side: str | None, anatomy: Anatomy) -> str:
    if not ordered:
        raise ValueError("a target needs at least one unit")
    singular, plural = STRUCTURE_NOUNS[structure]
    noun = singular if len(ordered) == 1 else plural
    text = f"{join_words([unit.display for unit in ordered])} {noun}"
    if structure == "nerve_root":
        foramina = [root_foramen(cast(NerveRoot, unit), anatomy) for unit in ordered]
        if len(foramina) == 1:
            text = f"{text} ({foramina[0]})"
        else:
            text = f"{text} ({join_words([f.removesuffix(' foramen') for f in foramina])} foramina)"
    return f"{side} {text}" if side else text


# --- anatomy -------------------------------------------------------------------------------------


def allowed_lowest_ribs(thoracic: int) -> tuple[str, ...]:
    """The last two thoracic vertebrae or L1 (a lumbar rib)."""
    return (f"T{thoracic - 1}", f"T{thoracic}", "L1")


def allowed_lowest_mobiles(lumbar: int) -> tuple[str, ...]:
    """The last two lumbar vertebrae (L<n-1> = sacralized L<n>) or S1 (lumbarized S1)."""
    return (f"L{lumbar - 1}", f"L{lumbar}", "S1")


@dataclass(frozen=True)
class Anatomy:
    """The patient's recorded vertebral anatomy; the defaults are the usual anatomy.

    An empty ``lowest_rib`` / ``lowest_mobile`` means the default (``T<thoracic>`` / ``L<lumbar>``)
    and is filled in on construction, so instances always hold canonical names.
    """

    thoracic: int = USUAL_THORACIC
    lumbar: int = USUAL_LUMBAR
    lowest_rib: str = ""
    lowest_mobile: str = ""
    source: Source = "whole_spine"

    FIELDS: ClassVar[tuple[str, ...]] = (
        "thoracic",
        "lumbar",
        "lowest_rib",
        "lowest_mobile",
        "source",
    )
    _FIELD_SET: ClassVar[frozenset[str]] = frozenset(FIELDS)

    def __post_init__(self) -> None:
        fields = (
            self.thoracic,
            self.lumbar,
            self.lowest_rib or None,
            self.lowest_mobile or None,
            self.source,
        )
        landmarks = _cached_landmarks if _all_plain(fields) else _landmarks
        lowest_rib, lowest_mobile = landmarks(*fields)
        object.__setattr__(self, "lowest_rib", lowest_rib)
        object.__setattr__(self, "lowest_mobile", lowest_mobile)

    def __hash__(self) -> int:
        # Anatomies key many caches; hash the five fields once per instance.
        return self._hash

    @cached_property
    def _hash(self) -> int:
        return hash((self.thoracic, self.lumbar, self.lowest_rib, self.lowest_mobile, self.source))

    @classmethod
    def usual(cls) -> Anatomy:
        return _USUAL_ANATOMY if cls is Anatomy else cls()

    @classmethod
    def from_json(cls, data: object) -> Anatomy:
        """Build from the request's ``anatomy`` object; raises ``LevelInputError`` keyed ``anatomy``."""
        if not isinstance(data, Mapping):
            raise LevelInputError(
                {
                    "anatomy": [
                        'anatomy: must be an object such as {"thoracic": 12, "lumbar": 5, "source": "whole_spine"}'
                    ]
                }
            )
        # A JSON object of known, non-null fields with plain values: one shared (frozen) instance per
        # values (a null is an error, so it takes the slow path that reports it).
        if cls is Anatomy and type(data) is dict and data.keys() <= cls._FIELD_SET:
            values = tuple(map(data.get, cls.FIELDS))
            if _all_plain(values) and sum(v is not None for v in values) == len(data):
                return _anatomy_from_plain_json(*values)
        return cls._from_json_mapping(data)

    @classmethod
    def _from_json_mapping(cls, data: Mapping[object, object]) -> Anatomy:
        errors = InputErrors()
        for key in data:
            if key not in cls.FIELDS:
                message = f"anatomy: unknown field {quote_value(key)} (expected {', '.join(cls.FIELDS)})"
                errors.add("anatomy", message)
                if isinstance(key, str):
                    errors.add(key, message)
            elif data[key] is None:
                errors.add(
                    "anatomy",
                    f"anatomy.{key}: must not be null (leave the field out when it was not recorded)",
                )
        for key in getattr(data, "duplicate_keys", ()):
            message = f"anatomy: field {quote_value(key)} is given more than once"
            errors.add("anatomy", message)
            errors.add(key, message)
        values = _read_anatomy_fields({k: v for k, v in data.items() if v is not None}, errors)
        errors.raise_if_any()
        return cls(
            thoracic=cast(int, values["thoracic"]),
            lumbar=cast(int, values["lumbar"]),
            lowest_rib=cast(str, values["lowest_rib"]),
            lowest_mobile=cast(str, values["lowest_mobile"]),
            source=cast(Source, values["source"]),
        )

    def to_json(self) -> dict[str, object]:
        return {
            "thoracic": self.thoracic,
            "lumbar": self.lumbar,
            "lowest_rib": self.lowest_rib,
            "lowest_mobile": self.lowest_mobile,
            "source": self.source,
        }

    @property
    def is_usual(self) -> bool:
        return self._is_usual

    @cached_property
    def _is_usual(self) -> bool:
        return (
            self.thoracic == USUAL_THORACIC
            and self.lumbar == USUAL_LUMBAR
            and self.lowest_rib == f"T{self.thoracic}"
            and self.lowest_mobile == f"L{self.lumbar}"
            and self.source == "whole_spine"
        )

    @property
    def is_high_risk(self) -> bool:
        return not self.is_usual

    def describe(self) -> str:
        """E.g. "12 thoracic, 6 lumbar vertebrae" or "…, lowest mobile vertebra L4"."""
        return self._description

    @cached_property
    def _description(self) -> str:
        parts = [f"{self.thoracic} thoracic, {self.lumbar} lumbar vertebrae"]
        if self.lowest_rib != f"T{self.thoracic}":
            parts.append(f"lowest rib on {self.lowest_rib}")
        if self.lowest_mobile != f"L{self.lumbar}":
            parts.append(f"lowest mobile vertebra {self.lowest_mobile}")
        if self.source == "lumbar_only":
            parts.append("numbered on lumbar-only imaging")
        return ", ".join(parts)

    @cached_property
    def sequence(self) -> tuple[Vertebra, ...]:
        """C1..C7, T1..T<thoracic>, L1..L<lumbar>, S1..S5; position = index + 1."""
        return _sequence(self.thoracic, self.lumbar)

    @cached_property
    def _positions(self) -> Mapping[Vertebra, int]:
        return _positions(self.thoracic, self.lumbar)

    def position(self, v: Vertebra) -> int | None:
        return self._positions.get(v)

    def vertebra_at(self, position: int) -> Vertebra | None:
        if 1 <= position <= len(self.sequence):
            return self.sequence[position - 1]
        return None

    def segment_at(self, upper_position: int) -> Segment | None:
        """The disc space whose upper vertebra is at ``upper_position``, or ``None`` where there is
        none: above C2-C3 (C1-C2 has no disc) or inside the fused sacrum (below the segment under
        ``lowest_mobile``) — contract v2, rule 5."""
        if not self.first_disc_position <= upper_position <= self.last_disc_position:
            return None
        upper = self.vertebra_at(upper_position)
        lower = self.vertebra_at(upper_position + 1)
        if upper is None or lower is None:
            return None
        return Segment(upper, lower)

    # C2-C3 is the first disc space; the last is the one just below the lowest mobile vertebra.
    first_disc_position: ClassVar[int] = 2

    @cached_property
    def last_disc_position(self) -> int:
        return cast(int, self.position(self.lowest_mobile_vertebra))

    def has(self, v: Vertebra) -> bool:
        return v in self._positions

    def contains(self, unit: Unit) -> bool:
        """Whether the unit exists here (a segment's vertebrae must be adjacent)."""
        if isinstance(unit, Segment):
            upper = self.position(unit.upper)
            lower = self.position(unit.lower)
            return (
                upper is not None
                and lower == upper + 1
                and self.first_disc_position <= upper <= self.last_disc_position
            )
        return all(self.has(v) for v in unit.vertebrae)

    @cached_property
    def lowest_rib_vertebra(self) -> Vertebra:
        return vertebra(self.lowest_rib)

    @cached_property
    def lowest_mobile_vertebra(self) -> Vertebra:
        return vertebra(self.lowest_mobile)

    def units(self, structure: Structure) -> tuple[Unit, ...]:
        """Every unit of a structure in this anatomy, top-down."""
        if structure == "vertebra":
            return self.sequence
        if structure == "nerve_root":
            return tuple(NerveRoot(v) for v in self.sequence if v.region != "C")
        return tuple(
            Segment(self.sequence[p - 1], self.sequence[p])
            for p in range(self.first_disc_position, self.last_disc_position + 1)
        )


# The anatomy is rebuilt from JSON on every check, so its derived data is cached here, keyed by value.
# Caches are only used for "plain" values (exactly int, str or None: hashable, and no two of them
# compare equal across types); anything else takes the uncached path with the same result or error.
_PLAIN_TYPES: Final = frozenset({int, str, type(None)})


def _all_plain(values: Iterable[object]) -> bool:
    return _PLAIN_TYPES.issuperset(map(type, values))


@lru_cache(maxsize=64)  # (thoracic, lumbar): nine valid pairs; the tuple is immutable and shared
def _sequence(thoracic: int, lumbar: int) -> tuple[Vertebra, ...]:
    counts = (CERVICAL_COUNT, thoracic, lumbar, SACRAL_COUNT)
    return tuple(
        Vertebra(region, number)
        for region, count in zip(REGION_LETTERS, counts, strict=True)
        for number in range(1, count + 1)
    )


@lru_cache(maxsize=64)  # read-only view, shared by every anatomy with these counts
def _positions(thoracic: int, lumbar: int) -> Mapping[Vertebra, int]:
    return MappingProxyType({v: index + 1 for index, v in enumerate(_sequence(thoracic, lumbar))})


def _landmarks(
    thoracic: object, lumbar: object, lowest_rib: object, lowest_mobile: object, source: object
) -> tuple[str, str]:
    """Validate constructor values (empty landmarks given as None); raises ``LevelInputError``."""
    errors = InputErrors()
    values = _read_anatomy_fields(
        {
            "thoracic": thoracic,
            "lumbar": lumbar,
            "lowest_rib": lowest_rib,
            "lowest_mobile": lowest_mobile,
            "source": source,
        },
        errors,
    )
    errors.raise_if_any()
    return cast(str, values["lowest_rib"]), cast(str, values["lowest_mobile"])


# Canonical landmarks per plain field values (a LevelInputError is raised anew, never cached).
_cached_landmarks: Final = lru_cache(maxsize=1024)(_landmarks)


@lru_cache(maxsize=1024)  # one shared (frozen) Anatomy per plain JSON values; errors are not cached
def _anatomy_from_plain_json(
    thoracic: object, lumbar: object, lowest_rib: object, lowest_mobile: object, source: object
) -> Anatomy:
    values = {
        "thoracic": thoracic,
        "lumbar": lumbar,
        "lowest_rib": lowest_rib,
        "lowest_mobile": lowest_mobile,
        "source": source,
    }
    return Anatomy._from_json_mapping({key: value for key, value in values.items() if value is not None})


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _read_anatomy_fields(data: Mapping[object, object], errors: InputErrors) -> dict[str, object]:
    """Validate and default the anatomy fields; problems go to ``errors`` under ``anatomy``."""
    values: dict[str, object] = {}
    for key, allowed, default in (
        ("thoracic", THORACIC_COUNTS, USUAL_THORACIC),
        ("lumbar", LUMBAR_COUNTS, USUAL_LUMBAR),
    ):
        raw = data.get(key)
        if raw is None:
            values[key] = default
        elif _is_int(raw) and cast(int, raw) in allowed:
            values[key] = raw
        else:
            errors.add(
                "anatomy",
                f"anatomy.{key}: must be a whole number from {allowed[0]} to {allowed[-1]} (got {quote_value(raw)})",
            )
    for key, region, allowed_for in (
        ("lowest_rib", "thoracic", allowed_lowest_ribs),
        ("lowest_mobile", "lumbar", allowed_lowest_mobiles),
    ):
        raw = data.get(key)
        count = values.get(region)
        if count is None:
            continue  # the count itself is invalid; its error already explains
        allowed_names = allowed_for(cast(int, count))
        if raw is None:
            values[key] = allowed_names[1]
            continue
        name = raw.strip(ASCII_WHITESPACE).upper() if isinstance(raw, str) and raw.isascii() else None
        if name in allowed_names:
            values[key] = name
        else:
            errors.add(
                "anatomy",
                f"anatomy.{key}: must be {join_words(list(allowed_names), 'or')} "
                f"with {count} {region} vertebrae (got {quote_value(raw)})",
            )
    raw_source = data.get("source")
    if raw_source is None:
        values["source"] = "whole_spine"
    elif isinstance(raw_source, str) and raw_source in SOURCES:
        values["source"] = raw_source
    else:
        errors.add("anatomy", f"anatomy.source: must be whole_spine or lumbar_only (got {quote_value(raw_source)})")
    return values


_USUAL_ANATOMY: Final = Anatomy()  # returned by Anatomy.usual(): frozen, so one instance serves all


# --- notation ------------------------------------------------------------------------------------

_NAME_RE = re.compile(r"([CTLSctls])\s*([0-9]{1,3})")
# Hyphen, slash, en dash and em dash (contract v2, rule 7: other look-alike dashes are refused).
_SEPARATORS = "-/\u2013\u2014"
# Every character levels text may hold: ASCII letters and digits, ASCII whitespace, commas and the
# separators above. Anything else (look-alike letters, full-width or other Unicode digits, no-break
# or zero-width spaces) is invalid input, never silently read.
_ALLOWED_LEVEL_TEXT = re.compile(rf"[A-Za-z0-9{ASCII_WHITESPACE},{_SEPARATORS}]*")
_ITEM_RE = re.compile(
    rf"([CTLSctls])\s*([0-9]{{1,3}})(?:\s*[{re.escape(_SEPARATORS)}]\s*([CTLSctls])?\s*([0-9]{{1,3}}))?"
)


def quote_value(value: object, limit: int = 40) -> str:
    """A short ``repr`` of untrusted input for error messages (never raises)."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # e.g. an int too long to print
        return f"<{type(value).__name__} too large to show>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _not_in_anatomy(name: str, anatomy: Anatomy) -> str:
    if name == "C8":
        return (
            "C8 is not a vertebra (there are 7 cervical vertebrae); "
            "RightLevel names roots after the vertebra they run under"
        )
    return f"{name} does not exist in this patient's anatomy ({anatomy.describe()})"


MSG_CERVICAL_ROOT: Final = (
    "cervical nerve roots are not supported: they exit above their vertebra, so RightLevel's root "
    "rule would mislead; record cervical root procedures outside RightLevel"
)


def _read_item(item: str, structure: Structure, anatomy: Anatomy) -> tuple[Unit, ...]:
    match = _ITEM_RE.fullmatch(item)
    if match is None:
        raise NotationError(f"cannot read {quote_value(item)} as a level; write e.g. L2, L2-L3, L2/3 or a span L1-L3")
    first_region, first_number, second_region, second_number = match.groups()
    names = [f"{first_region.upper()}{int(first_number)}"]
    if second_number is not None:
        names.append(f"{(second_region or first_region).upper()}{int(second_number)}")
    ends: list[Vertebra] = []
    missing: list[str] = []
    for name in names:
        if int(name[1:]) < 1:
            raise NotationError(f"{name} is not a vertebra name (numbering starts at 1)")
        v = Vertebra(name[0], int(name[1:]))
        if not anatomy.has(v):
            missing.append(_not_in_anatomy(name, anatomy))
        ends.append(v)
    if missing:
        raise NotationError(missing, not_in_anatomy=True)
    top = ends[0]
    top_position = cast(int, anatomy.position(top))
    if len(ends) == 1:
        if structure == "segment":
            below = anatomy.segment_at(top_position)
            example = f", e.g. {below}" if below is not None else ""
            raise NotationError(f"{top} is a single vertebra; a segment names two adjacent vertebrae{example}")
        if structure == "nerve_root":
            return (_root(top),)
        return (top,)
    bottom_position = cast(int, anatomy.position(ends[1]))
    if bottom_position == top_position:
        raise NotationError(f"{quote_value(item.strip())} names {top} twice")
    if bottom_position < top_position:
        raise NotationError(
            f"{quote_value(item.strip())} is written bottom-up; write the upper level first ({ends[1]}-{top})"
        )
    if structure == "nerve_root":
        return (_root_through_foramen(item, top, top_position, bottom_position, anatomy),)
    if structure == "segment":
        segments = []
        for position in range(top_position, bottom_position):
            segment = anatomy.segment_at(position)
            if segment is None:
                raise NotationError(_no_disc_space(anatomy, position))
            segments.append(segment)
        return tuple(segments)
    return anatomy.sequence[top_position - 1 : bottom_position]


def _root(v: Vertebra) -> NerveRoot:
    if v.region == "C":
        raise NotationError(f"{v}: {MSG_CERVICAL_ROOT}")
    return NerveRoot(v)


def _root_through_foramen(
    item: str, top: Vertebra, top_position: int, bottom_position: int, anatomy: Anatomy
) -> NerveRoot:
    """``L4-L5`` on a root procedure is one foramen: the root of its upper vertebra (rule 2)."""
    if bottom_position != top_position + 1:
        roots = [v.name for v in anatomy.sequence[top_position - 1 : bottom_position]]
        raise NotationError(
            f"{quote_value(item.strip())} is ambiguous for a nerve-root procedure: name one root ({top}), "
            f"one foramen ({top}-{anatomy.sequence[top_position]}), or list the roots ({', '.join(roots)})"
        )
    if anatomy.segment_at(top_position) is None:
        raise NotationError(_no_disc_space(anatomy, top_position))
    return _root(top)


def _no_disc_space(anatomy: Anatomy, upper_position: int) -> str:
    upper = anatomy.sequence[upper_position - 1]
    lower = anatomy.sequence[upper_position]
    if upper_position < anatomy.first_disc_position:
        return f"{upper}-{lower} has no disc space (the first disc space is C2-C3)"
    last = anatomy.segment_at(anatomy.last_disc_position)
    return (
        f"{upper}-{lower} lies inside the fused sacrum in this patient's anatomy ({anatomy.describe()}); "
        f"the lowest disc space is {last}"
    )


def _check_structure(structure: str) -> Structure:
    if structure not in STRUCTURES:
        raise ValueError(f"unknown structure {structure!r}; expected one of {STRUCTURES}")
    return cast(Structure, structure)


def check_level_characters(text: str) -> None:
    """Raise ``NotationError`` when levels text holds a character it may not (contract v2, rule 7)."""
    if _ALLOWED_LEVEL_TEXT.fullmatch(text) is None:
        bad = next(ch for ch in text if _ALLOWED_LEVEL_TEXT.fullmatch(ch) is None)
        raise NotationError(
            f"{quote_value(text)} holds the character U+{ord(bad):04X}, which levels may not contain; "
            "use ASCII letters and digits, spaces, commas, hyphens or slashes (e.g. L2-L3)"
        )


def parse_levels(text: str, structure: Structure, anatomy: Anatomy) -> tuple[Unit, ...]:
    """Read comma-separated levels in a structure; de-duplicated, sorted top-down.

    Raises ``NotationError`` (and nothing else) for any text it cannot read as existing levels.
    """
    structure = _check_structure(structure)
    if not isinstance(text, str):
        raise NotationError(f"levels must be text such as L2 or L2-L3 (got {quote_value(text)})")
    return _parse_levels(text, structure, anatomy)


# The same few level texts are read on every check. Results are immutable tuples; a NotationError is
# raised anew on every call (lru_cache never stores exceptions). Texts are at most MAX_LEVELS_TEXT long.
@lru_cache(maxsize=4096)
def _parse_levels(text: str, structure: Structure, anatomy: Anatomy) -> tuple[Unit, ...]:
    if len(text) > MAX_LEVELS_TEXT:
        raise NotationError(f"levels text is longer than {MAX_LEVELS_TEXT} characters")
    check_level_characters(text)
    if not text.strip(ASCII_WHITESPACE):
        raise NotationError("no level given")
    units: set[Unit] = set()
    problems: list[str] = []
    not_in_anatomy = False
    for item in text.split(","):
        if not item.strip(ASCII_WHITESPACE):
            problems.append("an item between commas is empty")
            continue
        try:
            units.update(_read_item(item.strip(ASCII_WHITESPACE), structure, anatomy))
        except NotationError as error:
            problems.extend(error.messages)
            not_in_anatomy = not_in_anatomy or error.not_in_anatomy
    if problems:
        raise NotationError(problems, not_in_anatomy=not_in_anatomy)
    return tuple(sorted(units, key=unit_key))


def parse_unit(text: str, structure: Structure, anatomy: Anatomy) -> Unit:
    """Read one localization label: exactly one vertebra, segment or nerve root."""
    units = parse_levels(text, structure, anatomy)
    if len(units) != 1:
        singular, plural = STRUCTURE_NOUNS[structure]
        raise NotationError(
            f"{quote_value(text.strip())} names {len(units)} {plural} ({format_units(units)}); "
            f"a label names exactly one {singular}"
        )
    return units[0]


# --- counting ------------------------------------------------------------------------------------


def _check_reference(reference: str) -> Reference:
    if reference not in REFERENCES:
        raise ValueError(f"unknown reference {reference!r}; expected one of {REFERENCES}")
    return cast(Reference, reference)


def _landmark_position(reference: Reference, anatomy: Anatomy) -> int:
    if reference == "c2":
        return 2
    if reference == "last_rib":
        return cast(int, anatomy.position(anatomy.lowest_rib_vertebra))
    return cast(int, anatomy.position(anatomy.lowest_mobile_vertebra))


def count_to_unit(reference: str, count: int, structure: str, anatomy: Anatomy) -> Unit | None:
    """The unit a count lands on, or ``None`` when it lands off the sequence (or count < 1).

    Vertebra (and nerve-root) counts: from C2, count k is position 2+k; from the last rib, k
    positions below ``lowest_rib``; from the sacrum, count 1 is ``lowest_mobile`` and count k is
    k-1 above it. Disc counts: from C2, disc k is between positions 1+k and 2+k; from the last rib,
    disc 1 is just below ``lowest_rib``; from the sacrum, disc 1 is just below ``lowest_mobile``.
    """
    ref = _check_reference(reference)
    kind = _check_structure(structure)
    if not _is_int(count) or count < 1:
        return None
    return _count_to_unit(ref, count, kind, anatomy)


@lru_cache(maxsize=4096)  # results are immutable units (or None); arguments are already validated
def _count_to_unit(ref: Reference, count: int, kind: Structure, anatomy: Anatomy) -> Unit | None:
    landmark = _landmark_position(ref, anatomy)
    if ref == "sacrum":
        position = landmark - (count - 1)  # vertebra, or the upper vertebra of the disc
    elif kind == "segment":
        position = landmark + count - 1  # upper vertebra of the disc
    else:
        position = landmark + count
    if kind == "segment":
        return anatomy.segment_at(position)
    found = anatomy.vertebra_at(position)
    if found is None:
        return None
    if kind == "nerve_root":
        return NerveRoot(found) if found.region != "C" else None  # cervical roots are not supported
    return found


def unit_to_count(reference: str, unit: Unit, anatomy: Anatomy) -> int | None:
    """The count from ``reference`` that lands on ``unit``; ``None`` when no count ≥ 1 reaches it."""
    return _unit_to_count(_check_reference(reference), unit, anatomy)


@lru_cache(maxsize=4096)  # an int or None per (reference, unit, anatomy); all three are immutable
def _unit_to_count(ref: Reference, unit: Unit, anatomy: Anatomy) -> int | None:
    if not anatomy.contains(unit) or (isinstance(unit, NerveRoot) and unit.vertebra.region == "C"):
        return None
    landmark = _landmark_position(ref, anatomy)
    position = cast(int, anatomy.position(unit.vertebrae[0]))
    if ref == "sacrum":
        count = landmark - position + 1
    elif isinstance(unit, Segment):
        count = position - landmark + 1
    else:
        count = position - landmark
    return count if count >= 1 else None


def expected_counts(unit: Unit, anatomy: Anatomy) -> dict[str, int | None]:
    """Counts that land on ``unit`` from each reference (``None`` where none can)."""
    return dict(_expected_counts(unit, anatomy))


@lru_cache(maxsize=4096)  # immutable pairs; expected_counts hands out a fresh dict each call
def _expected_counts(unit: Unit, anatomy: Anatomy) -> tuple[tuple[str, int | None], ...]:
    return tuple((reference, _unit_to_count(reference, unit, anatomy)) for reference in REFERENCES)


# --- regions -------------------------------------------------------------------------------------

CONUS_VERTEBRAE: Final = frozenset({Vertebra("T", 12), Vertebra("L", 1), Vertebra("L", 2)})


def unit_regions(unit: Unit) -> tuple[str, ...]:
    """Region names a unit belongs to; a segment spanning a junction belongs to both."""
    letters = dict.fromkeys(v.region for v in unit.vertebrae)
    return tuple(REGION_NAMES[letter] for letter in letters)


def junction_vertebrae(region: str, anatomy: Anatomy) -> frozenset[Vertebra]:
    """The exact vertebrae of a junction region in this anatomy (contract v2, rule 1):
    cervicothoracic C6, C7, T1, T2; thoracolumbar the last two thoracic and L1, L2; lumbosacral the
    last two lumbar and S1."""
    return _junction_vertebrae(region, anatomy.thoracic, anatomy.lumbar)


@lru_cache(maxsize=64)
def _junction_vertebrae(region: str, thoracic: int, lumbar: int) -> frozenset[Vertebra]:
    if region == "cervicothoracic":
        names = ["C6", "C7", "T1", "T2"]
    elif region == "thoracolumbar":
        names = [f"T{thoracic - 1}", f"T{thoracic}", "L1", "L2"]
    elif region == "lumbosacral":
        names = [f"L{lumbar - 1}", f"L{lumbar}", "S1"]
    else:
        raise ValueError(f"not a junction region: {region!r}")
    return frozenset(vertebra(name) for name in names)


def region_contains(region: str, unit: Unit, anatomy: Anatomy | None = None) -> bool:
    """Whether a skin-marking region contains the unit.

    A plain region contains a vertebra (or root) of its letter and a segment either of whose
    vertebrae is of its letter (``T12-L1`` is thoracic and lumbar). A junction region contains a unit
    only when every vertebra of the unit is in its list: never "either region".
    """
    if region not in MARKING_REGIONS:
        raise ValueError(f"unknown region {region!r}; expected one of {MARKING_REGIONS}")
    letter = PLAIN_REGIONS.get(region)
    if letter is not None:
        return any(v.region == letter for v in unit.vertebrae)
    members = junction_vertebrae(region, anatomy or Anatomy.usual())
    return all(v in members for v in unit.vertebrae)


def region_description(region: str, anatomy: Anatomy | None = None) -> str:
    """What a marking region covers, for messages: "thoracolumbar (T11, T12, L1, L2)"."""
    if region in PLAIN_REGIONS:
        return region
    members = sorted(junction_vertebrae(region, anatomy or Anatomy.usual()), key=lambda v: v.sort_key)
    return f"{region} ({', '.join(v.name for v in members)})"


def near_conus(unit: Unit) -> bool:
    """A unit involving T12, L1 or L2, or a thirteenth thoracic vertebra (between T12 and L1)."""
    return any(v in CONUS_VERTEBRAE or (v.region == "T" and v.number > USUAL_THORACIC) for v in unit.vertebrae)
