"""What a downtime sheet prints for a case (issue 18, the downtime kit): the paper the team works
from when the tablets cannot reach the server. It names the target and what to expect, and leaves
every piece of evidence blank: the consent, the marking and the imaging count are written on the
paper from their own sources, never pre-filled from the plan (an agreement the software wrote is
no agreement)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from checklist.level_check import current_evidence
from checklist.models import CLOSED_STATES, Case, StepAttestation, User
from checklist.selectors.checklist import checklist_status
from checklist.selectors.tablet import cases_today, target_of
from checklist.templates_catalog import PHASE_LABELS, PHASES

REFERENCE_WORDS = {"sacrum": "from the sacrum", "c2": "from C2", "last_rib": "from the last rib"}
ANATOMY_UNKNOWN = (
    "Anatomy NOT recorded: the counts below assume 12 thoracic and 5 lumbar vertebrae. "
    "Count the ribs and lumbar vertebrae on the pre-operative images before relying on them."
)


@dataclass(frozen=True)
class SheetStep:
    text: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class SheetPhase:
    label: str
    steps: list[SheetStep]


@dataclass(frozen=True)
class DowntimeSheet:
    case_id: int
    patient: str
    mrn: str
    date_of_birth: dt.date
    room: str
    scheduled_start: dt.datetime
    surgeon: str
    procedure: str
    target: str
    anatomy: str
    high_risk: bool
    # (level, [(reference words, count)]) for each planned unit, from this patient's anatomy.
    expected_counts: list[tuple[str, list[tuple[str, int]]]] = field(default_factory=list)
    phases: list[SheetPhase] = field(default_factory=list)
    plan_signed: bool = False


def downtime_cases(user: User, day: dt.date | None = None) -> list[Case]:
    """Today's open cases the user may see, by start: the ones a downtime sheet is printed for."""
    return [case for case in cases_today(user, day=day) if case.state not in CLOSED_STATES]


def downtime_sheet(case: Case) -> DowntimeSheet:
    target: dict[str, Any] | None = target_of(case)
    evidence = current_evidence(case)
    anatomy = (target or {}).get("anatomy") or {}
    counts: list[tuple[str, list[tuple[str, int]]]] = []
    for unit, by_reference in ((target or {}).get("expected_counts") or {}).items():
        counts.append((unit, [(REFERENCE_WORDS.get(ref, ref), n) for ref, n in by_reference.items() if n is not None]))
    steps = checklist_status(case)
    phases = [
        SheetPhase(PHASE_LABELS[code], [SheetStep(s.text, s.roles) for s in steps if s.phase == code])
        for code in PHASES
    ]
    patient = case.patient
    plan = evidence.plan
    return DowntimeSheet(
        case_id=case.pk,
        patient=f"{patient.family_name.upper()}, {patient.given_name}",
        mrn=patient.mrn,
        date_of_birth=patient.date_of_birth,
        room=case.room.name,
        scheduled_start=case.scheduled_start,
        surgeon=case.surgeon.full_name or case.surgeon.get_username(),
        procedure=case.get_procedure_display(),
        target=str((target or {}).get("display") or "NO SIGNED PLAN: do not proceed without one").upper(),
        anatomy=str(anatomy.get("description") or "") if evidence.anatomy is not None else ANATOMY_UNKNOWN,
        high_risk=bool(anatomy.get("high_risk")),
        expected_counts=counts,
        phases=phases,
        plan_signed=plan is not None and plan.signature is not None,
    )


def case_day(case: Case) -> dt.date:
    """The case's day, in the hospital's time zone: the day a time of day on the paper is on."""
    return timezone.localdate(case.scheduled_start)


@dataclass(frozen=True)
class BackEntryRow:
    """One box of the downtime sheet still to enter: a step and a role that has not attested it."""

    key: str
    step_code: str
    phase: str
    phase_label: str
    text: str
    role: str


def back_entry_rows(case: Case) -> list[BackEntryRow]:
    """The case's applicable steps, role by role, not attested yet, in the checklist's order."""
    return [
        BackEntryRow(f"{step.code}__{role}", step.code, step.phase, PHASE_LABELS[step.phase], step.text, role)
        for step in checklist_status(case)
        for role in step.missing_roles
    ]


def paper_attestations(case: Case) -> list[StepAttestation]:
    """The live attestations of the case back-entered from the downtime paper, by the paper's time."""
    return list(
        StepAttestation.objects.filter(run__case=case, recorded_from_paper=True, voided_at__isnull=True)
        .select_related("user", "entered_by")
        .order_by("paper_time", "id")
    )


ROLE_WORDS = {"surgeon": "Surgeon", "anesthesia": "Anesthesia", "nurse": "Nurse", "radiographer": "Radiographer"}


