"""Checklist templates as versioned data: content rules, filtering, lookup and immutability."""

from __future__ import annotations

import dataclasses
import json

import pytest

from checklist import templates_catalog as catalog
from checklist.access import roles
from checklist.templates_catalog import ChecklistTemplate, StepTemplate
from levelverify.check import PROCEDURES as LEVEL_CHECK_PROCEDURES

TEMPLATES = catalog.all_templates()
INJECTIONS = ("selective_nerve_root_block", "transforaminal_epidural_injection", "interlaminar_epidural_injection")
OPEN = ("decompression", "discectomy", "fusion")

by_template = pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: f"{t.code}-v{t.version}")

# Shipped content must never change: a run pinned to (code, version) and its signatures rely on it.
# If one of these fails, revert the edit and ship the change as the next version instead.
SHIPPED_FINGERPRINTS = {
    ("selective_nerve_root_block", 1): "a8b02676cbec1364f594e9881ad5a9d2f4fcd17102ca11565177e30b76ebe27e",
    ("transforaminal_epidural_injection", 1): "b42b063912e4f4e12e91e13db32c4a946bd609e38a14f650fa50fc592b8f105c",
    ("interlaminar_epidural_injection", 1): "fcd7fbfb0fa27fb1dc29c472a97fb7e69812d0b03805d26bf2c734d9f7745595",
    ("vertebral_augmentation", 1): "9949c5fb1f9055b71e7358e73fc249c132ecf96709f1dab35427c2e002bc00b9",
    ("decompression", 1): "e78236c954ab1bf88a4d43d5f6e32d600dca16e6288495342e747210f601561f",
    ("discectomy", 1): "b15ef381554696019ecb97ab8b40ea99472bb68d993937359fdfeb750a88df00",
    ("fusion", 1): "66232e940a660279a9aa80ef7bdf81eefa2752d864aa691c621fc380e61abfc6",
    ("selective_nerve_root_block", 2): "298a99da8b8f9bbbd3cb64b9cb23d02bc4b210f02422d96fb57e7d85ba284e57",
    ("transforaminal_epidural_injection", 2): "3bd1d06ec65866b2427a54a138f75c0965dc84d25717d88fa84545eb4e54a774",
    ("interlaminar_epidural_injection", 2): "2f878ac85216217806372ca32f9416ca9bdd3b3b6d5f2f31e15aa9ae55c3bc53",
    ("vertebral_augmentation", 2): "4c9184379f6359d54db848396357491a7720063a9734aacd5e34e51be1054fc4",
    ("decompression", 2): "d846818359b527fe07ebe5fbd5a7ec165230af1332bab0df88910d657a541aad",
    ("discectomy", 2): "3836b9a4b330a00b81fc63664181dab24f95e589c898b0f162c298db89f54281",
    ("fusion", 2): "cafe003561c02d6e4d0a0c122a0faf10e49def02ceffef9098339487a50515c7",
}


def codes(template: ChecklistTemplate) -> set[str]:
    return {step.code for step in template.steps}


def a_step(**overrides: object) -> StepTemplate:
    fields: dict[str, object] = {"code": "a_step", "phase": "sign_in", "text": "Something", "roles": ("nurse",)}
    fields.update(overrides)
    return StepTemplate(**fields)  # type: ignore[arg-type]


# --- Catalog coverage ---------------------------------------------------------------------------------


def test_procedure_codes_are_the_level_checks_procedures() -> None:
    assert catalog.PROCEDURE_CODES == LEVEL_CHECK_PROCEDURES


@pytest.mark.parametrize("procedure", catalog.PROCEDURE_CODES)
def test_every_procedure_has_a_version_1_template(procedure: str) -> None:
    template = catalog.get_template(procedure, 1)
    assert template.code == template.procedure == procedure
    assert template.version == 1
    assert template.title


def test_all_templates_lists_each_version_once_in_procedure_order() -> None:
    keys = [(t.code, t.version) for t in TEMPLATES]
    assert keys == [(procedure, version) for procedure in catalog.PROCEDURE_CODES for version in (1, 2)]


