"""The level check: does the evidence for a case agree on one level?

Pure Python implementation of "The level check (contract)" in the design's domain.md, version 2
("The level check, version 2" wins where it differs). The API, the ``check_levels`` command and the
case workflow all call ``check_levels`` with the same JSON.

Never a false pass: anything missing is ``incomplete``, anything that disagrees (including a count
that lands nowhere) is ``stop``, and input that cannot be read raises ``LevelInputError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal, TypeAlias, cast

from levelverify.errors import NON_FIELD_ERRORS, InputErrors, LevelInputError
from levelverify.spine import (
    MARKING_REGIONS,
    REFERENCE_PHRASES,
    STRUCTURE_NOUNS,
    STRUCTURES,
    Anatomy,
    NotationError,
    Reference,
    Structure,
    Unit,
    check_level_characters,
    count_to_unit,
    display_target,
    expected_counts,
    join_words,
    near_conus,
    parse_levels,
    parse_unit,
    quote_value,
    region_contains,
    region_description,
    unit_key,
    unit_regions,
)
from levelverify.spine import REFERENCES as _SPINE_REFERENCES

Severity: TypeAlias = Literal["stop", "incomplete", "warning"]
Verdict: TypeAlias = Literal["pass", "stop", "incomplete"]

STRUCTURE_BY_PROCEDURE: Final[Mapping[str, Structure]] = MappingProxyType(
    {
        "selective_nerve_root_block": "nerve_root",
        "transforaminal_epidural_injection": "nerve_root",
        "interlaminar_epidural_injection": "segment",
        "vertebral_augmentation": "vertebra",
        "decompression": "segment",
        "discectomy": "segment",
        "fusion": "segment",
    }
)
PROCEDURES: Final[tuple[str, ...]] = tuple(STRUCTURE_BY_PROCEDURE)
SIDES: Final[tuple[str, ...]] = ("left", "right", "bilateral", "midline")
REFERENCES: Final[tuple[Reference, ...]] = _SPINE_REFERENCES
STAGES: Final[tuple[str, ...]] = ("time_out", "localization")
REGIONS: Final[tuple[str, ...]] = MARKING_REGIONS
LOCALIZATION_SIDES: Final[tuple[str, ...]] = ("left", "right")
UNILATERAL_SIDES: Final = frozenset({"left", "right"})
CONTRACT_VERSION: Final = 2
# Longest whole number accepted anywhere in a request (contract v2, rule 7: no more than 12 digits).
MAX_NUMBER: Final = 10**12 - 1
VERDICTS: Final[tuple[Verdict, ...]] = ("pass", "stop", "incomplete")
SEVERITIES: Final[tuple[Severity, ...]] = ("stop", "incomplete", "warning")
# What keeps a verdict from passing; a warning never does.
BLOCKING_SEVERITIES: Final[tuple[Severity, ...]] = ("stop", "incomplete")
DEFAULT_STAGE: Final = "time_out"

REQUEST_FIELDS: Final[tuple[str, ...]] = (
    "stage",
    "anatomy",
    "plan",
    "consent",
    "marking",
    "preop_imaging",
    "localizations",
)
ORDER_FIELDS: Final[tuple[str, ...]] = ("procedure", "structure", "levels", "side")
MARKING_FIELDS: Final[tuple[str, ...]] = ("region", "side")
PREOP_FIELDS: Final[tuple[str, ...]] = ("levels",)
LOCALIZATION_FIELDS: Final[tuple[str, ...]] = ("reference", "count", "level", "marker_in_place", "side")
# Key sets per field list, for the fast path of ``_unknown_keys``.
_KEY_SETS: Final[Mapping[tuple[str, ...], frozenset[str]]] = MappingProxyType(
    {
        fields: frozenset(fields)
        for fields in (REQUEST_FIELDS, ORDER_FIELDS, MARKING_FIELDS, PREOP_FIELDS, LOCALIZATION_FIELDS)
    }
)
# An anatomy object counts as recorded only when it gives these (contract v2, rule 4).
ANATOMY_RECORDED_FIELDS: Final[tuple[str, ...]] = ("thoracic", "lumbar", "source")

# --- finding codes -------------------------------------------------------------------------------

CONSENT_MISMATCH: Final = "CONSENT_MISMATCH"
PREOP_IMAGING_MISMATCH: Final = "PREOP_IMAGING_MISMATCH"
MARKING_MISMATCH: Final = "MARKING_MISMATCH"
COUNT_LABEL_MISMATCH: Final = "COUNT_LABEL_MISMATCH"
LOCALIZATION_OUTSIDE_PLAN: Final = "LOCALIZATION_OUTSIDE_PLAN"
LOCALIZATION_SIDE_MISMATCH: Final = "LOCALIZATION_SIDE_MISMATCH"
PLAN_MISSING: Final = "PLAN_MISSING"
CONSENT_MISSING: Final = "CONSENT_MISSING"
MARKING_MISSING: Final = "MARKING_MISSING"
PREOP_IMAGING_MISSING: Final = "PREOP_IMAGING_MISSING"
ANATOMY_MISSING: Final = "ANATOMY_MISSING"
LOCALIZATION_MISSING: Final = "LOCALIZATION_MISSING"
SECOND_REFERENCE_REQUIRED: Final = "SECOND_REFERENCE_REQUIRED"
MARKER_REMOVED: Final = "MARKER_REMOVED"
CONUS_PROXIMITY: Final = "CONUS_PROXIMITY"
LUMBAR_ONLY_NUMBERING: Final = "LUMBAR_ONLY_NUMBERING"

SEVERITY_BY_CODE: Final[Mapping[str, Severity]] = MappingProxyType(
    {
        CONSENT_MISMATCH: "stop",
        PREOP_IMAGING_MISMATCH: "stop",
        MARKING_MISMATCH: "stop",
        COUNT_LABEL_MISMATCH: "stop",
        LOCALIZATION_OUTSIDE_PLAN: "stop",
        LOCALIZATION_SIDE_MISMATCH: "stop",
        PLAN_MISSING: "incomplete",
        CONSENT_MISSING: "incomplete",
        MARKING_MISSING: "incomplete",
        PREOP_IMAGING_MISSING: "incomplete",
        ANATOMY_MISSING: "incomplete",
        LOCALIZATION_MISSING: "incomplete",
        SECOND_REFERENCE_REQUIRED: "incomplete",
        MARKER_REMOVED: "warning",
        CONUS_PROXIMITY: "warning",
        LUMBAR_ONLY_NUMBERING: "warning",
    }
)
FINDING_CODES: Final[tuple[str, ...]] = tuple(SEVERITY_BY_CODE)

# --- finding messages (read aloud; conflicting values in capitals) --------------------------------

MSG_CONSENT_PROCEDURE: Final = "Consent is for {consent}, plan is for {plan}."
MSG_CONSENT_LEVELS: Final = "Consent names {consent}, plan names {plan}."
MSG_CONSENT_SIDE: Final = "Consent says {consent}, plan says {plan}."
MSG_PREOP_LEVELS: Final = "Pre-op imaging shows {preop}, plan names {plan}."
MSG_MARKING_SIDE: Final = "Skin mark says {marking}, plan says {plan}."
MSG_MARKING_REGION: Final = "Skin mark is on the {region} region, which does not contain {units}."
MSG_COUNT_LABEL: Final = (
    "{counting} from {reference} in this patient ({anatomy}) is {counted}, but the image was labelled {label}."
)
MSG_COUNT_NOWHERE: Final = (
    "{counting} from {reference} does not land on any {noun} in this patient ({anatomy}), "
    "but the image was labelled {label}."
)
MSG_LOCALIZATION_OUTSIDE_PLAN: Final = "Image labelled {label} is not in the plan, which names {plan}."
MSG_LOCALIZATION_SIDE: Final = "Image {number} shows the marker on the {image} side, plan says {plan}."
MSG_CONSENT_LEVELS_UNREADABLE: Final = "Consent names {consent}, which is not a {structure} level as the plan's are."
MSG_PLAN_MISSING: Final = "No plan recorded: the target level cannot be established."
MSG_CONSENT_MISSING: Final = "No signed consent recorded."
MSG_MARKING_MISSING: Final = "No skin marking recorded."
MSG_PREOP_IMAGING_MISSING: Final = "No pre-op imaging level recorded."
MSG_ANATOMY_MISSING: Final = (
    "Anatomy not recorded: levels and counts were read as the usual 12 thoracic, 5 lumbar vertebrae."
)
MSG_ANATOMY_PARTIAL: Final = (
    "Anatomy not fully recorded (it needs thoracic and lumbar counts and the imaging they were "
    "counted on; missing: {missing}): levels and counts were read as the usual 12 thoracic, "
    "5 lumbar vertebrae."
)
MSG_LOCALIZATION_MISSING: Final = "No level image has been read with the marker still in place."
MSG_SECOND_REFERENCE_REQUIRED: Final = (
    "High-risk anatomy ({anatomy}): confirm the level by counting from two different references "
    "(sacrum, C2, last rib); so far {used}."
)
MSG_MARKER_REMOVED: Final = (
    "Image {number} ({counting} from {reference}, labelled {label}) was read after the marker was "
    "removed; it is ignored. Re-image with the marker in place."
)
MSG_CONUS_PROXIMITY: Final = (
    "Target {units} is near the conus medullaris, where the spinal cord ends (T12 to L2): "
    "a one-level error upward moves toward the cord."
)
MSG_LUMBAR_ONLY_NUMBERING: Final = (
    "Levels were numbered on lumbar-only imaging, which miscounts about 1 patient in 7: "
    "confirm against a whole-spine image or a second reference."
)

# --- actions: what new evidence resolves each stop or incomplete finding (v2 rule 8) -----------

ACTION_BY_CODE: Final[Mapping[str, str]] = MappingProxyType(
    {
        CONSENT_MISMATCH: (
            "Read the signed consent form again and record it exactly as written; if it truly differs, "
            "the surgeon corrects the plan or the patient signs a new consent."
        ),
        PREOP_IMAGING_MISMATCH: (
            "Review the pre-op images with the surgeon and record the level they show, "
            "or the surgeon revises and re-signs the plan."
        ),
        MARKING_MISMATCH: (
            "The surgeon checks the skin mark against the plan and marks the right region and side; "
            "record the new mark."
        ),
        COUNT_LABEL_MISMATCH: (
            "Count again on the level image from the named reference, with the marker in place, "
            "and record the new count and label."
        ),
        LOCALIZATION_OUTSIDE_PLAN: (
            "Move the marker to the planned level, take a new level image and record its count."
        ),
        LOCALIZATION_SIDE_MISMATCH: (
            "Move the marker or needle to the planned side, take a new level image and record it."
        ),
        PLAN_MISSING: "The surgeon writes and signs the plan.",
        CONSENT_MISSING: "Record the patient's signed consent from the paper form.",
        MARKING_MISSING: "Record the skin mark as the surgeon placed it: region and side.",
        PREOP_IMAGING_MISSING: "Record the level shown on the pre-op images.",
        ANATOMY_MISSING: (
            "Record this patient's anatomy from the images: thoracic and lumbar vertebra counts "
            "and the imaging they were counted on."
        ),
        LOCALIZATION_MISSING: "Take a level image with the marker in place and record the count.",
        SECOND_REFERENCE_REQUIRED: (
            "Count the level again from a second reference (sacrum, C2 or last rib) and record it."
        ),
    }
)

# --- input-error messages ------------------------------------------------------------------------

ERR_NOT_OBJECT: Final = "The request must be a JSON object with plan, consent, marking and the rest."
ERR_UNKNOWN_FIELD: Final = "{path}: unknown field {key} (expected {expected})."
ERR_DUPLICATE_FIELD: Final = "{path}: field {key} is given more than once."
ERR_NULL: Final = "{path}: must not be null (leave the field out when it was not recorded)."
ERR_LOCALIZATION_SIDE: Final = "{path}: {value} is not left or right (leave side out when the image does not show it)."
ERR_FIELD_NOT_OBJECT: Final = "{path}: must be an object with {expected}."
ERR_REQUIRED: Final = "{path}: this field is required."
ERR_NOT_TEXT: Final = "{path}: must be text (got {value})."
ERR_CHOICE: Final = "{path}: {value} is not one of {choices}."
ERR_STRUCTURE_DIFFERS: Final = "{path}: {procedure} works on a {expected}, not a {given}."
ERR_ROOT_MIDLINE: Final = (
    "{path}: a nerve root is on one side; use left, right or bilateral for {procedure}, not midline."
)
ERR_LEVELS: Final = "{path}: {problem}"
ERR_NOT_IN_RECORDED_ANATOMY_HINT: Final = (
    " (no anatomy was recorded, so the usual anatomy was assumed; record this patient's anatomy)"
)
ERR_LOCALIZATIONS_NOT_LIST: Final = "localizations: must be a list of level images."
ERR_COUNT: Final = "{path}: must be a whole number from 1 to 999999999999 (got {value})."
ERR_MARKER: Final = "{path}: must be true or false (got {value})."


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    sources: tuple[str, ...]
    message: str
    action: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "code": self.code,
            "severity": self.severity,
            "sources": list(self.sources),
            "message": self.message,
        }
        if self.action is not None:
            data["action"] = self.action
        return data


def _finding(code: str, sources: Sequence[str], message: str) -> Finding:
    return Finding(code, SEVERITY_BY_CODE[code], tuple(sources), message, ACTION_BY_CODE.get(code))


@dataclass(frozen=True)
class _Order:
    """A plan or a consent. ``units`` is None only for a consent for another procedure whose levels
    cannot be read in either procedure's structure; ``text`` is the levels as written."""

    procedure: str
    structure: Structure
    units: tuple[Unit, ...] | None
    side: str
    text: str = ""


