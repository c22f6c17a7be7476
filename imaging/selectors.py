"""Reads of the imaging app: which case an image belongs to, which images wait for assignment."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.conf import settings
from django.db.models import QuerySet

from checklist.models import Case
from imaging.models import LevelImage, MatchedBy

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


def unmatched_images() -> QuerySet[LevelImage]:
    """Images that match no case, newest first, for a radiographer to assign."""
    return LevelImage.objects.filter(case__isnull=True).order_by("-received_at", "-pk")


def case_images(case: Case) -> QuerySet[LevelImage]:
    return LevelImage.objects.filter(case=case).order_by("-received_at", "-pk")


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