@pytest.mark.parametrize("procedure", catalog.PROCEDURE_CODES)
def test_version_2_identifies_the_patient_by_a_wristband_scan(procedure: str) -> None:
    v1, v2 = catalog.get_template(procedure, 1), catalog.get_template(procedure, 2)
    assert catalog.latest_version(procedure) == 2
    identity = v2.step("patient_identity_scanned")
    assert identity.phase == "sign_in" and identity.scan_role == roles.NURSE
    assert identity.attested_by_scan(roles.NURSE) and not identity.attested_by_scan(roles.ANESTHESIA)
    assert "patient_identity_confirmed" not in codes(v2)
    # Everything else is version 1's, step for step.
    assert [s for s in v1.steps if s.code != "patient_identity_confirmed"] == [
        s for s in v2.steps if s.code != "patient_identity_scanned"
    ]
    assert all(step.scan_role is None for step in v1.steps)


def test_a_scan_role_must_be_one_of_the_attesting_roles() -> None:
    with pytest.raises(ValueError, match="scan role 'anesthesia' is not among the roles"):
        a_step(roles=("nurse",), scan_role="anesthesia")


def test_phases_and_labels() -> None:
    assert catalog.PHASES == ("sign_in", "time_out", "localization", "sign_out")
    assert catalog.PHASE_LABELS == {
        "sign_in": "Sign in",
        "time_out": "Time-out",
        "localization": "Localization",
        "sign_out": "Sign out",
    }


def test_only_clinical_roles_attest() -> None:
    assert set(catalog.ATTESTING_ROLES) == {roles.NURSE, roles.SURGEON, roles.ANESTHESIA, roles.RADIOGRAPHER}
    assert roles.QUALITY_OFFICER not in catalog.ATTESTING_ROLES
    assert roles.ADMIN not in catalog.ATTESTING_ROLES


# --- Structure of every template ------------------------------------------------------------------------


@by_template
def test_step_codes_are_unique_and_snake_case(template: ChecklistTemplate) -> None:
    step_codes = [step.code for step in template.steps]
    assert len(step_codes) == len(set(step_codes))
    for code in step_codes:
        assert code == code.lower()
        assert " " not in code
        assert "-" not in code


@by_template
def test_steps_are_in_phase_order_and_every_phase_has_a_step(template: ChecklistTemplate) -> None:
    phase_positions = [catalog.PHASES.index(step.phase) for step in template.steps]
    assert phase_positions == sorted(phase_positions)
    for phase in catalog.PHASES:
        assert template.steps_for(phase, variant_anatomy=False, near_conus=False), phase


@by_template
def test_roles_evidence_and_conditions_are_valid(template: ChecklistTemplate) -> None:
    for step in template.steps:
        assert step.roles, step.code
        assert len(step.roles) == len(set(step.roles)), step.code
        assert set(step.roles) <= set(catalog.ATTESTING_ROLES), step.code
        assert set(step.evidence) <= set(catalog.EVIDENCE_KEYS), step.code
        assert step.condition in (None, "variant_anatomy", "conus"), step.code


@by_template
def test_every_step_has_plain_text_help_and_a_source(template: ChecklistTemplate) -> None:
    for step in template.steps:
        assert step.text.strip() and len(step.text) <= 110, step.code
        assert not step.text.endswith("."), step.code
        assert step.source, step.code
        assert step.help.endswith("."), step.code
        assert step.help.count(". ") == 0, f"{step.code}: help should be one sentence"
        assert len(step.help) <= 120, step.code


@by_template
def test_sign_in_is_done_by_nurse_and_anesthesia_without_the_surgeon(template: ChecklistTemplate) -> None:
    sign_in = template.steps_for("sign_in", variant_anatomy=True, near_conus=True)
    attesting = {role for step in sign_in for role in step.roles}
    assert {roles.NURSE, roles.ANESTHESIA} <= attesting
    assert roles.SURGEON not in attesting


@by_template
def test_time_out_has_a_step_the_surgeon_anesthesia_and_nurse_all_attest(template: ChecklistTemplate) -> None:
    team = {roles.SURGEON, roles.ANESTHESIA, roles.NURSE}
    time_out = template.steps_for("time_out", variant_anatomy=False, near_conus=False)
    confirm = template.step("team_confirms_patient_level_side")
    assert confirm in time_out
    assert team <= set(confirm.roles)
    assert {"plan_signed", "consent", "marking"} <= set(confirm.evidence)


