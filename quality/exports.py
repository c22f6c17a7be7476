"""Exports: streaming CSV (cases, checklist steps, near misses, audit events) and the one-page PDF
record of a case. The FHIR Bundle is built in ``quality.fhir``.

CSV rows are streamed from ``.iterator()`` straight into the response, so a year of audit events
never sits in memory. With ``hide_names`` every staff name and username is replaced (the register
is non-punitive); patients' MRNs stay, since a record without them is useless.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any, cast

from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.http import StreamingHttpResponse
from django.utils import timezone

from checklist import audit
from checklist.models import AuditEvent, AuditSeal, Case, NearMiss, PlanVersion, StepAttestation
from quality.image_records import image_records
from quality.selectors import HIDDEN_NAME, CaseFilter, near_misses, variant_anatomy_exists

CHUNK = 2000
# Cells a spreadsheet would run as a formula are prefixed with a quote (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Keys of audit before/after values that carry a member of staff's name or username.
STAFF_KEYS = frozenset(
    {
        "actor",
        "added",
        "pager_id",
        "anesthesia",
        "co_surgeons",
        "email",
        "full_name",
        "marked_by",
        "printed_name",
        "read_by",
        "recorded_by",
        "requested_by",
        "recipient",
        "reviewed_by",
        "staff",
        "surgeon",
        "user",
        "username",
    }
)


class _Echo:
    """A file-like object whose write returns what it was given: csv.writer then yields lines."""

    def write(self, value: str) -> str:
        return value


def cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_stream(header: list[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([cell(value) for value in row])


def csv_response(filename: str, header: list[str], rows: Iterable[Iterable[Any]]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(csv_stream(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def _name(value: Any, hide: bool) -> Any:
    return HIDDEN_NAME if hide and value else value


def _minutes(later: dt.datetime | None, earlier: dt.datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return round((later - earlier).total_seconds() / 60, 1)


# --- cases -----------------------------------------------------------------------------------------

CASE_HEADER = [
    "case_id", "scheduled_start", "room", "procedure", "mrn", "surgeon", "state", "verdict", "planned_levels",
    "planned_side", "patient_in_room_at", "time_out_completed_at", "localization_passed_at", "procedure_ended_at",
    "signed_out_at", "treated_levels", "minutes_in_room_to_time_out", "variant_anatomy", "near_misses",
]  # fmt: skip


def case_rows(where: CaseFilter, *, hide_names: bool = False) -> Iterator[list[Any]]:
    plan = PlanVersion.objects.filter(case=OuterRef("pk")).order_by("-number")
    misses = (
        NearMiss.objects.filter(case=OuterRef("pk")).order_by().values("case").annotate(n=Count("pk")).values("n")[:1]
    )
    rows = (
        Case.objects.filter(where.range_q("scheduled_start"), where.case_q())
        .annotate(
            planned_levels=Subquery(plan.values("levels")[:1]),
            planned_side=Subquery(plan.values("side")[:1]),
            variant=variant_anatomy_exists(),
            misses=Subquery(misses, output_field=IntegerField()),
        )
        .order_by("scheduled_start", "id")
        .values_list(
            "id",
            "scheduled_start",
            "room__name",
            "procedure",
            "patient__mrn",
            "surgeon__full_name",
            "state",
            "verdict",
            "planned_levels",
            "planned_side",
            "patient_in_room_at",
            "time_out_completed_at",
            "localization_passed_at",
            "procedure_ended_at",
            "signed_out_at",
            "treated_levels",
            "variant",
            "misses",
        )
    )
    for row in rows.iterator(chunk_size=CHUNK):
        values = list(row)
        values[5] = _name(values[5], hide_names)
        waited = _minutes(values[11], values[10])
        yield [*values[:16], waited, values[16], values[17] or 0]


# --- checklist steps -------------------------------------------------------------------------------

STEP_HEADER = [
    "case_id", "mrn", "phase", "step_code", "role", "user", "attested_at", "evidence_version", "voided_at",
    "voided_reason", "recorded_from_paper", "paper_time",
]  # fmt: skip


def step_rows(where: CaseFilter, *, hide_names: bool = False) -> Iterator[list[Any]]:
    rows = (
        StepAttestation.objects.filter(where.range_q("run__case__scheduled_start"), where.case_q("run__case__"))
        .order_by("run__case_id", "attested_at", "id")
        .values_list(
            "run__case_id",
            "run__case__patient__mrn",
            "phase",
            "step_code",
            "role",
            "user__full_name",
            "attested_at",
            "evidence_version",
            "voided_at",
            "voided_reason",
            "recorded_from_paper",  # back-entered from the downtime paper (issue 18)
            "paper_time",
        )
    )
    for row in rows.iterator(chunk_size=CHUNK):
        values = list(row)
        values[5] = _name(values[5], hide_names)
        yield values


# --- near misses -----------------------------------------------------------------------------------

NEAR_MISS_HEADER = [
    "near_miss_id", "case_id", "mrn", "room", "surgeon", "kind", "codes", "what_disagreed", "caught_by",
    "caught_by_role", "caught_at", "resolved_by", "resolved_by_role", "resolved_at", "minutes_to_resolution",
    "resolution", "learning_note",
]  # fmt: skip


def findings_text(findings: Any) -> str:
    return " | ".join(str(f.get("message", "")) for f in findings or [] if isinstance(f, dict))


def near_miss_rows(where: CaseFilter, *, kind: str = "", hide_names: bool = False) -> Iterator[list[Any]]:
    rows = (
        cast(Any, near_misses(where=where, kind=kind))  # annotated: caught_by_role, resolved_by_role
        .order_by("caught_at", "id")
        .values_list(
            "id",
            "case_id",
            "case__patient__mrn",
            "case__room__name",
            "case__surgeon__full_name",
            "kind",
            "codes",
            "findings",
            "caught_by__full_name",
            "caught_by_role",
            "caught_at",
            "resolved_by__full_name",
            "resolved_by_role",
            "resolved_at",
            "resolution",
            "learning_note",
        )
    )
    for row in rows.iterator(chunk_size=CHUNK):
        (pk, case_id, mrn, room, surgeon, kind_, codes, findings, caught_by, caught_role, caught_at, resolved_by,
         resolved_role, resolved_at, resolution, note) = row  # fmt: skip
        yield [
            pk, case_id, mrn, room, _name(surgeon, hide_names), kind_, ";".join(codes or []), findings_text(findings),
            _name(caught_by, hide_names), caught_role, caught_at, _name(resolved_by, hide_names), resolved_role,
            resolved_at, _minutes(resolved_at, caught_at), resolution, note,
        ]  # fmt: skip


# --- audit events ----------------------------------------------------------------------------------

AUDIT_HEADER = [
    "event_id", "chain", "seq", "at", "case_id", "actor_username", "actor_name", "actor_role", "action",
    "object_type", "object_id", "before", "after", "reason", "request_id", "client", "prev_hash", "event_hash",
]  # fmt: skip


def scrub(value: Any) -> Any:
    """The value with every staff name replaced (keys in STAFF_KEYS, at any depth)."""
    if isinstance(value, dict):
        return {k: (HIDDEN_NAME if k in STAFF_KEYS and v else scrub(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def audit_rows(where: CaseFilter, *, hide_names: bool = False) -> Iterator[list[Any]]:
    events = AuditEvent.objects.defer("canonical").filter(where.range_q("at"))
    case_q = where.case_q("case__")
    if case_q:
        events = events.filter(case_q)
    rows = events.order_by("id").values_list(
        "id",
        "chain",
        "seq",
        "at",
        "case_id",
        "actor_username",
        "actor_name",
        "actor_role",
        "action",
        "object_type",
        "object_id",
        "before",
        "after",
        "reason",
        "request_id",
        "client",
        "prev_hash",
        "event_hash",
    )
    for row in rows.iterator(chunk_size=CHUNK):
        values = list(row)
        if hide_names:
            values[5], values[6] = _name(values[5], True), _name(values[6], True)
            values[11], values[12] = scrub(values[11]), scrub(values[12])
        yield values


# --- the one-page PDF record -----------------------------------------------------------------------


def case_record_pdf(case: Case) -> bytes:
    """One A4 page for the medical record: patient, target, level evidence, checklist, signatures
    (printed name, time, meaning), near misses, and the head of the case's audit chain."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import KeepInFrame, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
    from reportlab.platypus.flowables import Flowable

    from checklist.level_check import current_evidence
    from checklist.selectors import case_signatures, checklist_status
    from checklist.selectors.tablet import target_of

    def esc(text: Any) -> str:
        return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    def when(value: dt.datetime | None) -> str:
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S %Z") if value else "-"

    styles = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=styles["Normal"], fontSize=8.5, leading=10.5)
    small = ParagraphStyle("small", parent=body, fontSize=7.5, leading=9)
    head = ParagraphStyle("head", parent=styles["Heading3"], fontSize=10, leading=12, spaceBefore=5, spaceAfter=2)
    mono = ParagraphStyle("mono", parent=small, fontName="Courier")
    title = ParagraphStyle("title", parent=styles["Title"], fontSize=14, leading=17, alignment=0, spaceAfter=2)

    evidence = current_evidence(case)
    target = target_of(case)
    patient = case.patient
    story: list[Flowable] = [
        Paragraph(f"RightLevel case record - case {case.pk}", title),
        Paragraph(
            f"<b>Patient:</b> {esc(patient.family_name.upper())}, {esc(patient.given_name)} - MRN {esc(patient.mrn)}"
            f" - born {patient.date_of_birth:%Y-%m-%d}",
            body,
        ),
        Paragraph(
            f"<b>Procedure:</b> {esc(case.get_procedure_display())} - room {esc(case.room.name)} - scheduled "
            f"{when(case.scheduled_start)} - surgeon {esc(case.surgeon.full_name)} - state "
            f"{esc(case.get_state_display())} - level check {esc(case.get_verdict_display().upper())}",
            body,
        ),
        Paragraph(f"<b>Target:</b> {esc(target['display'] if target else 'no plan recorded')}", body),
        Paragraph("Level evidence", head),
    ]
    plan, consent, marking, imaging, anatomy = (
        evidence.plan,
        evidence.consent,
        evidence.marking,
        evidence.imaging,
        evidence.anatomy,
    )
    lines = [
        f"Plan v{plan.number}: {plan.levels} {plan.side}" + (" (signed)" if plan.signature_id else " (NOT signed)")
        if plan
        else "Plan: none",
        f"Consent: {consent.levels} {consent.side}, signed {consent.date_signed:%Y-%m-%d}, witness {consent.witness}"
        if consent
        else "Consent: none",
        f"Site marking: {marking.region}, {marking.side}" if marking else "Site marking: none",
        f"Pre-op imaging: {imaging.get_modality_display()} {imaging.study_date:%Y-%m-%d}, level {imaging.levels}"
        if imaging
        else "Pre-op imaging: none",
        f"Anatomy: {anatomy.thoracic} thoracic, {anatomy.lumbar} lumbar, lowest rib {anatomy.lowest_rib}, lowest "
        f"mobile {anatomy.lowest_mobile}, {anatomy.get_source_display().lower()}"
        if anatomy
        else "Anatomy: not recorded",
    ]
    images = image_records(case)
    for loc in evidence.localizations:
        image = images.get(loc.pk)
        lines.append(
            f"Level image ({loc.get_phase_display().lower()}): count {loc.count} from the "
            f"{loc.get_reference_display().lower()} = {loc.label}; marker "
            f"{'in place' if loc.marker_in_place else 'REMOVED'}; "
            f"durable mark {'yes' if loc.durable_mark_placed else 'no'}; at {when(loc.recorded_at)}"
            + (
                f"; image SOP Instance UID {image.sop_instance_uid}, acquired "
                f"{when(image.acquired_at) if image.acquired_at else 'unknown'}"
                if image
                else ""
            )
        )
    if case.treated_levels:
        lines.append(f"Levels treated: {case.treated_levels}")
    story.extend(Paragraph(esc(line), body) for line in lines)

    story.append(Paragraph("Checklist", head))
    steps = checklist_status(case)
    rows = [["Phase", "Step", "Done", "Attested by"]]
    for step in steps:
        who = "; ".join(
            f"{role}: {info['name']} {timezone.localtime(info['at']):%H:%M}" for role, info in step.attested_by.items()
        )
        missing = ", ".join(step.missing_roles)
        rows.append(
            [
                step.phase.replace("_", " "),
                Paragraph(esc(step.text), small),
                "yes" if step.complete else "NO",
                Paragraph(esc(who + (f" (waiting: {missing})" if missing else "")), small),
            ]
        )
    grid = TableStyle(
        [
            ("FONT", (0, 0), (-1, -1), "Helvetica", 7.5),
            ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 7.5),
            ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("TOPPADDING", (0, 0), (-1, -1), 1),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
        ]
    )
    story.append(Table(rows, colWidths=[22 * mm, 78 * mm, 10 * mm, 70 * mm], style=grid, repeatRows=1))

    story.append(Paragraph("Signatures", head))
    signatures = case_signatures(case)
    if signatures:
        sig_rows = [["Printed name", "Role", "Signed at", "Meaning", "Signed content (SHA-256)", "Valid"]]
        for sig in signatures:
            sig_rows.append(
                [
                    sig.printed_name,
                    sig.signer_role,
                    when(sig.signed_at),
                    sig.meaning,
                    Paragraph(sig.content_hash, mono),
                    "yes" if getattr(sig, "valid", False) else "NO",
                ]
            )
        story.append(Table(sig_rows, colWidths=[32 * mm, 18 * mm, 34 * mm, 22 * mm, 64 * mm, 10 * mm], style=grid))
    else:
        story.append(Paragraph("No signatures.", body))

    misses = list(NearMiss.objects.filter(case=case).order_by("caught_at", "id"))
    if misses:
        story.append(Paragraph("Near misses (stops resolved by new evidence)", head))
        for miss in misses:
            story.append(
                Paragraph(
                    esc(
                        f"{miss.kind}: {findings_text(miss.findings)} Caught {when(miss.caught_at)}, resolved "
                        f"{when(miss.resolved_at)}: {miss.resolution}"
                    ),
                    small,
                )
            )

    story.append(Paragraph("Audit trail", head))
    chain = audit.case_chain(case.pk)
    head_row = AuditEvent.objects.filter(chain=chain).order_by("-seq").values("seq", "event_hash", "at").first()
    if head_row:
        story.append(
            Paragraph(
                f"Chain {chain}: {head_row['seq']} events; head event #{head_row['seq']} at {when(head_row['at'])}",
                body,
            )
        )
        story.append(Paragraph(f"Head hash: {head_row['event_hash']}", mono))
        # Seals record the chains that moved since the seal before: the newest one naming this chain.
        seal = AuditSeal.objects.filter(heads__has_key=chain).order_by("-seq").first()
        sealed = (seal.heads or {}).get(chain) if seal else None
        if seal and sealed:
            story.append(Paragraph(f"Last seal #{seal.seq} at {when(seal.at)} covers event #{sealed[0]}.", small))
    else:
        story.append(Paragraph("No audit events.", body))
    story.append(Spacer(1, 4))
    story.append(
        Paragraph(f"Generated {when(timezone.now())} by RightLevel. Verify with: manage.py verify_audit.", small)
    )

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=14 * mm,
        rightMargin=14 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title=f"RightLevel case {case.pk}",
        author="RightLevel",
    )
    # One page, always: the content is scaled down to fit the frame if it would overflow.
    doc.build([KeepInFrame(doc.width, doc.height, story, mode="shrink")])
    return buffer.getvalue()


__all__ = [
    "AUDIT_HEADER",
    "CASE_HEADER",
    "NEAR_MISS_HEADER",
    "STEP_HEADER",
    "audit_rows",
    "case_record_pdf",
    "case_rows",
    "csv_response",
    "near_miss_rows",
    "step_rows",
]