@dataclass(frozen=True)
class _Marking:
    region: str
    side: str


@dataclass(frozen=True)
class _Localization:
    index: int
    reference: Reference
    count: int
    structure: Structure
    label: Unit
    marker_in_place: bool
    side: str | None = None


@dataclass(frozen=True)
class _Request:
    stage: str
    anatomy: Anatomy
    anatomy_recorded: bool
    anatomy_missing_fields: tuple[str, ...]
    plan: _Order | None
    consent: _Order | None
    marking: _Marking | None
    preop_units: tuple[Unit, ...] | None
    localizations: tuple[_Localization, ...]


# --- reading the request -------------------------------------------------------------------------

# JSON objects are dicts: checking ``dict`` first skips the slower ABC check (same result).
_MAPPING_TYPES: Final = (dict, Mapping)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _unknown_keys(
    path: str, field: str, data: Mapping[Any, Any], expected: tuple[str, ...], errors: InputErrors
) -> None:
    """Unknown, misspelt and duplicated keys are refused, never ignored (contract v2, rule 7).

    The message goes under the top-level ``field`` and under the offending key itself, so a client
    can find it either way. Duplicates are visible only when the JSON was read with
    ``levelverify.strict_json`` (which marks them on the mapping as ``duplicate_keys``).
    """
    if type(data) is dict and data.keys() <= _KEY_SETS[expected]:
        return  # the common case: a plain JSON object of known keys (duplicates come as a subclass)
    for key in data:
        if key not in expected:
            message = ERR_UNKNOWN_FIELD.format(path=path, key=quote_value(key), expected=", ".join(expected))
            errors.add(field, message)
            if isinstance(key, str) and key != field:
                errors.add(key, message)
    for key in getattr(data, "duplicate_keys", ()):
        message = ERR_DUPLICATE_FIELD.format(path=path, key=quote_value(key))
        errors.add(field, message)
        if key != field:
            errors.add(key, message)