@by_template
def test_common_protocol_items_are_in_every_template(template: ChecklistTemplate) -> None:
    expected = {
        "sign_in": {
            "patient_identity_confirmed" if template.version == 1 else "patient_identity_scanned",
            "consent_signed",
            "site_marked",
            "anesthesia_safety_check",
            "known_allergy",
            "airway_aspiration_risk",
            "preop_imaging_available",
            "vertebral_anatomy_recorded",
        },
        "time_out": {
            "team_introduced",
            "team_confirms_patient_level_side",
            "plan_matches_consent",
            "images_displayed",
            "critical_events_surgeon",
            "critical_events_anesthesia",
            "critical_events_nursing",
            "sterility_confirmed",
            "conus_warning_acknowledged",
            "variant_anatomy_discussed",
        },
        "localization": {"level_image_read", "second_reference_count", "localization_time_out"},
        "sign_out": {
            "procedure_recorded",
            "treated_levels_recorded",
            "equipment_problems_addressed",
            "recovery_concerns_handed_over",
        },
    }
    for phase, step_codes in expected.items():
        assert {template.step(code).phase for code in step_codes} == {phase}


def test_every_evidence_key_is_used_by_some_template() -> None:
    used = {key for template in TEMPLATES for step in template.steps for key in step.evidence}
    assert used == set(catalog.EVIDENCE_KEYS)


@by_template
def test_evidence_gates_the_steps_that_rely_on_it(template: ChecklistTemplate) -> None:
    assert "consent" in template.step("consent_signed").evidence
    assert "marking" in template.step("site_marked").evidence
    assert "preop_imaging" in template.step("preop_imaging_available").evidence
    assert "anatomy" in template.step("vertebral_anatomy_recorded").evidence
    assert "localization" in template.step("level_image_read").evidence
    assert "localization" in template.step("second_reference_count").evidence
    assert "localization" in template.step("localization_time_out").evidence
    assert "treated_levels" in template.step("treated_levels_recorded").evidence


# --- Conditions -------------------------------------------------------------------------------------------


@by_template
def test_steps_for_shows_the_conus_step_only_near_the_conus(template: ChecklistTemplate) -> None:
    def time_out(near_conus: bool) -> set[str]:
        return {s.code for s in template.steps_for("time_out", variant_anatomy=False, near_conus=near_conus)}

    assert "conus_warning_acknowledged" in time_out(near_conus=True)
    assert "conus_warning_acknowledged" not in time_out(near_conus=False)
    conus = template.step("conus_warning_acknowledged")
    assert conus.condition == "conus"
    assert {roles.SURGEON, roles.NURSE} <= set(conus.roles)


@by_template
def test_steps_for_shows_variant_anatomy_steps_only_with_variant_anatomy(template: ChecklistTemplate) -> None:
    variant = {step.code for step in template.steps if step.condition == "variant_anatomy"}
    assert variant == {"variant_anatomy_discussed", "second_reference_count"}
    for phase in catalog.PHASES:
        shown = {s.code for s in template.steps_for(phase, variant_anatomy=True, near_conus=False)}
        hidden = {s.code for s in template.steps_for(phase, variant_anatomy=False, near_conus=True)}
        assert not hidden & variant
        assert shown & variant == {s.code for s in template.steps if s.phase == phase} & variant
    assert template.step("second_reference_count").roles == (roles.SURGEON, roles.RADIOGRAPHER)
    assert template.step("variant_anatomy_discussed").roles == (roles.SURGEON, roles.RADIOGRAPHER)


@by_template
def test_applicable_steps_are_the_phases_in_order(template: ChecklistTemplate) -> None:
    for variant_anatomy in (False, True):
        for near_conus in (False, True):
            flags = {"variant_anatomy": variant_anatomy, "near_conus": near_conus}
            by_phase = tuple(step for phase in catalog.PHASES for step in template.steps_for(phase, **flags))
            assert template.applicable_steps(**flags) == by_phase
    assert template.applicable_steps(variant_anatomy=True, near_conus=True) == template.steps
    unconditional = tuple(step for step in template.steps if step.condition is None)
    assert template.applicable_steps(variant_anatomy=False, near_conus=False) == unconditional


