"""Checklist templates as versioned data.

A case's checklist run pins ``(code, version)``. A shipped version is never edited: change a template by
adding the next version to ``_CATALOG``, so a run started on version 1 keeps reading version 1 forever.
``ChecklistTemplate.fingerprint`` lets a run (and the tests) prove the content it pinned is unchanged.

The steps follow the WHO Surgical Safety Checklist (Sign In, Time Out, Sign Out), the Joint Commission
Universal Protocol, NASS Sign, Mark & X-ray, the Minnesota Hospital Association spine level localization
alert (2011) and the localization time-out (Mayer 2014). Pure Python: no Django imports, so the engine,
the API and the tests can load it anywhere.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from checklist.access.roles import ANESTHESIA, NURSE, RADIOGRAPHER, SURGEON

PHASES: Final[tuple[str, ...]] = ("sign_in", "time_out", "localization", "sign_out")
PHASE_LABELS: Final[dict[str, str]] = {
    "sign_in": "Sign in",
    "time_out": "Time-out",
    "localization": "Localization",
    "sign_out": "Sign out",
}

# Quality officers and admins never attest a clinical step.
ATTESTING_ROLES: Final[tuple[str, ...]] = (SURGEON, ANESTHESIA, NURSE, RADIOGRAPHER)

EVIDENCE_KEYS: Final[tuple[str, ...]] = (
    "plan_signed",
    "consent",
    "marking",
    "preop_imaging",
    "anatomy",
    "localization",
    "durable_mark",
    "treated_levels",
)

# High-risk anatomy as the level check defines it (levelverify: Anatomy.is_high_risk).
CONDITION_VARIANT_ANATOMY: Final = "variant_anatomy"
# A target unit involving T12, L1 or L2 (or T13): the level check's CONUS_PROXIMITY warning.
CONDITION_CONUS: Final = "conus"
CONDITIONS: Final[tuple[str, ...]] = (CONDITION_VARIANT_ANATOMY, CONDITION_CONUS)

PROCEDURE_CODES: Final[tuple[str, ...]] = (
    "selective_nerve_root_block",
    "transforaminal_epidural_injection",
    "interlaminar_epidural_injection",
    "vertebral_augmentation",
    "decompression",
    "discectomy",
    "fusion",
)

MSG_UNKNOWN_TEMPLATE: Final = "No checklist template {code!r}; known templates: {known}."
MSG_UNKNOWN_VERSION: Final = "Checklist template {code!r} has no version {version}; versions: {versions}."
MSG_UNKNOWN_STEP: Final = "Checklist template {code!r} version {version} has no step {step!r}."
MSG_UNKNOWN_PHASE: Final = "Unknown phase {phase!r}; phases are {phases}."
MSG_INVALID_STEP: Final = "Step {code!r}: {problem}."
MSG_INVALID_TEMPLATE: Final = "Checklist template {code!r} version {version}: {problem}."

_SNAKE_CASE: Final = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")


@dataclass(frozen=True)
class StepTemplate:
    """One item of a checklist: what is read aloud, who attests it and what evidence must agree first."""

    code: str
    phase: str
    text: str
    roles: tuple[str, ...]
    evidence: tuple[str, ...] = ()
    condition: str | None = None
    source: str = ""
    help: str = ""
    # The role whose attestation is a scan, never a tick (the wristband: positive patient
    # identification); None for a step every role attests by ticking.
    scan_role: str | None = None

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem:
            raise ValueError(MSG_INVALID_STEP.format(code=self.code, problem=problem))

    def _problem(self) -> str | None:
        if not _SNAKE_CASE.fullmatch(self.code):
            return "code must be snake_case"
        if self.phase not in PHASES:
            return f"phase {self.phase!r} is not one of {', '.join(PHASES)}"
        if not self.text.strip():
            return "text is empty"
        if not self.roles:
            return "at least one role must attest"
        if len(set(self.roles)) != len(self.roles):
            return "a role is listed twice"
        unknown_roles = [role for role in self.roles if role not in ATTESTING_ROLES]
        if unknown_roles:
            return f"roles {unknown_roles} cannot attest; attesting roles are {', '.join(ATTESTING_ROLES)}"
        if len(set(self.evidence)) != len(self.evidence):
            return "an evidence key is listed twice"
        unknown_evidence = [key for key in self.evidence if key not in EVIDENCE_KEYS]
        if unknown_evidence:
            return f"evidence keys {unknown_evidence} are not among {', '.join(EVIDENCE_KEYS)}"
        if self.condition is not None and self.condition not in CONDITIONS:
            return f"condition {self.condition!r} is not None or one of {', '.join(CONDITIONS)}"
        if self.scan_role is not None and self.scan_role not in self.roles:
            return f"scan role {self.scan_role!r} is not among the roles that attest it"
        return None

    def attested_by_scan(self, role: str) -> bool:
        """Whether ``role`` attests this step by a scan (and a tick is refused)."""
        return self.scan_role == role

    def applies(self, *, variant_anatomy: bool, near_conus: bool) -> bool:
        """Whether this step is part of a case with this anatomy and these targets."""
        if self.condition == CONDITION_VARIANT_ANATOMY:
            return variant_anatomy
        if self.condition == CONDITION_CONUS:
            return near_conus
        return True

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "phase": self.phase,
            "text": self.text,
            "roles": list(self.roles),
            "evidence": list(self.evidence),
            "condition": self.condition,
            "source": self.source,
            "help": self.help,
            # Only when set, so that the shipped version 1 keeps its fingerprint.
            **({"scan_role": self.scan_role} if self.scan_role else {}),
        }


@dataclass(frozen=True)
class ChecklistTemplate:
    """One version of the checklist for one procedure; steps are in phase order."""

    code: str
    version: int
    title: str
    procedure: str
    steps: tuple[StepTemplate, ...]

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem:
            raise ValueError(MSG_INVALID_TEMPLATE.format(code=self.code, version=self.version, problem=problem))

    def _problem(self) -> str | None:
        if self.code != self.procedure:
            return f"code must equal the procedure code {self.procedure!r}"
        if self.version < 1:
            return "version must be 1 or more"
        if not self.title.strip():
            return "title is empty"
        codes = [step.code for step in self.steps]
        duplicates = sorted({code for code in codes if codes.count(code) > 1})
        if duplicates:
            return f"step codes {duplicates} are repeated"
        order = [PHASES.index(step.phase) for step in self.steps]
        if order != sorted(order):
            return "steps must be listed in phase order"
        empty = [phase for phase in PHASES if phase not in {step.phase for step in self.steps}]
        if empty:
            return f"phases {empty} have no step"
        return None

    def steps_for(self, phase: str, *, variant_anatomy: bool, near_conus: bool) -> tuple[StepTemplate, ...]:
        """The steps of ``phase`` that apply to this case, in order."""
        if phase not in PHASES:
            raise ValueError(MSG_UNKNOWN_PHASE.format(phase=phase, phases=", ".join(PHASES)))
        return tuple(
            step
            for step in self.steps
            if step.phase == phase and step.applies(variant_anatomy=variant_anatomy, near_conus=near_conus)
        )

    def applicable_steps(self, *, variant_anatomy: bool, near_conus: bool) -> tuple[StepTemplate, ...]:
        """Every step that applies to this case, in phase order."""
        return tuple(
            step for step in self.steps if step.applies(variant_anatomy=variant_anatomy, near_conus=near_conus)
        )

    def step(self, code: str) -> StepTemplate:
        for step in self.steps:
            if step.code == code:
                return step
        raise KeyError(MSG_UNKNOWN_STEP.format(code=self.code, version=self.version, step=code))

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "version": self.version,
            "title": self.title,
            "procedure": self.procedure,
            "steps": [step.to_dict() for step in self.steps],
        }

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the canonical JSON content: binds a run (and its signatures) to the exact wording."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# --- Procedure groups -------------------------------------------------------------------------------

_INJECTIONS: Final = frozenset(
    {"selective_nerve_root_block", "transforaminal_epidural_injection", "interlaminar_epidural_injection"}
)
_AUGMENTATION: Final = "vertebral_augmentation"
# Open procedures: an incision, an exposure and a wound that can hide a sponge.
_OPEN: Final = frozenset({"decompression", "discectomy", "fusion"})
# Procedures with a real risk of losing more than 500 ml of blood (WHO Sign In item).
_BLOOD_LOSS_RISK: Final = _OPEN | {_AUGMENTATION}
# Cement is an implant: vertebral augmentation gets prophylaxis like the open procedures.
_ANTIBIOTICS: Final = _OPEN | {_AUGMENTATION}
_SPECIMEN: Final = frozenset({"discectomy", "decompression"})

_TITLES: Final[dict[str, str]] = {
    "selective_nerve_root_block": "Selective nerve root block",
    "transforaminal_epidural_injection": "Transforaminal epidural injection",
    "interlaminar_epidural_injection": "Interlaminar epidural injection",
    "vertebral_augmentation": "Vertebral augmentation (kyphoplasty or vertebroplasty)",
    "decompression": "Decompression (laminotomy or laminectomy)",
    "discectomy": "Discectomy",
    "fusion": "Spinal fusion",
}

# The irreversible step the localization time-out must precede (Mayer 2014).
_IRREVERSIBLE_STEP: Final[dict[str, str]] = {
    "selective_nerve_root_block": "the medication is injected",
    "transforaminal_epidural_injection": "the medication is injected",
    "interlaminar_epidural_injection": "the medication is injected",
    "vertebral_augmentation": "cement goes in",
    "decompression": "any bone is removed",
    "discectomy": "any bone is removed or the disc is opened",
    "fusion": "any bone is removed or any screw is placed",
}

_TEAM: Final = (SURGEON, ANESTHESIA, NURSE)

# --- Sign in: before induction, or before the needle --------------------------------------------------

_PATIENT_IDENTITY = StepTemplate(
    code="patient_identity_confirmed",
    phase="sign_in",
    text="Patient has confirmed identity, procedure, site and side",
    roles=(NURSE, ANESTHESIA),
    source="WHO",
    help="The patient is the one person who can catch a wrong name, procedure or side before anything starts.",
)
# Version 2: the nurse's attestation is the wristband scan (issue 17), not a typed tick.
_PATIENT_IDENTITY_SCANNED = StepTemplate(
    code="patient_identity_scanned",
    phase="sign_in",
    text="Wristband scanned names this patient, who confirms identity, procedure, site and side",
    roles=(NURSE, ANESTHESIA),
    source="WHO; Joint Commission NPSG.01.01.01",
    help="The nurse scans the wristband (another patient's is a stop) and the patient confirms it aloud.",
    scan_role=NURSE,
)
_CONSENT_SIGNED = StepTemplate(
    code="consent_signed",
    phase="sign_in",
    text="Consent is signed and names the same procedure, level and side as the plan",
    roles=(NURSE,),
    evidence=("consent",),
    source="Universal Protocol",
    help="A consent that differs from the plan must be corrected before the patient is anesthetised.",
)
_SITE_MARKED = StepTemplate(
    code="site_marked",
    phase="sign_in",
    text="Site is marked on the skin: spinal region and side",
    roles=(NURSE,),
    evidence=("marking",),
    source="NASS SMaX",
    help="The skin mark shows the region and side; the exact level is found later on the X-ray.",
)
_ANESTHESIA_CHECK = StepTemplate(
    code="anesthesia_safety_check",
    phase="sign_in",
    text="Anesthesia safety check is complete: equipment, medication and pulse oximeter working",
    roles=(ANESTHESIA,),
    source="WHO",
    help="Machine, drugs and monitoring are checked before the patient is put to sleep or sedated.",
)
_ALLERGY_OPEN = StepTemplate(
    code="known_allergy",
    phase="sign_in",
    text="Known allergies have been checked, including latex",
    roles=(NURSE, ANESTHESIA),
    source="WHO",
    help="An allergy found now changes the drugs and equipment; found later it is an emergency.",
)
_ALLERGY_CONTRAST = StepTemplate(
    code="known_allergy",
    phase="sign_in",
    text="Known allergies have been checked, including contrast, iodine and latex",
    roles=(NURSE, ANESTHESIA),
    source="WHO",
    help="Contrast is injected to confirm the level, so a contrast allergy must be known before the needle.",
)
_AIRWAY_RISK = StepTemplate(
    code="airway_aspiration_risk",
    phase="sign_in",
    text="Difficult airway or aspiration risk is assessed, with equipment and help ready if needed",
    roles=(ANESTHESIA,),
    source="WHO",
    help="The patient lies prone; an airway problem is much harder to manage once they are turned.",
)
_BLOOD_LOSS = StepTemplate(
    code="blood_loss_risk",
    phase="sign_in",
    text="Risk of more than 500 ml blood loss is assessed, with IV access and fluids planned",
    roles=(ANESTHESIA,),
    source="WHO",
    help="Spinal bleeding can be fast; access and blood products are arranged before the first cut.",
)
_PREOP_IMAGING = StepTemplate(
    code="preop_imaging_available",
    phase="sign_in",
    text="Pre-op images of the target level are displayed, of good quality and viewable throughout",
    roles=(NURSE,),
    evidence=("preop_imaging",),
    source="MHA 2011",
    help="The team compares every level image with these pictures, so they must be on screen from the start.",
)
_ANATOMY_COUNTED = StepTemplate(
    code="vertebral_anatomy_recorded",
    phase="sign_in",
    text="Vertebrae are counted from C2 on whole-spine imaging and the count is recorded",
    roles=(NURSE, RADIOGRAPHER),
    evidence=("anatomy",),
    source="MHA 2011",
    help="Numbering from lumbar-only images was wrong in 1 patient in 7; every later count relies on this one.",
)

# --- Time-out: immediately before the incision or the needle ------------------------------------------

_TEAM_INTRODUCED = StepTemplate(
    code="team_introduced",
    phase="time_out",
    text="Every team member has introduced themselves by name and role",
    roles=_TEAM,
    source="WHO",
    help="People who know each other's names speak up sooner when something looks wrong.",
)
_CONFIRM_ALOUD = StepTemplate(
    code="team_confirms_patient_level_side",
    phase="time_out",
    text="Surgeon, anesthesia and nurse confirm aloud: patient, procedure, level and side",
    roles=_TEAM,
    evidence=("plan_signed", "consent", "marking"),
    source="Universal Protocol",
    help="Everyone in the room agrees out loud; any doubt stops the case until it is resolved.",
)
_PLAN_MATCHES_CONSENT = StepTemplate(
    code="plan_matches_consent",
    phase="time_out",
    text="The signed plan matches the consent: procedure, level and side",
    roles=(SURGEON, NURSE),
    evidence=("plan_signed", "consent"),
    source="Universal Protocol",
    help="The plan the surgeon signed and the consent the patient signed must name the same level and side.",
)
_MARK_VISIBLE = StepTemplate(
    code="site_mark_visible",
    phase="time_out",
    text="The site mark is visible after draping",
    roles=(NURSE,),
    evidence=("marking",),
    source="Universal Protocol",
    help="A mark hidden under the drapes cannot confirm the side.",
)
_IMAGES_DISPLAYED = StepTemplate(
    code="images_displayed",
    phase="time_out",
    text="Essential images are displayed and show the target level",
    roles=(SURGEON,),
    evidence=("preop_imaging",),
    source="WHO",
    help="The target on the screen is the one the level image will be compared against.",
)
_SURGEON_EVENTS_OPEN = StepTemplate(
    code="critical_events_surgeon",
    phase="time_out",
    text="Surgeon reviews critical or unexpected steps, expected duration and anticipated blood loss",
    roles=(SURGEON,),
    source="WHO",
    help="The team can only prepare for what the surgeon tells them to expect.",
)
_SURGEON_EVENTS_INJECTION = StepTemplate(
    code="critical_events_surgeon",
    phase="time_out",
    text="Operator reviews critical steps, expected duration and what to do if the patient reacts",
    roles=(SURGEON,),
    source="WHO",
    help="A vasovagal episode, a drug reaction or new weakness needs a plan before the needle goes in.",
)
_ANESTHESIA_EVENTS = StepTemplate(
    code="critical_events_anesthesia",
    phase="time_out",
    text="Anesthesia reviews any patient-specific concerns",
    roles=(ANESTHESIA,),
    source="WHO",
    help="Heart, lung, bleeding or positioning concerns are shared while there is still time to act on them.",
)
_NURSING_EVENTS = StepTemplate(
    code="critical_events_nursing",
    phase="time_out",
    text="Nursing team raises any equipment issues or concerns",
    roles=(NURSE,),
    source="WHO",
    help="A missing instrument or a broken C-arm is better found now than halfway through.",
)
_STERILITY = StepTemplate(
    code="sterility_confirmed",
    phase="time_out",
    text="Sterility is confirmed, including indicator results",
    roles=(NURSE,),
    source="WHO",
    help="A failed sterility indicator means the instruments must not touch the patient.",
)
_ANTIBIOTICS_GIVEN = StepTemplate(
    code="antibiotic_prophylaxis",
    phase="time_out",
    text="Antibiotic prophylaxis was given within the last 60 minutes",
    roles=(ANESTHESIA,),
    source="WHO",
    help="Antibiotics given within an hour of the incision lower the risk of a wound or implant infection.",
)
_INJECTATE_LABELLED = StepTemplate(
    code="injectate_checked",
    phase="time_out",
    text="Every syringe is labelled and the drug, dose and contrast are checked",
    roles=(SURGEON, NURSE),
    source="Joint Commission NPSG.03.04.01",
    help="Unlabelled syringes on the sterile field are a known cause of injecting the wrong drug.",
)
_IMPLANTS_AVAILABLE = StepTemplate(
    code="implants_available",
    phase="time_out",
    text="Implants, instruments and imaging needed for the fusion are in the room and checked",
    roles=(SURGEON, NURSE),
    source="WHO",
    help="Finding a missing screw size after the bone is prepared prolongs anesthesia and exposure.",
)
_AUGMENTATION_KIT = StepTemplate(
    code="augmentation_kit_available",
    phase="time_out",
    text="Kyphoplasty or vertebroplasty kit and cement are in the room and checked",
    roles=(SURGEON, NURSE),
    source="WHO",
    help="Cement sets on a clock; everything must be ready before it is mixed.",
)
_CONUS_WARNING = StepTemplate(
    code="conus_warning_acknowledged",
    phase="time_out",
    text="Target is near the end of the spinal cord (T12 to L2): a level too high moves toward the cord",
    roles=(SURGEON, NURSE),
    condition=CONDITION_CONUS,
    source="Saifuddin 1998",
    help="The cord usually ends at L1 but can end anywhere from mid-T12 to L3, so an error upward is dangerous.",
)
_VARIANT_PLAN = StepTemplate(
    code="variant_anatomy_discussed",
    phase="time_out",
    text="Unusual vertebral anatomy is discussed and the level will be counted from two references",
    roles=(SURGEON, RADIOGRAPHER),
    evidence=("anatomy",),
    condition=CONDITION_VARIANT_ANATOMY,
    source="NASS SMaX",
    help="With an extra or missing vertebra or rib, a count from one landmark alone often lands a level off.",
)

# --- Localization: from the level image to the irreversible step -----------------------------------

_LEVEL_IMAGE = StepTemplate(
    code="level_image_read",
    phase="localization",
    text="Level image is read with the marker or needle still in place",
    roles=(SURGEON, RADIOGRAPHER),
    evidence=("localization",),
    source="MHA 2011",
    help="An image read after the marker has moved or been removed proves nothing about the level.",
)
_SECOND_REFERENCE = StepTemplate(
    code="second_reference_count",
    phase="localization",
    text="A count from a second reference gives the same level",
    roles=(SURGEON, RADIOGRAPHER),
    evidence=("localization",),
    condition=CONDITION_VARIANT_ANATOMY,
    source="MHA 2011",
    help="With unusual anatomy, counting from the sacrum and from C2 or the last rib catches a one-level error.",
)
_CONTRAST_FLOW = StepTemplate(
    code="contrast_flow_confirmed",
    phase="localization",
    text="Contrast flow confirms the needle tip is at the target, not in a blood vessel or the dural sac",
    roles=(SURGEON,),
    evidence=("localization",),
    source="Rathmell 2015",
    help="Contrast shows where the medication will go; flow into a vessel or the dura means reposition first.",
)
_TROCAR_POSITION = StepTemplate(
    code="trocar_position_confirmed",
    phase="localization",
    text="Trocar is in the pedicle of the target vertebra on both front and side views",
    roles=(SURGEON, RADIOGRAPHER),
    evidence=("localization",),
    source="Universal Protocol",
    help="Two views together show both the level and a safe path before any cement is injected.",
)
_REIMAGED = StepTemplate(
    code="reimaged_after_exposure",
    phase="localization",
    text="Level is imaged again after exposure, with a marker on the exposed bone",
    roles=(SURGEON, RADIOGRAPHER),
    evidence=("localization",),
    source="MHA 2011",
    help="Skin markers shift with retraction; not re-imaging after exposure is a named cause of wrong-level surgery.",
)
_DURABLE_MARK = StepTemplate(
    code="durable_mark_placed",
    phase="localization",
    text="A durable mark is placed at the level before the marker is removed",
    roles=(SURGEON,),
    evidence=("durable_mark",),
    source="MHA 2011",
    help="Once the marker is out, only the durable mark still shows which level the image confirmed.",
)


def _localization_time_out(procedure: str) -> StepTemplate:
    evidence = ("localization", "durable_mark") if procedure in _OPEN else ("localization",)
    return StepTemplate(
        code="localization_time_out",
        phase="localization",
        text=f"Team confirms the level aloud before {_IRREVERSIBLE_STEP[procedure]}",
        roles=(SURGEON, NURSE),
        evidence=evidence,
        source="Mayer 2014",
        help="A second pause after the level image stops the case while a wrong level can still be corrected.",
    )


# --- Sign out: before the patient leaves the room ---------------------------------------------------

_PROCEDURE_RECORDED = StepTemplate(
    code="procedure_recorded",
    phase="sign_out",
    text="Nurse confirms the name of the procedure as recorded",
    roles=(NURSE,),
    source="WHO",
    help="The record must describe what was actually done, not what was booked.",
)
_TREATED_LEVELS = StepTemplate(
    code="treated_levels_recorded",
    phase="sign_out",
    text="The levels treated are recorded and match the plan",
    roles=(SURGEON, NURSE),
    evidence=("treated_levels",),
    source="WHO",
    help="A wrong level found now can be disclosed and treated today rather than discovered at follow-up.",
)
_COUNTS = StepTemplate(
    code="counts_correct",
    phase="sign_out",
    text="Instrument, sponge and needle counts are correct",
    roles=(NURSE,),
    source="WHO",
    help="An incorrect count means searching the wound and imaging before it is closed for good.",
)
_SPECIMEN_LABELLED = StepTemplate(
    code="specimen_labelled",
    phase="sign_out",
    text="Specimen is labelled, read aloud with the patient's name",
    roles=(NURSE,),
    source="WHO",
    help="A mislabelled specimen gives another patient's result.",
)
_EQUIPMENT_PROBLEMS = StepTemplate(
    code="equipment_problems_addressed",
    phase="sign_out",
    text="Any equipment problems are recorded to be fixed",
    roles=(NURSE,),
    source="WHO",
    help="A fault reported today does not reach the next patient.",
)
_RECOVERY_HANDOVER = StepTemplate(
    code="recovery_concerns_handed_over",
    phase="sign_out",
    text="Surgeon, anesthesia and nurse hand over key concerns for recovery",
    roles=_TEAM,
    source="WHO",
    help="Recovery staff need to know what to watch for, including new weakness or numbness in the legs.",
)


def _when(include: bool, *steps: StepTemplate) -> tuple[StepTemplate, ...]:
    return steps if include else ()


def _version_1(procedure: str, *, version: int = 1, identity: StepTemplate = _PATIENT_IDENTITY) -> ChecklistTemplate:
    injection = procedure in _INJECTIONS
    augmentation = procedure == _AUGMENTATION
    open_surgery = procedure in _OPEN
    sign_in = (
        identity,
        _CONSENT_SIGNED,
        _SITE_MARKED,
        _ANESTHESIA_CHECK,
        _ALLERGY_CONTRAST if injection or augmentation else _ALLERGY_OPEN,
        _AIRWAY_RISK,
        *_when(procedure in _BLOOD_LOSS_RISK, _BLOOD_LOSS),
        _PREOP_IMAGING,
        _ANATOMY_COUNTED,
    )
    time_out = (
        _TEAM_INTRODUCED,
        _CONFIRM_ALOUD,
        _PLAN_MATCHES_CONSENT,
        _MARK_VISIBLE,
        _IMAGES_DISPLAYED,
        _SURGEON_EVENTS_INJECTION if injection else _SURGEON_EVENTS_OPEN,
        _ANESTHESIA_EVENTS,
        _NURSING_EVENTS,
        _STERILITY,
        *_when(procedure in _ANTIBIOTICS, _ANTIBIOTICS_GIVEN),
        *_when(injection, _INJECTATE_LABELLED),
        *_when(procedure == "fusion", _IMPLANTS_AVAILABLE),
        *_when(augmentation, _AUGMENTATION_KIT),
        _CONUS_WARNING,
        _VARIANT_PLAN,
    )
    localization = (
        _LEVEL_IMAGE,
        _SECOND_REFERENCE,
        *_when(open_surgery, _REIMAGED, _DURABLE_MARK),
        *_when(injection, _CONTRAST_FLOW),
        *_when(augmentation, _TROCAR_POSITION),
        _localization_time_out(procedure),
    )
    sign_out = (
        _PROCEDURE_RECORDED,
        _TREATED_LEVELS,
        *_when(open_surgery, _COUNTS),
        *_when(procedure in _SPECIMEN, _SPECIMEN_LABELLED),
        _EQUIPMENT_PROBLEMS,
        _RECOVERY_HANDOVER,
    )
    return ChecklistTemplate(
        code=procedure,
        version=version,
        title=_TITLES[procedure],
        procedure=procedure,
        steps=(*sign_in, *time_out, *localization, *sign_out),
    )


def _version_2(procedure: str) -> ChecklistTemplate:
    """Version 1 with positive patient identification: the nurse scans the wristband."""
    return _version_1(procedure, version=2, identity=_PATIENT_IDENTITY_SCANNED)


def _index(templates: Iterable[ChecklistTemplate]) -> dict[str, dict[int, ChecklistTemplate]]:
    index: dict[str, dict[int, ChecklistTemplate]] = {}
    for template in templates:
        if template.procedure not in PROCEDURE_CODES:
            raise ValueError(
                MSG_INVALID_TEMPLATE.format(
                    code=template.code, version=template.version, problem="procedure is not in PROCEDURE_CODES"
                )
            )
        versions = index.setdefault(template.code, {})
        if template.version in versions:
            raise ValueError(
                MSG_INVALID_TEMPLATE.format(code=template.code, version=template.version, problem="shipped twice")
            )
        versions[template.version] = template
    return index


# Append new versions here; never edit or remove a shipped one (runs pin it, signatures bind to it).
_CATALOG: Final = _index(
    [
        *(_version_1(procedure) for procedure in PROCEDURE_CODES),
        *(_version_2(procedure) for procedure in PROCEDURE_CODES),
    ]
)


def _versions(code: str) -> dict[int, ChecklistTemplate]:
    try:
        return _CATALOG[code]
    except KeyError:
        raise KeyError(MSG_UNKNOWN_TEMPLATE.format(code=code, known=", ".join(_CATALOG))) from None


def latest_version(code: str) -> int:
    return max(_versions(code))


def get_template(code: str, version: int | None = None) -> ChecklistTemplate:
    """The template ``code`` at ``version``, or its latest version when ``version`` is None."""
    versions = _versions(code)
    wanted = max(versions) if version is None else version
    try:
        return versions[wanted]
    except KeyError:
        raise KeyError(
            MSG_UNKNOWN_VERSION.format(code=code, version=version, versions=", ".join(map(str, sorted(versions))))
        ) from None


def all_templates() -> list[ChecklistTemplate]:
    """Every version of every template, by procedure then version."""
    return [_CATALOG[code][version] for code in _CATALOG for version in sorted(_CATALOG[code])]