def _choice(path: str, field: str, value: object, choices: Sequence[str], errors: InputErrors) -> str | None:
    if value is None:
        errors.add(field, ERR_REQUIRED.format(path=path))
        return None
    if not isinstance(value, str) or value not in choices:
        errors.add(field, ERR_CHOICE.format(path=path, value=quote_value(value), choices=", ".join(choices)))
        return None
    return value


def _levels(
    path: str,
    field: str,
    value: object,
    structure: Structure | None,
    reading: _Reading,
    errors: InputErrors,
    *,
    single: bool = False,
) -> tuple[Unit, ...] | None:
    """Parse levels text; ``structure`` None means "infer from the text" (only used without a plan)."""
    if value is None:
        errors.add(field, ERR_REQUIRED.format(path=path))
        return None
    if not isinstance(value, str):
        errors.add(field, ERR_NOT_TEXT.format(path=path, value=quote_value(value)))
        return None
    if reading.anatomy is None:
        return None  # anatomy is invalid; levels cannot be read against it
    anatomy = reading.anatomy
    if structure is None:
        structure = _infer_structure(value, anatomy)
    try:
        if single:
            return (parse_unit(value, structure, anatomy),)
        return parse_levels(value, structure, anatomy)
    except NotationError as error:
        hint = ERR_NOT_IN_RECORDED_ANATOMY_HINT if error.not_in_anatomy and not reading.recorded else ""
        for problem in error.messages:
            errors.add(field, ERR_LEVELS.format(path=path, problem=problem) + hint)
        return None