def downtime_sheets_pdf(sheets: list[DowntimeSheet], *, printed_by: str, printed_at: dt.datetime) -> bytes:
    """One A4 page per case: the target in large type, the patient, the anatomy and the counts to
    expect from each reference; blank lines for the consent, the marking and each level image
    count, written from their own sources; every checklist item with initials and time boxes."""
    import io

    from django.utils import timezone
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import KeepInFrame, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
    from reportlab.platypus.flowables import Flowable

    def esc(text: Any) -> str:
        return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    styles = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=styles["Normal"], fontSize=9, leading=11)
    small = ParagraphStyle("small", parent=body, fontSize=7.5, leading=9)
    head = ParagraphStyle("head", parent=styles["Heading3"], fontSize=10.5, leading=12.5, spaceBefore=5, spaceAfter=2)
    big = ParagraphStyle("big", parent=styles["Title"], fontSize=26, leading=30, alignment=1, spaceAfter=2)
    warn = ParagraphStyle("warn", parent=body, fontName="Helvetica-Bold", textColor=colors.HexColor("#b00020"))
    grid = TableStyle(
        [
            ("FONT", (0, 0), (-1, -1), "Helvetica", 8),
            ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8),
            ("GRID", (0, 0), (-1, -1), 0.4, colors.black),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("TOPPADDING", (0, 0), (-1, -1), 2),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ]
    )
    printed = timezone.localtime(printed_at).strftime("%Y-%m-%d %H:%M")
    pages: list[Flowable] = []
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=10 * mm,
        bottomMargin=10 * mm,
        title="RightLevel downtime sheets",
        author="RightLevel",
    )
    for n, sheet in enumerate(sheets):
        start = timezone.localtime(sheet.scheduled_start)
        story: list[Flowable] = [
            Paragraph(
                f"<b>RightLevel downtime sheet</b> · case {sheet.case_id} · {esc(sheet.room)} · "
                f"{start:%Y-%m-%d %H:%M} · printed {printed} by {esc(printed_by)}",
                small,
            ),
            Paragraph(esc(sheet.target), big),
            Paragraph(
                f"<b>{esc(sheet.patient)}</b> · MRN {esc(sheet.mrn)} · born {sheet.date_of_birth:%Y-%m-%d} · "
                f"{esc(sheet.procedure)} · surgeon {esc(sheet.surgeon)}",
                body,
            ),
        ]
        if not sheet.plan_signed:
            story.append(Paragraph("The plan is NOT signed: the surgeon signs it before the time-out.", warn))
        story.append(Paragraph("Anatomy and counts to expect", head))
        story.append(Paragraph(esc(sheet.anatomy) or "Anatomy recorded.", warn if "NOT" in sheet.anatomy else body))
        if sheet.high_risk:
            story.append(
                Paragraph(
                    "High-risk anatomy: count from two references, and a second person counts independently.", warn
                )
            )
        if sheet.expected_counts:
            used = {words for _, counts in sheet.expected_counts for words, _ in counts}
            references = [words for words in REFERENCE_WORDS.values() if words in used]
            rows = [["Level", *references]]
            for unit, counts in sheet.expected_counts:
                found = dict(counts)
                rows.append([unit, *(str(found.get(words, "-")) for words in references)])
            story.append(Table(rows, style=grid, hAlign="LEFT"))
        story.append(Paragraph("Evidence: write each from its own source (never copy the target above)", head))
        blank = "_" * 14
        evidence_rows = [
            ["Source", "Procedure", "Level(s)", "Side", "Initials", "Time"],
            ["Signed consent form", blank, blank, blank, "____", "__:__"],
            ["Skin marking (region)", "", blank, blank, "____", "__:__"],
        ]
        story.append(Table(evidence_rows, style=grid, hAlign="LEFT"))
        story.append(Spacer(1, 3))
        count_rows = [["Level image", "Reference", "Count", "Level named", "Marker in place", "Read by", "Time"]]
        count_rows += [[f"{k}", blank, "____", blank, "yes / no", "____", "__:__"] for k in (1, 2, 3)]
        story.append(Table(count_rows, style=grid, hAlign="LEFT"))
        for phase in sheet.phases:
            story.append(Paragraph(esc(phase.label), head))
            rows = [["Item (read aloud)", "Who", "Initials", "Time"]]
            for step in phase.steps:
                for i, role in enumerate(step.roles):
                    rows.append(
                        [Paragraph(esc(step.text), small) if i == 0 else "", ROLE_WORDS.get(role, role), "", "__:__"]
                    )
            story.append(Table(rows, colWidths=[118 * mm, 26 * mm, 22 * mm, 20 * mm], style=grid, hAlign="LEFT"))
        story.append(Spacer(1, 4))
        story.append(
            Paragraph(
                "When RightLevel is back, enter what was done from this sheet with its times: each entry is marked "
                "'recorded from downtime paper'. Keep the sheet with the medical record.",
                small,
            )
        )
        pages.append(KeepInFrame(doc.width, doc.height, story, mode="shrink"))
        if n < len(sheets) - 1:
            pages.append(PageBreak())
    if not pages:
        pages.append(Paragraph("No open cases today.", body))
    doc.build(pages)
    return buffer.getvalue()