def test_steps_for_rejects_an_unknown_phase() -> None:
    with pytest.raises(ValueError, match="time_in"):
        TEMPLATES[0].steps_for("time_in", variant_anatomy=False, near_conus=False)


# --- Procedure-specific content ---------------------------------------------------------------------------


@pytest.mark.parametrize("procedure", INJECTIONS)
def test_injections_have_no_blood_loss_count_or_open_surgery_items(procedure: str) -> None:
    template = catalog.get_template(procedure)
    assert not codes(template) & {
        "blood_loss_risk",
        "counts_correct",
        "antibiotic_prophylaxis",
        "reimaged_after_exposure",
        "durable_mark_placed",
        "specimen_labelled",
        "implants_available",
    }
    assert {"contrast_flow_confirmed", "injectate_checked"} <= codes(template)
    assert "contrast" in template.step("known_allergy").text
    assert "injected" in template.step("localization_time_out").text


def test_fusion_has_blood_loss_counts_antibiotics_implants_and_re_imaging() -> None:
    fusion = catalog.get_template("fusion")
    assert {
        "blood_loss_risk",
        "counts_correct",
        "antibiotic_prophylaxis",
        "implants_available",
        "reimaged_after_exposure",
        "durable_mark_placed",
    } <= codes(fusion)
    assert not codes(fusion) & {"contrast_flow_confirmed", "injectate_checked", "specimen_labelled"}
    assert "screw" in fusion.step("localization_time_out").text


@pytest.mark.parametrize("procedure", OPEN)
def test_open_procedures_re_image_and_mark_before_the_localization_time_out(procedure: str) -> None:
    template = catalog.get_template(procedure)
    localization = [s.code for s in template.steps_for("localization", variant_anatomy=True, near_conus=False)]
    assert localization == [
        "level_image_read",
        "second_reference_count",
        "reimaged_after_exposure",
        "durable_mark_placed",
        "localization_time_out",
    ]
    assert template.step("durable_mark_placed").evidence == ("durable_mark",)
    assert "durable_mark" in template.step("localization_time_out").evidence
    assert "counts_correct" in codes(template)
    assert "bone" in template.step("localization_time_out").text


def test_vertebral_augmentation_checks_the_kit_and_cement() -> None:
    template = catalog.get_template("vertebral_augmentation")
    assert {"blood_loss_risk", "antibiotic_prophylaxis", "augmentation_kit_available"} <= codes(template)
    assert {"trocar_position_confirmed"} <= codes(template)
    assert "cement" in template.step("localization_time_out").text
    assert not codes(template) & {"counts_correct", "contrast_flow_confirmed", "implants_available"}


def test_specimens_are_labelled_only_where_tissue_is_removed() -> None:
    with_specimen = {t.code for t in TEMPLATES if "specimen_labelled" in codes(t)}
    assert with_specimen == {"discectomy", "decompression"}


@by_template
def test_the_localization_time_out_is_the_last_step_before_the_irreversible_step(template: ChecklistTemplate) -> None:
    localization = template.steps_for("localization", variant_anatomy=True, near_conus=True)
    assert localization[-1].code == "localization_time_out"
    assert localization[-1].source == "Mayer 2014"
    assert {roles.SURGEON, roles.NURSE} <= set(localization[-1].roles)


# --- Lookup and versions --------------------------------------------------------------------------------


def test_get_template_returns_the_latest_version_or_the_one_asked_for() -> None:
    assert catalog.latest_version("fusion") == 2
    assert catalog.get_template("fusion") is catalog.get_template("fusion", 2)
    assert catalog.get_template("fusion", 1).version == 1


def test_unknown_code_raises_key_error_naming_it() -> None:
    with pytest.raises(KeyError, match="cervical_fusion"):
        catalog.get_template("cervical_fusion")
    with pytest.raises(KeyError, match="cervical_fusion"):
        catalog.latest_version("cervical_fusion")