def _infer_structure(text: str, anatomy: Anatomy) -> Structure:
    """Without a plan or consent: text naming exactly one segment is a segment, else vertebrae."""
    try:
        parse_unit(text, "segment", anatomy)
    except NotationError:
        return "vertebra"
    return "segment"


@dataclass(frozen=True)
class _Reading:
    anatomy: Anatomy | None  # None when the anatomy given is invalid
    recorded: bool


def _plan_hint(data: object) -> _PlanHint | None:
    """The plan's procedure and structure when its procedure is readable (else None)."""
    structure = _procedure_structure(data)
    if structure is None:
        return None
    return _PlanHint(cast(Mapping[str, str], data)["procedure"], structure)


def _procedure_structure(data: object) -> Structure | None:
    if isinstance(data, _MAPPING_TYPES):
        procedure = data.get("procedure")
        if isinstance(procedure, str):
            return STRUCTURE_BY_PROCEDURE.get(procedure)
    return None


def _read_order(
    field: str, data: object, reading: _Reading, errors: InputErrors, plan: _PlanHint | None = None
) -> _Order | None:
    """A plan, or a consent (``plan`` given: the plan's procedure and structure, when readable).

    Contract v2, rule 6: consent levels are read in the plan's structure; a consent for another
    procedure is recorded as written (a mismatch, never invalid input), so its levels are read as
    well as they can be and its side is never refused for that procedure.
    """
    before = errors.count(field)
    if not isinstance(data, _MAPPING_TYPES):
        errors.add(field, ERR_FIELD_NOT_OBJECT.format(path=field, expected="procedure, levels and side"))
        return None
    _unknown_keys(field, field, data, ORDER_FIELDS, errors)
    procedure = _choice(f"{field}.procedure", field, data.get("procedure"), PROCEDURES, errors)
    own_structure = STRUCTURE_BY_PROCEDURE[procedure] if procedure else None
    given = data.get("structure")
    if "structure" in data:
        if given is None or not isinstance(given, str) or given not in STRUCTURES:
            errors.add(
                field,
                ERR_CHOICE.format(path=f"{field}.structure", value=quote_value(given), choices=", ".join(STRUCTURES)),
            )
        elif own_structure is not None and given != own_structure:
            errors.add(
                field,
                ERR_STRUCTURE_DIFFERS.format(
                    path=f"{field}.structure",
                    procedure=procedure,
                    expected=STRUCTURE_NOUNS[own_structure][0],
                    given=STRUCTURE_NOUNS[given][0],
                ),
            )
    side = _choice(f"{field}.side", field, data.get("side"), SIDES, errors)
    is_consent = plan is not None
    if side == "midline" and own_structure == "nerve_root" and not is_consent:
        errors.add(field, ERR_ROOT_MIDLINE.format(path=f"{field}.side", procedure=procedure))
    other_procedure = is_consent and procedure is not None and plan is not None and procedure != plan.procedure
    structure = plan.structure if plan is not None else own_structure
    raw_levels = data.get("levels")
    units: tuple[Unit, ...] | None
    if other_procedure and isinstance(raw_levels, str) and reading.anatomy is not None:
        units = _levels_as_written(field, raw_levels, (plan.structure, own_structure), reading, errors)  # type: ignore[union-attr]
    else:
        units = _levels(f"{field}.levels", field, raw_levels, structure or "vertebra", reading, errors)
    if errors.count(field) > before or procedure is None or own_structure is None or side is None:
        return None
    return _Order(procedure, structure or own_structure, units, side, raw_levels if isinstance(raw_levels, str) else "")


