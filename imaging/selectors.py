"""Reads of the imaging app: which case an image belongs to, which images wait for assignment."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from checklist.level_check import SECOND_READ_MISMATCH, SECOND_READ_REQUIRED
from checklist.models import Case, Reference
from imaging.models import ImageRead, LevelImage, MatchedBy, SecondRead
from levelverify.spine import Anatomy, count_to_unit, format_unit

_ACCESSION = re.compile(r"^RL(\d{1,12})$")

NO_ACCESSION_NO_PATIENT = "No accession number of this system and no patient ID."
ACCESSION_UNKNOWN = "Accession number {accession} names no case."
ACCESSION_OTHER_PATIENT = "Accession number {accession} names a case of another patient ID."
NO_ROOM = "Calling AE title {ae} stands in no known room, so patient ID and time cannot be matched."
NO_TIME = "The image has no acquisition time, so patient ID and room cannot be matched."
NO_CASE = "No case of this patient in {room} around the acquisition time."
SEVERAL_CASES = "{count} cases of this patient in {room} around the acquisition time: assign by hand."


def accession_for(case: Case) -> str:
    """The accession number RightLevel gives a case (published to the C-arm by the worklist)."""
    return f"RL{case.pk}"


@dataclass(frozen=True)
class Match:
    case: Case | None
    matched_by: str
    reason: str = ""


def case_match(*, accession_number: str, patient_id: str, acquired_at: dt.datetime | None, room_name: str) -> Match:
    """The case an image belongs to: by its accession number (which must agree with the patient ID
    when both are given), else by patient ID, the room of the C-arm and the acquisition time.
    Anything ambiguous stays unmatched with the reason."""
    found = _ACCESSION.match(accession_number)
    if found:
        case = Case.objects.select_related("patient", "room").filter(pk=int(found.group(1))).first()
        if case is None:
            return Match(None, MatchedBy.NONE, ACCESSION_UNKNOWN.format(accession=accession_number))
        if patient_id and patient_id != case.patient.mrn:
            return Match(None, MatchedBy.NONE, ACCESSION_OTHER_PATIENT.format(accession=accession_number))
        return Match(case, MatchedBy.ACCESSION)
    if not patient_id:
        return Match(None, MatchedBy.NONE, NO_ACCESSION_NO_PATIENT)
    if not room_name:
        return Match(None, MatchedBy.NONE, NO_ROOM.format(ae="(unknown)"))
    if acquired_at is None:
        return Match(None, MatchedBy.NONE, NO_TIME)
    before = dt.timedelta(minutes=settings.IMAGING_MATCH_BEFORE_MINUTES)
    after = dt.timedelta(minutes=settings.IMAGING_MATCH_AFTER_MINUTES)
    candidates = list(
        Case.objects.filter(
            patient__mrn=patient_id,
            room__name=room_name,
            scheduled_start__gte=acquired_at - after,
            scheduled_start__lte=acquired_at + before,
        ).order_by("pk")[:5]
    )
    if len(candidates) == 1:
        return Match(candidates[0], MatchedBy.PATIENT_ROOM_TIME)
    if not candidates:
        return Match(None, MatchedBy.NONE, NO_CASE.format(room=room_name))
    return Match(None, MatchedBy.NONE, SEVERAL_CASES.format(count=len(candidates), room=room_name))


def cases_awaiting_images(day: dt.date | None = None) -> list[Case]:
    """Today's open cases past their time-out: the ones whose level images RightLevel looks for
    in the PACS (an image from before the time-out cannot be counted anyway)."""
    from checklist.models import CLOSED_STATES
    from core.local_time import local_day_bounds

    start, end = local_day_bounds(day or timezone.localdate())
    cases = Case.objects.exclude(state__in=CLOSED_STATES).filter(
        scheduled_start__gte=start, scheduled_start__lt=end, time_out_completed_at__isnull=False
    )
    return list(cases.select_related("patient", "room").order_by("scheduled_start", "pk")[:200])


def unmatched_images() -> QuerySet[LevelImage]:
    """Images that match no case, newest first, for a radiographer to assign."""
    return LevelImage.objects.filter(case__isnull=True).order_by("-received_at", "-pk")


def case_images(case: Case) -> QuerySet[LevelImage]:
    return LevelImage.objects.filter(case=case).order_by("-received_at", "-pk")


def assignable_cases(user: Any, image: LevelImage) -> list[Case]:
    """The cases of the image's day the user may see, still open, that it could belong to: the
    image's patient's when it names one (the assignment refuses another patient's case)."""
    from checklist.access import policies
    from checklist.models import CLOSED_STATES
    from core.local_time import local_day_bounds

    day = timezone.localdate(image.acquired_at or image.received_at)
    start, end = local_day_bounds(day)
    cases = policies.visible_cases(user).exclude(state__in=CLOSED_STATES)
    cases = cases.filter(scheduled_start__gte=start, scheduled_start__lt=end).select_related("patient", "room")
    if image.patient_id:
        cases = cases.filter(patient__mrn=image.patient_id)
    return list(cases.order_by("scheduled_start", "pk")[:50])


def image_get(pk: int) -> LevelImage | None:
    return LevelImage.objects.select_related("case").filter(pk=pk).first()


def count_ladder(case: Case) -> list[tuple[str, int, int]]:
    """(lumbar vertebra, count from the sacrum, count from C2) for this patient's recorded
    anatomy (five lumbar and twelve thoracic vertebrae when none is recorded), top-down."""
    from checklist.models import AnatomyRecord

    current = AnatomyRecord.objects.filter(case=case, superseded_at__isnull=True)
    anatomy = current.order_by("-recorded_at", "-pk").first()
    lumbar = anatomy.lumbar if anatomy else 5
    thoracic = anatomy.thoracic if anatomy else 12
    # C2 is the reference (0): C3..C7 count 1..5, then the thoracic vertebrae, then L1 onward.
    return [(f"L{k}", lumbar - k + 1, 5 + thoracic + k) for k in range(1, lumbar + 1)]


# --- the independent second read -------------------------------------------------------------

# A checklist template step with this code asks for a blind second read whatever the anatomy.
SECOND_READ_STEP = "level_image_second_read"

MSG_SECOND_READ_REQUIRED = (
    "The level image counted from the {reference} needs an independent second read ({why}) "
    "before the level is confirmed; its first count is hidden until then."
)
WHY_HIGH_RISK = "high-risk anatomy"
WHY_TEMPLATE = "the checklist asks for it"
ACTION_SECOND_READ_REQUIRED = (
    "A second team member, not the first reader, opens 'Second read (blind)' on the level image "
    "and counts it without seeing the first count."
)
MSG_SECOND_READ_MISMATCH = "The independent second read of the level image disagrees with the first: {differences}"
ACTION_SECOND_READ_MISMATCH = (
    "Do not proceed: take a new level image with the marker in place and have two readers count it "
    "again, each without seeing the other's count."
)
DIFF_LANDS = (
    "the first count ({first_count} from the {first_ref}) lands on {first_unit}, "
    "the second ({count} from the {ref}) on {unit}"
)
DIFF_LABEL = "the first reader named {first_label}, the second {label}"
DIFF_OWN_LABEL = "the second count ({count} from the {ref}) lands on {unit}, but the second reader named {label}"
OFF_THE_SPINE = "no level of this spine"


def _reference_words(reference: str) -> str:
    return dict(Reference.choices).get(reference, reference).lower().replace("c2", "C2")


def second_read_needed(case: Case, anatomy_record: Any) -> str:
    """Why this case needs a blind second read of its level images ('' when it does not):
    high-risk anatomy as the level check defines it, or a template step that asks."""
    from checklist.level_check import anatomy_of
    from checklist.models import ChecklistRun
    from checklist.templates_catalog import get_template

    if anatomy_record is not None and anatomy_of(anatomy_record).is_high_risk:
        return WHY_HIGH_RISK
    run = ChecklistRun.objects.filter(case=case).first()
    if run is not None:
        template = get_template(run.template_code, run.template_version)
        if any(step.code == SECOND_READ_STEP for step in template.steps):
            return WHY_TEMPLATE
    return ""


def reads_compare(
    *, first: ImageRead, reference: str, count: int, label: str, structure: str, anatomy: Anatomy
) -> list[str]:
    """What differs between the first read and a second (reference, count, canonical label):
    where each count lands in this patient's anatomy, the levels named, and whether the second
    count lands on its own label. Empty when the two reads agree."""

    def landed(ref: str, n: int) -> str:
        unit = count_to_unit(ref, n, structure, anatomy)
        return format_unit(unit) if unit is not None else OFF_THE_SPINE

    first_unit, unit = landed(first.reference, first.count), landed(reference, count)
    first_label = first.localization.label
    differences = []
    if first_unit != unit:
        differences.append(
            DIFF_LANDS.format(
                first_count=first.count,
                first_ref=_reference_words(first.reference),
                first_unit=first_unit,
                count=count,
                ref=_reference_words(reference),
                unit=unit,
            )
        )
    if first_label != label:
        differences.append(DIFF_LABEL.format(first_label=first_label, label=label))
    if unit != label:
        differences.append(DIFF_OWN_LABEL.format(count=count, ref=_reference_words(reference), unit=unit, label=label))
    return differences


def second_read_findings(case: Case, evidence: Any) -> list[dict[str, Any]]:
    """The level check's findings about second reads (registered in ImagingConfig.ready): a stop
    for every current counted image whose second read disagrees, and, where a second read is
    needed, an incomplete finding for every one not read a second time yet."""
    current = [x for x in evidence.localizations if x.marker_in_place]
    if not current:
        return []
    reads = list(ImageRead.objects.filter(localization__in=current).select_related("second_read").order_by("pk"))
    if not reads:
        return []
    why = second_read_needed(case, evidence.anatomy)
    findings: list[dict[str, Any]] = []
    for read in reads:
        second = getattr(read, "second_read", None) if hasattr(read, "second_read") else None
        if second is not None and not second.agrees:
            findings.append(
                {
                    "code": SECOND_READ_MISMATCH,
                    "severity": "stop",
                    "sources": ["localizations"],
                    "message": MSG_SECOND_READ_MISMATCH.format(differences="; ".join(second.differences) + "."),
                    "action": ACTION_SECOND_READ_MISMATCH,
                }
            )
        elif second is None and why:
            findings.append(
                {
                    "code": SECOND_READ_REQUIRED,
                    "severity": "incomplete",
                    "sources": ["localizations"],
                    "message": MSG_SECOND_READ_REQUIRED.format(reference=_reference_words(read.reference), why=why),
                    "action": ACTION_SECOND_READ_REQUIRED,
                }
            )
    return findings


def second_read_pending(read: ImageRead | None) -> bool:
    """A counted image whose second read is still to come: its first count is not shown."""
    if read is None:
        return False
    if SecondRead.objects.filter(first_read=read).exists():
        return False
    from checklist.models import AnatomyRecord

    anatomy = AnatomyRecord.objects.filter(case=read.case_id, superseded_at__isnull=True)
    return bool(second_read_needed(read.case, anatomy.order_by("-recorded_at", "-pk").first()))


def read_for_second(pk: int) -> ImageRead | None:
    return ImageRead.objects.select_related("image", "case", "localization").filter(pk=pk).first()


def second_read_of(read: ImageRead) -> SecondRead | None:
    return SecondRead.objects.filter(first_read=read).first()


def image_records_for_export(case: Case) -> list[Any]:
    """The image each of the case's localizations was counted on, for the quality exports."""
    from quality.image_records import ImageRecord

    reads = ImageRead.objects.filter(case=case).select_related("image").order_by("pk")
    return [
        ImageRecord(
            localization_id=read.localization_id,
            study_instance_uid=read.image.study_instance_uid,
            series_instance_uid=read.image.series_instance_uid,
            sop_instance_uid=read.image.sop_instance_uid,
            sop_class_uid=read.image.sop_class_uid,
            modality=read.image.modality,
            frame=read.image.frame,
            acquired_at=read.image.acquired_at,
            pixel_sha256=read.image.pixel_sha256,
        )
        for read in reads
    ]
