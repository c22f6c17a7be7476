"""A FHIR R4 Bundle (type ``collection``) for one case: Patient, the Practitioners involved,
Procedure (body site and laterality), Consent (scope treatment), QuestionnaireResponse (the
checklist answers), one Provenance per e-signature and one AuditEvent per audit event of the case.

Codes: SNOMED CT only where ``shared/design/domain.md`` gives a verified code, i.e. the laterality
qualifiers 7771000 (left), 24028007 (right) and 51440002 (bilateral). Body sites (vertebrae, discs,
nerve roots) are sent as text: no verified codes exist for the discs and roots, and the one for the
L2 vertebra (14293000) was seen in a single published example only, so it is not used until
verified. The other codes are FHIR's own code systems (consent scope, identifier type, signature
type, audit event type and source type; access events use FHIR's ``rest``/``read`` and DICOM's
110106 Export and 110114 User Authentication).

The Bundle is deterministic: resource ids, fullUrls (name-based UUIDs) and the timestamp (the last
audit event) depend only on the records, so the API and ``manage.py export_fhir`` give the same JSON.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import uuid
from typing import Any

from checklist import audit
from checklist.audit.catalogue import AuditAction
from checklist.level_check import current_evidence
from checklist.models import AuditEvent, Case, CaseState, Signature, User
from checklist.selectors import case_signatures, checklist_status, checklist_template
from checklist.selectors.tablet import target_of
from checklist.templates_catalog import PHASE_LABELS, PHASES
from quality.image_records import ImageRecord, image_records

SNOMED = "http://snomed.info/sct"
LATERALITY = {
    "left": ("7771000", "Left"),
    "right": ("24028007", "Right"),
    "bilateral": ("51440002", "Right and left"),
}
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
SIGNATURE_TYPE = "urn:iso-astm:E1762-95:2013"
SIGNATURE_TYPES = {
    "approved plan": ("1.2.840.10065.1.12.1.1", "Author's Signature"),
    "confirmed level": ("1.2.840.10065.1.12.1.5", "Verification Signature"),
}
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
AUDIT_SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
TARGET_BODY_STRUCTURE = "http://hl7.org/fhir/StructureDefinition/procedure-targetBodyStructure"
# The level image a localization was counted on (imaging app): an ImagingStudy of the bundle.
LOCALIZATION_IMAGE = "urn:rightlevel:fhir:StructureDefinition/localization-image"
DICOM_UID = "urn:dicom:uid"
SOP_CLASS_SYSTEM = "urn:ietf:rfc:3986"
# Local systems for RightLevel's own identifiers (a site replaces them with its own URIs).
MRN_SYSTEM = "urn:rightlevel:mrn"
USERNAME_SYSTEM = "urn:rightlevel:username"
CASE_SYSTEM = "urn:rightlevel:case"
ACTION_SYSTEM = "urn:rightlevel:audit-action"
HASH_SYSTEM = "urn:rightlevel:sha256"
NAMESPACE = uuid.UUID("7d2f4c1e-5b1a-4a8e-9d3c-2f6a1b0e8c47")
UPDATE_ACTIONS = (
    AuditAction.CASE_STATE_CHANGED,
    AuditAction.STEP_VOIDED,
    AuditAction.LOCALIZATION_SUPERSEDED,
    AuditAction.LOCALIZATION_WITHDRAWN,
)
AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"
PATIENT_RECORD = {"system": DICOM, "code": "110110", "display": "Patient Record"}
# Access events (checklist.services.record_access): type, extra subtype, FHIR action, outcome.
ACCESS_TYPES: dict[str, tuple[dict[str, str], dict[str, str] | None, str, str]] = {
    AuditAction.ACCESS_CASE_OPENED: (
        {"system": AUDIT_EVENT_TYPE, "code": "rest", "display": "RESTful Operation"},
        {"system": RESTFUL_INTERACTION, "code": "read", "display": "read"},
        "R",
        "0",
    ),
    AuditAction.ACCESS_EXPORTED: ({"system": DICOM, "code": "110106", "display": "Export"}, None, "R", "0"),
    AuditAction.ACCESS_SIGNED_IN: (
        {"system": DICOM, "code": "110114", "display": "User Authentication"},
        {"system": DICOM, "code": "110122", "display": "Login"},
        "E",
        "0",
    ),
    AuditAction.ACCESS_SIGN_IN_FAILED: (
        {"system": DICOM, "code": "110114", "display": "User Authentication"},
        {"system": DICOM, "code": "110122", "display": "Login"},
        "E",
        "4",
    ),
    AuditAction.ACCESS_SIGNED_OUT: (
        {"system": DICOM, "code": "110114", "display": "User Authentication"},
        {"system": DICOM, "code": "110123", "display": "Logout"},
        "E",
        "0",
    ),
}


def audit_event_coding(action: str) -> dict[str, Any]:
    """The AuditEvent's type, subtypes, action and outcome for one of RightLevel's actions."""
    subtypes = [{"system": ACTION_SYSTEM, "code": action}]
    access = ACCESS_TYPES.get(action)
    if access is None:
        return {"type": PATIENT_RECORD, "subtype": subtypes, "action": "U" if action in UPDATE_ACTIONS else "C"}
    event_type, subtype, fhir_action, outcome = access
    return {
        "type": event_type,
        "subtype": ([subtype] if subtype else []) + subtypes,
        "action": fhir_action,
        "outcome": outcome,
    }


def _instant(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _url(kind: str, key: Any) -> str:
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, f'rightlevel/{kind}/{key}')}"


def _ref(kind: str, key: Any, display: str = "") -> dict[str, Any]:
    ref: dict[str, Any] = {"reference": _url(kind, key)}
    if display:
        ref["display"] = display
    return ref


def _entry(kind: str, key: Any, resource: dict[str, Any]) -> dict[str, Any]:
    return {"fullUrl": _url(kind, key), "resource": resource}


def _practitioner(user: User) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Practitioner",
        "id": f"user-{user.pk}",
        "identifier": [{"system": USERNAME_SYSTEM, "value": user.username}],
        "name": [{"text": user.full_name or user.username}],
    }
    return resource


def _network(client: str) -> dict[str, Any]:
    """The client's address (the audit's ``client`` is "<address> <user agent>")."""
    address = client.split(" ", 1)[0] if client else ""
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return {}  # a task or a command, not a network client
    return {"network": {"address": address, "type": "2"}}


def laterality(side: str) -> dict[str, Any]:
    """The side as a CodeableConcept: SNOMED CT for left, right and bilateral; text for midline."""
    concept: dict[str, Any] = {"text": side}
    if side in LATERALITY:
        code, display = LATERALITY[side]
        concept["coding"] = [{"system": SNOMED, "code": code, "display": display}]
    return concept


def _procedure_status(case: Case) -> str:
    if case.state == CaseState.CANCELLED:
        return "not-done"
    if case.signed_out_at is not None or case.state == CaseState.COMPLETED:
        return "completed"
    if case.patient_in_room_at is not None:
        return "in-progress"
    return "preparation"


def _imaging_studies(
    records: list[ImageRecord], patient_ref: dict[str, Any], procedure_ref: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """One ImagingStudy per DICOM study the localizations were counted on, with its series and
    instances by UID, pointing at the case's Procedure."""
    studies: dict[str, dict[str, Any]] = {}
    for record in records:
        study = studies.setdefault(
            record.study_instance_uid,
            {
                "resourceType": "ImagingStudy",
                "id": f"study-{len(studies) + 1}",
                "identifier": [{"system": DICOM_UID, "value": f"urn:oid:{record.study_instance_uid}"}],
                "status": "available",
                "subject": patient_ref,
                "procedureReference": procedure_ref,
                "series": [],
            },
        )
        if record.acquired_at is not None and (
            "started" not in study or _instant(record.acquired_at) < study["started"]
        ):
            study["started"] = _instant(record.acquired_at)
        series = next((s for s in study["series"] if s["uid"] == record.series_instance_uid), None)
        if series is None:
            series = {
                "uid": record.series_instance_uid,
                "modality": {"system": DICOM, "code": record.modality or "OT"},
                "instance": [],
            }
            study["series"].append(series)
        if all(i["uid"] != record.sop_instance_uid for i in series["instance"]):
            series["instance"].append(
                {
                    "uid": record.sop_instance_uid,
                    "sopClass": {"system": SOP_CLASS_SYSTEM, "code": f"urn:oid:{record.sop_class_uid}"},
                    "number": record.frame,
                }
            )
    for study in studies.values():
        study["numberOfSeries"] = len(study["series"])
        study["numberOfInstances"] = sum(len(s["instance"]) for s in study["series"])
    return studies