def _levels_as_written(
    field: str, text: str, structures: Sequence[Structure | None], reading: _Reading, errors: InputErrors
) -> tuple[Unit, ...] | None:
    """Levels of a consent for another procedure: in the plan's structure, else in the consent's
    own, else unread (``None``). Characters outside the allowed set are still invalid (rule 7)."""
    anatomy = cast(Anatomy, reading.anatomy)
    try:
        check_level_characters(text)
    except NotationError as error:
        for problem in error.messages:
            errors.add(field, ERR_LEVELS.format(path=f"{field}.levels", problem=problem))
        return None
    for structure in structures:
        if structure is None:
            continue
        try:
            return parse_levels(text, structure, anatomy)
        except NotationError:
            continue
    return None


@dataclass(frozen=True)
class _PlanHint:
    procedure: str
    structure: Structure


def _read_marking(data: object, errors: InputErrors) -> _Marking | None:
    if not isinstance(data, _MAPPING_TYPES):
        errors.add("marking", ERR_FIELD_NOT_OBJECT.format(path="marking", expected="region and side"))
        return None
    _unknown_keys("marking", "marking", data, MARKING_FIELDS, errors)
    region = _choice("marking.region", "marking", data.get("region"), REGIONS, errors)
    side = _choice("marking.side", "marking", data.get("side"), SIDES, errors)
    if errors.count("marking") or region is None or side is None:
        return None
    return _Marking(region, side)


def _read_preop(data: object, structure: Structure, reading: _Reading, errors: InputErrors) -> tuple[Unit, ...] | None:
    if not isinstance(data, _MAPPING_TYPES):
        errors.add("preop_imaging", ERR_FIELD_NOT_OBJECT.format(path="preop_imaging", expected="levels"))
        return None
    _unknown_keys("preop_imaging", "preop_imaging", data, PREOP_FIELDS, errors)
    units = _levels("preop_imaging.levels", "preop_imaging", data.get("levels"), structure, reading, errors)
    return None if errors.count("preop_imaging") else units


def _read_localizations(
    data: object, structure: Structure | None, reading: _Reading, errors: InputErrors
) -> tuple[_Localization, ...]:
    field = "localizations"
    if not isinstance(data, list | tuple):
        errors.add(field, ERR_LOCALIZATIONS_NOT_LIST)
        return ()
    found: list[_Localization] = []
    for index, item in enumerate(data):
        path = f"localizations[{index}]"
        before = errors.count(field)
        if not isinstance(item, _MAPPING_TYPES):
            errors.add(field, ERR_FIELD_NOT_OBJECT.format(path=path, expected=", ".join(LOCALIZATION_FIELDS)))
            continue
        _unknown_keys(path, field, item, LOCALIZATION_FIELDS, errors)
        reference = _choice(f"{path}.reference", field, item.get("reference"), REFERENCES, errors)
        count = item.get("count")
        if count is None:
            errors.add(field, ERR_REQUIRED.format(path=f"{path}.count"))
        elif not _is_int(count) or not 1 <= count <= MAX_NUMBER:
            errors.add(field, ERR_COUNT.format(path=f"{path}.count", value=quote_value(count)))
        marker = item.get("marker_in_place")
        if marker is None:
            errors.add(field, ERR_REQUIRED.format(path=f"{path}.marker_in_place"))
        elif not isinstance(marker, bool):
            errors.add(field, ERR_MARKER.format(path=f"{path}.marker_in_place", value=quote_value(marker)))
        side = item.get("side")
        if "side" in item and (not isinstance(side, str) or side not in LOCALIZATION_SIDES):
            errors.add(field, ERR_LOCALIZATION_SIDE.format(path=f"{path}.side", value=quote_value(side)))
        label = item.get("level")
        label_structure = structure
        if label_structure is None and isinstance(label, str) and reading.anatomy is not None:
            label_structure = _infer_structure(label, reading.anatomy)
        units = _levels(f"{path}.level", field, label, label_structure, reading, errors, single=True)
        if errors.count(field) > before or units is None or reference is None:
            continue
        found.append(
            _Localization(
                index=index,
                reference=cast(Reference, reference),
                count=cast(int, count),
                structure=cast(Structure, label_structure),
                label=units[0],
                marker_in_place=cast(bool, marker),
                side=cast(str | None, side),
            )
        )
    return tuple(found)