def test_unknown_version_raises_key_error_naming_code_and_version() -> None:
    with pytest.raises(KeyError, match=r"'discectomy' has no version 7"):
        catalog.get_template("discectomy", 7)


def test_step_lookup() -> None:
    template = catalog.get_template("discectomy")
    assert template.step("site_marked").phase == "sign_in"
    with pytest.raises(KeyError, match=r"'discectomy' version 2 has no step 'no_such_step'"):
        template.step("no_such_step")


def test_a_new_version_does_not_change_runs_pinned_to_the_old_one(monkeypatch: pytest.MonkeyPatch) -> None:
    v2 = catalog.get_template("fusion")
    v3 = dataclasses.replace(v2, version=3, steps=(*v2.steps[:-1], a_step(code="extra", phase="sign_out")))
    monkeypatch.setattr(catalog, "_CATALOG", catalog._index([*catalog.all_templates(), v3]))
    assert catalog.latest_version("fusion") == 3
    assert catalog.get_template("fusion") is v3
    assert catalog.get_template("fusion", 2) is v2
    assert catalog.get_template("fusion", 2).fingerprint == v2.fingerprint != v3.fingerprint
    assert [t.version for t in catalog.all_templates() if t.code == "fusion"] == [1, 2, 3]


def test_the_catalog_rejects_a_version_shipped_twice_or_an_unknown_procedure() -> None:
    fusion = catalog.get_template("fusion")
    with pytest.raises(ValueError, match="shipped twice"):
        catalog._index([fusion, fusion])
    other = dataclasses.replace(fusion, code="cervical_fusion", procedure="cervical_fusion")
    with pytest.raises(ValueError, match="PROCEDURE_CODES"):
        catalog._index([other])


@by_template
def test_shipped_versions_are_unchanged(template: ChecklistTemplate) -> None:
    assert template.fingerprint == SHIPPED_FINGERPRINTS[(template.code, template.version)], (
        f"{template.code} v{template.version} was edited after shipping; add version {template.version + 1} instead"
    )


@by_template
def test_templates_serialise_to_json(template: ChecklistTemplate) -> None:
    data = json.loads(json.dumps(template.to_dict()))
    assert data["code"] == template.code
    assert [step["code"] for step in data["steps"]] == [step.code for step in template.steps]


# --- Immutability and validation ----------------------------------------------------------------------------


def test_templates_and_steps_are_frozen() -> None:
    template = catalog.get_template("fusion")
    with pytest.raises(dataclasses.FrozenInstanceError):
        template.version = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        template.steps[0].text = "Anything goes"  # type: ignore[misc]
    assert isinstance(template.steps, tuple)
    assert all(isinstance(step.roles, tuple) and isinstance(step.evidence, tuple) for step in template.steps)


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"code": "Bad Code"}, "snake_case"),
        ({"phase": "debrief"}, "phase 'debrief'"),
        ({"text": "  "}, "text is empty"),
        ({"roles": ()}, "at least one role"),
        ({"roles": ("nurse", "nurse")}, "listed twice"),
        ({"roles": ("quality_officer",)}, "cannot attest"),
        ({"roles": ("admin",)}, "cannot attest"),
        ({"evidence": ("x_ray",)}, "x_ray"),
        ({"condition": "obesity"}, "obesity"),
    ],
)
def test_invalid_steps_are_rejected(overrides: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        a_step(**overrides)


def test_invalid_templates_are_rejected() -> None:
    fusion = catalog.get_template("fusion")
    with pytest.raises(ValueError, match="repeated"):
        dataclasses.replace(fusion, steps=(fusion.steps[0], *fusion.steps))
    with pytest.raises(ValueError, match="phase order"):
        dataclasses.replace(fusion, steps=(*fusion.steps[1:], fusion.steps[0]))
    with pytest.raises(ValueError, match="have no step"):
        dataclasses.replace(fusion, steps=tuple(s for s in fusion.steps if s.phase != "localization"))
    with pytest.raises(ValueError, match="procedure code"):
        dataclasses.replace(fusion, code="spinal_fusion")
    with pytest.raises(ValueError, match="version"):
        dataclasses.replace(fusion, version=0)