def fhir_bundle(case: Case) -> dict[str, Any]:
    """The case as a FHIR R4 Bundle (plain JSON-ready dict)."""
    patient = case.patient
    evidence = current_evidence(case)
    target = target_of(case)
    plan = evidence.plan
    side = (target or {}).get("side") or (plan.side if plan else "")
    site_text = (target or {}).get("display") or (f"{plan.levels} {plan.side}" if plan else "")
    patient_ref = _ref("Patient", patient.pk, f"{patient.family_name.upper()}, {patient.given_name}")
    procedure_ref = _ref("Procedure", case.pk, case.get_procedure_display())
    entries: list[dict[str, Any]] = []
    people: dict[int, User] = {case.surgeon.pk: case.surgeon}
    if case.anesthesia is not None:
        people[case.anesthesia.pk] = case.anesthesia

    entries.append(
        _entry(
            "Patient",
            patient.pk,
            {
                "resourceType": "Patient",
                "id": f"patient-{patient.pk}",
                "identifier": [
                    {
                        "use": "usual",
                        "type": {"coding": [{"system": IDENTIFIER_TYPE, "code": "MR"}], "text": "MRN"},
                        "system": MRN_SYSTEM,
                        "value": patient.mrn,
                    }
                ],
                "name": [{"family": patient.family_name, "given": [patient.given_name]}],
                "birthDate": patient.date_of_birth.isoformat(),
            },
        )
    )

    # --- Procedure, with the target as text and the side as a coded qualifier ---------------------
    body_structure: dict[str, Any] = {
        "resourceType": "BodyStructure",
        "id": "target",
        "description": site_text or "target not planned yet",
        "patient": patient_ref,
    }
    if site_text:
        body_structure["location"] = {"text": site_text}
    if side:
        body_structure["locationQualifier"] = [laterality(side)]
    notes = []
    images = image_records(case)
    for loc in evidence.localizations:
        image = images.get(loc.pk)
        notes.append(
            f"Level image ({loc.get_phase_display().lower()}): count {loc.count} from the "
            f"{loc.get_reference_display().lower()} = {loc.label}; marker "
            f"{'in place' if loc.marker_in_place else 'removed'}"
            + (f"; image SOP Instance UID {image.sop_instance_uid}." if image else ".")
        )
    if case.treated_levels:
        notes.append(f"Levels treated: {case.treated_levels}.")
    procedure: dict[str, Any] = {
        "resourceType": "Procedure",
        "id": f"case-{case.pk}",
        "contained": [body_structure],
        "extension": [{"url": TARGET_BODY_STRUCTURE, "valueReference": {"reference": "#target"}}],
        "identifier": [{"system": CASE_SYSTEM, "value": str(case.pk)}],
        "status": _procedure_status(case),
        "code": {"text": case.get_procedure_display()},
        "subject": patient_ref,
        "performer": [
            {"function": {"text": "surgeon"}, "actor": _ref("Practitioner", case.surgeon.pk, case.surgeon.full_name)}
        ],
        "location": {"display": case.room.name},
    }
    if case.anesthesia is not None:
        procedure["performer"].append(
            {
                "function": {"text": "anesthesia"},
                "actor": _ref("Practitioner", case.anesthesia.pk, case.anesthesia.full_name),
            }
        )
    if site_text:
        body_site: dict[str, Any] = {"text": site_text}
        if side in LATERALITY:
            # The side, coded, on the body site too, for readers that ignore the BodyStructure.
            body_site["coding"] = laterality(side)["coding"]
        procedure["bodySite"] = [body_site]
    start = case.patient_in_room_at or case.time_out_completed_at
    if start is not None:
        procedure["performedPeriod"] = {"start": _instant(start)}
        end = case.procedure_ended_at or case.signed_out_at
        if end is not None:
            procedure["performedPeriod"]["end"] = _instant(end)
    if notes:
        procedure["note"] = [{"text": " ".join(notes)}]
    counted_on = [images[loc.pk] for loc in evidence.localizations if loc.pk in images]
    studies = _imaging_studies(counted_on, patient_ref, procedure_ref)
    for study_uid in studies:
        procedure["extension"].append(
            {"url": LOCALIZATION_IMAGE, "valueReference": _ref("ImagingStudy", study_uid, "Level image")}
        )
    entries.append(_entry("Procedure", case.pk, procedure))
    entries.extend(_entry("ImagingStudy", uid, study) for uid, study in studies.items())

    # --- Consent -----------------------------------------------------------------------------------
    consent = evidence.consent
    if consent is not None:
        entries.append(
            _entry(
                "Consent",
                consent.pk,
                {
                    "resourceType": "Consent",
                    "id": f"consent-{consent.pk}",
                    "status": "active",
                    "scope": {"coding": [{"system": CONSENT_SCOPE, "code": "treatment"}], "text": "treatment"},
                    "category": [{"text": "Consent to a spine procedure"}],
                    "patient": patient_ref,
                    "dateTime": consent.date_signed.isoformat(),
                    "policyRule": {"text": "Signed procedure consent, witnessed"},
                    "provision": {
                        "type": "permit",
                        "code": [
                            {
                                "text": f"{consent.get_procedure_display()} at {consent.levels}, {consent.side}",
                            }
                        ],
                    },
                    "verification": [
                        {"verified": True, "verificationDate": _instant(consent.recorded_at)},
                    ],
                },
            )
        )

    # --- QuestionnaireResponse: the checklist ------------------------------------------------------
    steps = checklist_status(case)
    template = checklist_template(case)
    groups = []
    last_attested: dt.datetime | None = None
    for phase in PHASES:
        items = []
        for step in (s for s in steps if s.phase == phase):
            attested = []
            for role, info in step.attested_by.items():
                last_attested = max(filter(None, [last_attested, info["at"]]))
                attested.append(
                    {
                        "linkId": f"{step.code}.{role}",
                        "text": f"Attested by the {role}",
                        "answer": [{"valueString": f"{info['name']} ({info['user']}) at {_instant(info['at'])}"}],
                    }
                )
            answer: dict[str, Any] = {"valueBoolean": step.complete}
            if attested:
                answer["item"] = attested
            items.append({"linkId": step.code, "text": step.text, "answer": [answer]})
        if items:
            groups.append({"linkId": phase, "text": PHASE_LABELS[phase], "item": items})
    run = case.checklist_run
    questionnaire_response: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": f"checklist-{case.pk}",
        "questionnaire": f"urn:rightlevel:checklist:{template.code}|{template.version}",
        "status": "completed" if case.signed_out_at else "in-progress",
        "subject": patient_ref,
        "authored": _instant(last_attested or run.started_at),
        "item": groups,
    }
    entries.append(_entry("QuestionnaireResponse", case.pk, questionnaire_response))

    # --- Provenance: one per e-signature -----------------------------------------------------------
    signatures: list[Signature] = case_signatures(case)
    for sig in signatures:
        people[sig.signer.pk] = sig.signer
        code, display = SIGNATURE_TYPES.get(sig.meaning, ("1.2.840.10065.1.12.1.1", "Author's Signature"))
        signer = _ref("Practitioner", sig.signer.pk, sig.printed_name)
        entries.append(
            _entry(
                "Provenance",
                sig.pk,
                {
                    "resourceType": "Provenance",
                    "id": f"signature-{sig.pk}",
                    "target": [procedure_ref],
                    "recorded": _instant(sig.signed_at),
                    "activity": {"text": sig.meaning},
                    "agent": [{"type": {"text": sig.signer_role or "signer"}, "who": signer}],
                    "entity": [
                        {
                            "role": "source",
                            "what": {
                                "identifier": {"system": HASH_SYSTEM, "value": sig.content_hash},
                                "display": f"{sig.subject_type} {sig.subject_id} as signed"
                                + ("" if getattr(sig, "valid", True) else " (content changed since: INVALID)"),
                            },
                        }
                    ],
                    "signature": [
                        {
                            "type": [{"system": SIGNATURE_TYPE, "code": code, "display": display}],
                            "when": _instant(sig.signed_at),
                            "who": signer,
                        }
                    ],
                },
            )
        )

    # --- AuditEvent: the case's trail ----------------------------------------------------------------
    events = AuditEvent.objects.defer("canonical").filter(chain=audit.case_chain(case.pk)).order_by("seq")
    last_event_at: dt.datetime | None = None
    for event in events.iterator(chunk_size=500):
        last_event_at = event.at
        who: dict[str, Any] = {"display": event.actor_name or event.actor_username or "RightLevel (system)"}
        if event.actor_username:
            who["identifier"] = {"system": USERNAME_SYSTEM, "value": event.actor_username}
        details = [{"type": "event_hash", "valueString": event.event_hash}]
        details.append({"type": "prev_hash", "valueString": event.prev_hash})
        for label, value in (("before", event.before), ("after", event.after)):
            if value is not None:
                details.append({"type": label, "valueString": json.dumps(value, sort_keys=True, ensure_ascii=False)})
        if event.reason:
            details.append({"type": "reason", "valueString": event.reason})
        entries.append(
            _entry(
                "AuditEvent",
                event.pk,
                {
                    "resourceType": "AuditEvent",
                    "id": f"audit-{event.pk}",
                    "outcome": "0",
                    **audit_event_coding(event.action),
                    "recorded": _instant(event.at),
                    "agent": [
                        {
                            "type": {"text": event.actor_role or "system"},
                            "who": who,
                            "requestor": event.actor_id is not None,
                            **_network(event.client),
                        }
                    ],
                    "source": {
                        "site": "RightLevel",
                        "observer": {"display": "RightLevel"},
                        "type": [{"system": AUDIT_SOURCE_TYPE, "code": "4", "display": "Application Server"}],
                    },
                    "entity": [
                        {
                            "what": procedure_ref,
                            "name": f"{event.chain} #{event.seq}",
                            "description": f"{event.object_type} {event.object_id}".strip() or event.action,
                            "detail": details,
                        }
                    ],
                },
            )
        )

    practitioners = [_entry("Practitioner", pk, _practitioner(user)) for pk, user in sorted(people.items())]
    entries[1:1] = practitioners  # after the Patient, before the Procedure that refers to them
    timestamp = last_event_at or case.created_at
    return {
        "resourceType": "Bundle",
        "id": f"rightlevel-case-{case.pk}",
        "identifier": {"system": CASE_SYSTEM, "value": str(case.pk)},
        "type": "collection",
        "timestamp": _instant(timestamp),
        "entry": entries,
    }