def _read_request(request: object) -> _Request:
    if not isinstance(request, _MAPPING_TYPES):
        raise LevelInputError({NON_FIELD_ERRORS: [ERR_NOT_OBJECT]})
    errors = InputErrors()
    _unknown_keys("request", NON_FIELD_ERRORS, request, REQUEST_FIELDS, errors)

    # A JSON null means "not recorded", the same as leaving the field out.
    raw_stage = request.get("stage")
    stage = DEFAULT_STAGE if raw_stage is None else _choice("stage", "stage", raw_stage, STAGES, errors)

    raw_anatomy = request.get("anatomy")
    missing_fields: tuple[str, ...] = ANATOMY_RECORDED_FIELDS
    if raw_anatomy is None:
        reading = _Reading(Anatomy.usual(), recorded=False)
    else:
        try:
            given = Anatomy.from_json(raw_anatomy)
        except LevelInputError as error:
            for field, messages in error.errors.items():
                for message in messages:
                    errors.add(field, message)
            reading = _Reading(None, recorded=True)
        else:
            # Rule 4: recorded only with thoracic, lumbar and source; else read as the usual anatomy.
            missing_fields = tuple(key for key in ANATOMY_RECORDED_FIELDS if key not in raw_anatomy)
            reading = _Reading(Anatomy.usual(), recorded=False) if missing_fields else _Reading(given, recorded=True)

    raw_plan, raw_consent = request.get("plan"), request.get("consent")
    plan = None if raw_plan is None else _read_order("plan", raw_plan, reading, errors)
    plan_hint = _plan_hint(raw_plan)
    consent = (
        None
        if raw_consent is None
        else _read_order("consent", raw_consent, reading, errors, plan_hint if raw_plan is not None else None)
    )
    # Other evidence is read in the plan's structure; without a plan, in the consent's.
    structure = _procedure_structure(raw_plan) or _procedure_structure(raw_consent)

    raw_marking = request.get("marking")
    marking = None if raw_marking is None else _read_marking(raw_marking, errors)
    raw_preop = request.get("preop_imaging")
    preop_units = None if raw_preop is None else _read_preop(raw_preop, structure or "vertebra", reading, errors)
    raw_localizations = request.get("localizations")
    localizations = (
        () if raw_localizations is None else _read_localizations(raw_localizations, structure, reading, errors)
    )
    errors.raise_if_any()
    return _Request(
        stage=cast(str, stage),
        anatomy=cast(Anatomy, reading.anatomy),
        anatomy_recorded=reading.recorded,
        anatomy_missing_fields=() if reading.recorded else missing_fields,
        plan=plan,
        consent=consent,
        marking=marking,
        preop_units=preop_units,
        localizations=localizations,
    )


# --- judging -------------------------------------------------------------------------------------


def _names(units: Sequence[Unit]) -> str:
    return join_words([unit.name for unit in sorted(units, key=unit_key)])


def _label_words(structure: Structure, label: Unit, request: _Request) -> str:
    """A label as the nurse reads it back: a nerve root also by its foramen ("L5 nerve root
    (L5-S1 foramen)"), since root images may be labelled either way."""
    if structure == "nerve_root":
        return display_target(structure, (label,), None, request.anatomy)
    return label.name


def _plan_words(structure: Structure, units: Sequence[Unit], request: _Request) -> str:
    if structure == "nerve_root":
        return display_target(structure, units, None, request.anatomy)
    return _names(units)


def _procedure_words(procedure: str) -> str:
    return procedure.replace("_", " ").upper()


def _anatomy_words(request: _Request) -> str:
    text = request.anatomy.describe()
    return text if request.anatomy_recorded else f"{text}, assumed: anatomy not recorded"


def _counting_words(structure: Structure, count: int) -> str:
    shown = str(count) if count < 10**9 else "an impossibly large number"
    return f"Disc count {shown}" if structure == "segment" else f"Count {shown}"


