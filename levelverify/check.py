"""The level check: does the evidence for a case agree on one level?

Pure Python implementation of "The level check (contract)" in the design's domain.md. The API, the
``check_levels`` command and the case workflow all call ``check_levels`` with the same JSON.

Never a false pass: anything missing is ``incomplete``, anything that disagrees (including a count
that lands nowhere) is ``stop``, and input that cannot be read raises ``LevelInputError``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    count_to_unit,
    display_target,
    expected_counts,
    join_words,
    near_conus,
    parse_levels,
    parse_unit,
    quote_value,
    region_contains,
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
REGIONS: Final[tuple[str, ...]] = tuple(MARKING_REGIONS)
VERDICTS: Final[tuple[Verdict, ...]] = ("pass", "stop", "incomplete")
SEVERITIES: Final[tuple[Severity, ...]] = ("stop", "incomplete", "warning")
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
LOCALIZATION_FIELDS: Final[tuple[str, ...]] = ("reference", "count", "level", "marker_in_place")

# --- finding codes -------------------------------------------------------------------------------

CONSENT_MISMATCH: Final = "CONSENT_MISMATCH"
PREOP_IMAGING_MISMATCH: Final = "PREOP_IMAGING_MISMATCH"
MARKING_MISMATCH: Final = "MARKING_MISMATCH"
COUNT_LABEL_MISMATCH: Final = "COUNT_LABEL_MISMATCH"
LOCALIZATION_OUTSIDE_PLAN: Final = "LOCALIZATION_OUTSIDE_PLAN"
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
MSG_MARKING_REGION: Final = "Skin mark is on the {region} region, plan names {units}."
MSG_COUNT_LABEL: Final = (
    "{counting} from {reference} in this patient ({anatomy}) is {counted}, but the image was labelled {label}."
)
MSG_COUNT_NOWHERE: Final = (
    "{counting} from {reference} does not land on any {noun} in this patient ({anatomy}), "
    "but the image was labelled {label}."
)
MSG_LOCALIZATION_OUTSIDE_PLAN: Final = "Image labelled {label} is not in the plan, which names {plan}."
MSG_PLAN_MISSING: Final = "No plan recorded: the target level cannot be established."
MSG_CONSENT_MISSING: Final = "No signed consent recorded."
MSG_MARKING_MISSING: Final = "No skin marking recorded."
MSG_PREOP_IMAGING_MISSING: Final = "No pre-op imaging level recorded."
MSG_ANATOMY_MISSING: Final = (
    "Anatomy not recorded: levels and counts were read as the usual 12 thoracic, 5 lumbar "
    "vertebrae. Record this patient's vertebra counts, lowest rib and lowest mobile vertebra."
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
    "Target {units} is near the conus medullaris, where the spinal cord ends (T12 to L3): "
    "a one-level error upward moves toward the cord."
)
MSG_LUMBAR_ONLY_NUMBERING: Final = (
    "Levels were numbered on lumbar-only imaging, which miscounts about 1 patient in 7: "
    "confirm against a whole-spine image or a second reference."
)

# --- input-error messages ------------------------------------------------------------------------

ERR_NOT_OBJECT: Final = "The request must be a JSON object with plan, consent, marking and the rest."
ERR_UNKNOWN_FIELD: Final = "{path}: unknown field {key} (expected {expected})."
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
ERR_COUNT: Final = "{path}: must be a whole number of at least 1 (got {value})."
ERR_MARKER: Final = "{path}: must be true or false (got {value})."


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    sources: tuple[str, ...]
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "sources": list(self.sources),
            "message": self.message,
        }


def _finding(code: str, sources: Sequence[str], message: str) -> Finding:
    return Finding(code, SEVERITY_BY_CODE[code], tuple(sources), message)


@dataclass(frozen=True)
class _Order:
    """A plan or a consent."""

    procedure: str
    structure: Structure
    units: tuple[Unit, ...]
    side: str


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


@dataclass(frozen=True)
class _Request:
    stage: str
    anatomy: Anatomy
    anatomy_recorded: bool
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


def _unknown_keys(path: str, field: str, data: Mapping[Any, Any], expected: Sequence[str], errors: InputErrors) -> None:
    for key in data:
        if key not in expected:
            errors.add(field, ERR_UNKNOWN_FIELD.format(path=path, key=quote_value(key), expected=", ".join(expected)))


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


def _procedure_structure(data: object) -> Structure | None:
    if isinstance(data, _MAPPING_TYPES):
        procedure = data.get("procedure")
        if isinstance(procedure, str):
            return STRUCTURE_BY_PROCEDURE.get(procedure)
    return None


def _read_order(field: str, data: object, reading: _Reading, errors: InputErrors) -> _Order | None:
    before = errors.count(field)
    if not isinstance(data, _MAPPING_TYPES):
        errors.add(field, ERR_FIELD_NOT_OBJECT.format(path=field, expected="procedure, levels and side"))
        return None
    _unknown_keys(field, field, data, ORDER_FIELDS, errors)
    procedure = _choice(f"{field}.procedure", field, data.get("procedure"), PROCEDURES, errors)
    structure = STRUCTURE_BY_PROCEDURE[procedure] if procedure else None
    given = data.get("structure")
    if given is not None:
        if not isinstance(given, str) or given not in STRUCTURES:
            errors.add(
                field,
                ERR_CHOICE.format(path=f"{field}.structure", value=quote_value(given), choices=", ".join(STRUCTURES)),
            )
        elif structure is not None and given != structure:
            errors.add(
                field,
                ERR_STRUCTURE_DIFFERS.format(
                    path=f"{field}.structure",
                    procedure=procedure,
                    expected=STRUCTURE_NOUNS[structure][0],
                    given=STRUCTURE_NOUNS[given][0],
                ),
            )
    side = _choice(f"{field}.side", field, data.get("side"), SIDES, errors)
    if side == "midline" and structure == "nerve_root":
        errors.add(field, ERR_ROOT_MIDLINE.format(path=f"{field}.side", procedure=procedure))
    units = _levels(f"{field}.levels", field, data.get("levels"), structure or "vertebra", reading, errors)
    if errors.count(field) > before or procedure is None or structure is None or side is None:
        return None
    return _Order(procedure, structure, cast(tuple[Unit, ...], units), side)


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
        elif not _is_int(count) or count < 1:
            errors.add(field, ERR_COUNT.format(path=f"{path}.count", value=quote_value(count)))
        marker = item.get("marker_in_place")
        if marker is None:
            errors.add(field, ERR_REQUIRED.format(path=f"{path}.marker_in_place"))
        elif not isinstance(marker, bool):
            errors.add(field, ERR_MARKER.format(path=f"{path}.marker_in_place", value=quote_value(marker)))
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
    if raw_anatomy is None:
        reading = _Reading(Anatomy.usual(), recorded=False)
    else:
        try:
            reading = _Reading(Anatomy.from_json(raw_anatomy), recorded=True)
        except LevelInputError as error:
            for field, messages in error.errors.items():
                for message in messages:
                    errors.add(field, message)
            reading = _Reading(None, recorded=True)

    raw_plan, raw_consent = request.get("plan"), request.get("consent")
    plan = None if raw_plan is None else _read_order("plan", raw_plan, reading, errors)
    consent = None if raw_consent is None else _read_order("consent", raw_consent, reading, errors)
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
        plan=plan,
        consent=consent,
        marking=marking,
        preop_units=preop_units,
        localizations=localizations,
    )


# --- judging -------------------------------------------------------------------------------------


def _names(units: Sequence[Unit]) -> str:
    return join_words([unit.name for unit in sorted(units, key=unit_key)])


def _procedure_words(procedure: str) -> str:
    return procedure.replace("_", " ").upper()


def _anatomy_words(request: _Request) -> str:
    text = request.anatomy.describe()
    return text if request.anatomy_recorded else f"{text}, assumed: anatomy not recorded"


def _counting_words(structure: Structure, count: int) -> str:
    shown = str(count) if count < 10**9 else "an impossibly large number"
    return f"Disc count {shown}" if structure == "segment" else f"Count {shown}"


def _compare_consent(plan: _Order, consent: _Order) -> list[Finding]:
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
    consent_names = {unit.name for unit in consent.units}
    plan_names = {unit.name for unit in plan.units}
    if consent_names != plan_names:
        found.append(
            _finding(
                CONSENT_MISMATCH,
                sources,
                MSG_CONSENT_LEVELS.format(consent=_names(consent.units), plan=_names(plan.units)),
            )
        )
    if consent.side != plan.side:
        found.append(
            _finding(
                CONSENT_MISMATCH, sources, MSG_CONSENT_SIDE.format(consent=consent.side.upper(), plan=plan.side.upper())
            )
        )
    return found


def _compare_marking(plan: _Order, marking: _Marking) -> list[Finding]:
    sources = ("marking", "plan")
    found: list[Finding] = []
    if marking.side != plan.side:
        found.append(
            _finding(
                MARKING_MISMATCH, sources, MSG_MARKING_SIDE.format(marking=marking.side.upper(), plan=plan.side.upper())
            )
        )
    outside = [unit for unit in plan.units if not region_contains(marking.region, unit)]
    if outside:
        described = join_words([f"{unit.name} ({'/'.join(unit_regions(unit)).upper()})" for unit in outside])
        found.append(
            _finding(
                MARKING_MISMATCH, sources, MSG_MARKING_REGION.format(region=marking.region.upper(), units=described)
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
    if plan is not None and item.label not in plan.units:
        found.append(
            _finding(
                LOCALIZATION_OUTSIDE_PLAN,
                (source, "plan"),
                MSG_LOCALIZATION_OUTSIDE_PLAN.format(label=item.label.name, plan=_names(plan.units)),
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
        found.extend(_compare_consent(plan, request.consent))
    if request.marking is None:
        found.append(_finding(MARKING_MISSING, ("marking",), MSG_MARKING_MISSING))
    elif plan is not None:
        found.extend(_compare_marking(plan, request.marking))
    if request.preop_units is None:
        found.append(_finding(PREOP_IMAGING_MISSING, ("preop_imaging",), MSG_PREOP_IMAGING_MISSING))
    elif plan is not None and set(request.preop_units) != set(plan.units):
        found.append(
            _finding(
                PREOP_IMAGING_MISMATCH,
                ("preop_imaging", "plan"),
                MSG_PREOP_LEVELS.format(preop=_names(request.preop_units), plan=_names(plan.units)),
            )
        )
    if not request.anatomy_recorded:
        found.append(_finding(ANATOMY_MISSING, ("anatomy",), MSG_ANATOMY_MISSING))

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
        near = [unit for unit in plan.units if near_conus(unit)]
        if near:
            found.append(_finding(CONUS_PROXIMITY, ("plan",), MSG_CONUS_PROXIMITY.format(units=_names(near))))
    if request.anatomy_recorded and request.anatomy.source == "lumbar_only":
        found.append(_finding(LUMBAR_ONLY_NUMBERING, ("anatomy",), MSG_LUMBAR_ONLY_NUMBERING))
    return sorted(found, key=lambda finding: SEVERITIES.index(finding.severity))


def verdict_for(findings: Sequence[Finding]) -> Verdict:
    """stop if any stop finding, else incomplete if any incomplete finding, else pass."""
    severities = {finding.severity for finding in findings}
    if "stop" in severities:
        return "stop"
    if "incomplete" in severities:
        return "incomplete"
    return "pass"


def _target(plan: _Order) -> dict[str, Any]:
    return {
        "procedure": plan.procedure,
        "structure": plan.structure,
        "units": [unit.name for unit in plan.units],
        "side": plan.side,
        "display": display_target(plan.structure, plan.units, plan.side),
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
        "verdict": verdict_for(findings),
        "stage": parsed.stage,
        "target": _target(plan) if plan is not None else None,
        "findings": [finding.to_json() for finding in findings],
        "expected_counts": {unit.name: expected_counts(unit, parsed.anatomy) for unit in plan.units}
        if plan is not None
        else {},
        "anatomy": {
            **parsed.anatomy.to_json(),
            "recorded": parsed.anatomy_recorded,
            "high_risk": parsed.anatomy.is_high_risk,
            "description": parsed.anatomy.describe(),
        },
    }