def _compare_consent(plan: _Order, consent: _Order, anatomy: Anatomy) -> list[Finding]:
    sources = ("consent", "plan")
    found: list[Finding] = []
    if consent.procedure != plan.procedure:
        found.append(
            _finding(
                CONSENT_MISMATCH,
                sources,
                MSG_CONSENT_PROCEDURE.format(
                    consent=_procedure_words(consent.procedure), plan=_procedure_words(plan.procedure)
                ),
            )
        )
    plan_units = cast(tuple[Unit, ...], plan.units)
    if consent.units is None:
        found.append(
            _finding(
                CONSENT_MISMATCH,
                sources,
                MSG_CONSENT_LEVELS_UNREADABLE.format(
                    consent=quote_value(consent.text), structure=STRUCTURE_NOUNS[plan.structure][0]
                ),
            )
        )
    elif set(consent.units) != set(plan_units):
        found.append(
            _finding(
                CONSENT_MISMATCH,
                sources,
                MSG_CONSENT_LEVELS.format(consent=_names(consent.units), plan=_names(plan_units)),
            )
        )
    if consent.side != plan.side:
        found.append(
            _finding(
                CONSENT_MISMATCH, sources, MSG_CONSENT_SIDE.format(consent=consent.side.upper(), plan=plan.side.upper())
            )
        )
    return found


def _compare_marking(plan: _Order, marking: _Marking, anatomy: Anatomy) -> list[Finding]:
    sources = ("marking", "plan")
    found: list[Finding] = []
    if marking.side != plan.side:
        found.append(
            _finding(
                MARKING_MISMATCH, sources, MSG_MARKING_SIDE.format(marking=marking.side.upper(), plan=plan.side.upper())
            )
        )
    outside = [
        unit for unit in cast(tuple[Unit, ...], plan.units) if not region_contains(marking.region, unit, anatomy)
    ]
    if outside:
        described = join_words([f"{unit.name} ({'/'.join(unit_regions(unit)).upper()})" for unit in outside])
        found.append(
            _finding(
                MARKING_MISMATCH,
                sources,
                MSG_MARKING_REGION.format(region=region_description(marking.region, anatomy).upper(), units=described),
            )
        )
    return found


def _judge_localization(request: _Request, item: _Localization) -> list[Finding]:
    source = f"localizations[{item.index}]"
    reference = REFERENCE_PHRASES[item.reference]
    if not item.marker_in_place:
        counting = _counting_words(item.structure, item.count)
        return [
            _finding(
                MARKER_REMOVED,
                (source,),
                MSG_MARKER_REMOVED.format(
                    number=item.index + 1, counting=counting.lower(), reference=reference, label=item.label.name
                ),
            )
        ]
    found: list[Finding] = []
    counted = count_to_unit(item.reference, item.count, item.structure, request.anatomy)
    if counted is None:
        counting = _counting_words(item.structure, item.count)
        found.append(
            _finding(
                COUNT_LABEL_MISMATCH,
                (source, "anatomy"),
                MSG_COUNT_NOWHERE.format(
                    counting=counting,
                    reference=reference,
                    noun=STRUCTURE_NOUNS[item.structure][0],
                    anatomy=_anatomy_words(request),
                    label=item.label.name,
                ),
            )
        )
    elif counted != item.label:
        counting = _counting_words(item.structure, item.count)
        found.append(
            _finding(
                COUNT_LABEL_MISMATCH,
                (source, "anatomy"),
                MSG_COUNT_LABEL.format(
                    counting=counting,
                    reference=reference,
                    anatomy=_anatomy_words(request),
                    counted=counted.name,
                    label=item.label.name,
                ),
            )
        )
    plan = request.plan
    if plan is not None:
        plan_units = cast(tuple[Unit, ...], plan.units)
        if item.label not in plan_units:
            found.append(
                _finding(
                    LOCALIZATION_OUTSIDE_PLAN,
                    (source, "plan"),
                    MSG_LOCALIZATION_OUTSIDE_PLAN.format(
                        label=_label_words(item.structure, item.label, request),
                        plan=_plan_words(item.structure, plan_units, request),
                    ),
                )
            )
        if item.side is not None and plan.side in UNILATERAL_SIDES and item.side != plan.side:
            found.append(
                _finding(
                    LOCALIZATION_SIDE_MISMATCH,
                    (source, "plan"),
                    MSG_LOCALIZATION_SIDE.format(
                        number=item.index + 1, image=item.side.upper(), plan=plan.side.upper()
                    ),
                )
            )
    return found


def _judge(request: _Request) -> list[Finding]:
    plan = request.plan
    found: list[Finding] = []
    if plan is None:
        found.append(_finding(PLAN_MISSING, ("plan",), MSG_PLAN_MISSING))
    if request.consent is None:
        found.append(_finding(CONSENT_MISSING, ("consent",), MSG_CONSENT_MISSING))
    elif plan is not None:
        found.extend(_compare_consent(plan, request.consent, request.anatomy))
    if request.marking is None:
        found.append(_finding(MARKING_MISSING, ("marking",), MSG_MARKING_MISSING))
    elif plan is not None:
        found.extend(_compare_marking(plan, request.marking, request.anatomy))
    if request.preop_units is None:
        found.append(_finding(PREOP_IMAGING_MISSING, ("preop_imaging",), MSG_PREOP_IMAGING_MISSING))
    elif plan is not None and set(request.preop_units) != set(cast(tuple[Unit, ...], plan.units)):
        found.append(
            _finding(
                PREOP_IMAGING_MISMATCH,
                ("preop_imaging", "plan"),
                MSG_PREOP_LEVELS.format(
                    preop=_names(request.preop_units), plan=_names(cast(tuple[Unit, ...], plan.units))
                ),
            )
        )
    if not request.anatomy_recorded:
        partial = 0 < len(request.anatomy_missing_fields) < len(ANATOMY_RECORDED_FIELDS)
        message = (
            MSG_ANATOMY_PARTIAL.format(missing=", ".join(request.anatomy_missing_fields))
            if partial
            else MSG_ANATOMY_MISSING
        )
        found.append(_finding(ANATOMY_MISSING, ("anatomy",), message))

    # Localizations are checked whenever given, at either stage: a disagreement is never ignored.
    for item in request.localizations:
        found.extend(_judge_localization(request, item))
    if request.stage == "localization":
        in_place = [item for item in request.localizations if item.marker_in_place]
        if not in_place:
            found.append(_finding(LOCALIZATION_MISSING, ("localizations",), MSG_LOCALIZATION_MISSING))
        used = sorted({item.reference for item in in_place}, key=REFERENCES.index)
        if request.anatomy.is_high_risk and len(used) < 2:
            used_words = (
                f"only {REFERENCE_PHRASES[used[0]]} was used"
                if used
                else "no count has been read with the marker in place"
            )
            found.append(
                _finding(
                    SECOND_REFERENCE_REQUIRED,
                    ("anatomy", "localizations"),
                    MSG_SECOND_REFERENCE_REQUIRED.format(anatomy=request.anatomy.describe(), used=used_words),
                )
            )

    if plan is not None:
        near = [unit for unit in cast(tuple[Unit, ...], plan.units) if near_conus(unit)]
        if near:
            found.append(_finding(CONUS_PROXIMITY, ("plan",), MSG_CONUS_PROXIMITY.format(units=_names(near))))
    if request.anatomy_recorded and request.anatomy.source == "lumbar_only":
        found.append(_finding(LUMBAR_ONLY_NUMBERING, ("anatomy",), MSG_LUMBAR_ONLY_NUMBERING))
    return sorted(found, key=lambda finding: SEVERITIES.index(finding.severity))


def verdict_for(findings: Sequence[Finding]) -> Verdict:
    """stop if any stop finding, else incomplete if any incomplete finding, else pass."""
    return verdict_of_severities(finding.severity for finding in findings)


def verdict_of_severities(severities: Iterable[str]) -> Verdict:
    """The verdict of findings with these severities (see verdict_for)."""
    present = set(severities)
    if "stop" in present:
        return "stop"
    if "incomplete" in present:
        return "incomplete"
    return "pass"


def _target(plan: _Order, anatomy: Anatomy) -> dict[str, Any]:
    units = cast(tuple[Unit, ...], plan.units)
    return {
        "procedure": plan.procedure,
        "structure": plan.structure,
        "units": [unit.name for unit in units],
        "side": plan.side,
        "display": display_target(plan.structure, units, plan.side, anatomy),
    }


def check_levels(request: Mapping[str, Any]) -> dict[str, Any]:
    """Judge one case's evidence; returns the JSON-ready verdict or raises ``LevelInputError``.

    Beyond the contract's ``verdict``, ``target`` and ``findings``, the result carries ``stage``,
    the ``anatomy`` used (with ``recorded`` and ``high_risk``) and ``expected_counts``: for each
    planned unit, the count from each reference that should land on it in this anatomy.
    """
    parsed = _read_request(request)
    findings = _judge(parsed)
    plan = parsed.plan
    return {
        "contract": CONTRACT_VERSION,
        "verdict": verdict_for(findings),
        "stage": parsed.stage,
        "target": _target(plan, parsed.anatomy) if plan is not None else None,
        "findings": [finding.to_json() for finding in findings],
        "expected_counts": {
            unit.name: expected_counts(unit, parsed.anatomy) for unit in cast(tuple[Unit, ...], plan.units)
        }
        if plan is not None
        else {},
        "anatomy": {
            **parsed.anatomy.to_json(),
            "recorded": parsed.anatomy_recorded,
            "high_risk": parsed.anatomy.is_high_risk,
            "description": parsed.anatomy.describe(),
        },
    }
