"""The Modality Worklist (DICOM MWL C-FIND) that the C-arm queries to know the case: today's
cases with patient name and ID, the accession number RightLevel gives the case (so that its images
match by accession), the scheduled procedure step and the room's station AE title.

The C-FIND handler lives on the embedded receiver's AE (imaging.receiver), so one association
allow-list covers both; this module holds the reads and the matching of a query's keys."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.utils import timezone
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from checklist.models import CLOSED_STATES, Case
from core.local_time import local_day_bounds
from imaging.selectors import accession_for

# What a C-arm is: the modalities its worklist query may ask for.
MODALITIES = ("RF", "XA", "DX")
SCHEDULED_MODALITY = "RF"
MOST_DAYS = 7
_DATE = re.compile(r"^\d{8}$")

BAD_DATE = "ScheduledProcedureStepStartDate must be YYYYMMDD or a range YYYYMMDD-YYYYMMDD of at most 7 days."


class WorklistQueryError(ValueError):
    """A query this worklist cannot answer; the reason goes back as the C-FIND error comment."""


@dataclass(frozen=True)
class WorklistQuery:
    days: tuple[dt.date, ...]
    station_ae: str = ""
    patient_id: str = ""
    accession_number: str = ""
    modality: str = ""


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword, "")
    return "" if value is None else str(value).strip()


def _step(query: Dataset) -> Dataset:
    steps = query.get("ScheduledProcedureStepSequence")
    return steps[0] if steps else Dataset()


def _day(text: str) -> dt.date:
    if not _DATE.match(text):
        raise WorklistQueryError(BAD_DATE)
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError as exc:
        raise WorklistQueryError(BAD_DATE) from exc


def _days(text: str, today: dt.date) -> tuple[dt.date, ...]:
    if not text:
        return (today,)
    if "-" in text:
        start_text, _, end_text = text.partition("-")
        start = _day(start_text) if start_text else today
        end = _day(end_text) if end_text else start
        if end < start or (end - start).days >= MOST_DAYS:
            raise WorklistQueryError(BAD_DATE)
        return tuple(start + dt.timedelta(days=n) for n in range((end - start).days + 1))
    return (_day(text),)


def _exact(value: str) -> str:
    """A key with a wildcard (or empty) matches everything: universal matching."""
    return "" if value in ("", "*") or "*" in value or "?" in value else value


def query_parse(identifier: Dataset, *, today: dt.date | None = None) -> WorklistQuery:
    """The query's matching keys: the day(s) (today when none), station AE, patient ID,
    accession number and modality; wildcards are read as universal matching."""
    step = _step(identifier)
    return WorklistQuery(
        days=_days(_text(step, "ScheduledProcedureStepStartDate"), today or timezone.localdate()),
        station_ae=_exact(_text(step, "ScheduledStationAETitle")),
        patient_id=_exact(_text(identifier, "PatientID")),
        accession_number=_exact(_text(identifier, "AccessionNumber")),
        modality=_exact(_text(step, "Modality")),
    )


def worklist_cases(query: WorklistQuery, stations: Mapping[str, str]) -> list[Case]:
    """The open cases of the query's days (and station's room, patient, accession), by start."""
    if query.modality and query.modality not in MODALITIES:
        return []
    cases = Case.objects.exclude(state__in=CLOSED_STATES).select_related("patient", "room", "surgeon")
    days = sorted(query.days)
    cases = cases.filter(
        scheduled_start__gte=local_day_bounds(days[0])[0], scheduled_start__lt=local_day_bounds(days[-1])[1]
    )
    if query.station_ae:
        room = stations.get(query.station_ae)
        if room is None:
            return []
        cases = cases.filter(room__name=room)
    if query.patient_id:
        cases = cases.filter(patient__mrn=query.patient_id)
    found = list(cases.order_by("scheduled_start", "pk")[:500])
    if query.accession_number:
        found = [c for c in found if accession_for(c) == query.accession_number]
    return found


def study_uid_for(case: Case) -> str:
    """The same Study Instance UID for a case every time the worklist is asked."""
    return str(generate_uid(entropy_srcs=["rightlevel-case", str(case.pk)]))


def worklist_item(case: Case, stations: Mapping[str, str]) -> Dataset:
    """Everything the worklist says of one case (before keeping the keys the query asked for)."""
    local_start = timezone.localtime(case.scheduled_start)
    station_aes = sorted(ae for ae, room in stations.items() if room == case.room.name)
    step = Dataset()
    step.Modality = SCHEDULED_MODALITY
    step.ScheduledStationAETitle = station_aes or ""
    step.ScheduledStationName = case.room.name[:16]
    step.ScheduledProcedureStepLocation = case.room.name[:16]
    step.ScheduledProcedureStepStartDate = local_start.strftime("%Y%m%d")
    step.ScheduledProcedureStepStartTime = local_start.strftime("%H%M%S")
    step.ScheduledPerformingPhysicianName = case.surgeon.get_full_name()[:64] or case.surgeon.get_username()
    step.ScheduledProcedureStepDescription = case.get_procedure_display()[:64]
    step.ScheduledProcedureStepID = accession_for(case)
    step.ScheduledProcedureStepStatus = "SCHEDULED"
    item = Dataset()
    item.PatientName = f"{case.patient.family_name}^{case.patient.given_name}"[:64]
    item.PatientID = case.patient.mrn[:64]
    item.PatientBirthDate = case.patient.date_of_birth.strftime("%Y%m%d")
    item.PatientSex = ""
    item.AccessionNumber = accession_for(case)
    item.StudyInstanceUID = study_uid_for(case)
    item.RequestedProcedureID = accession_for(case)
    item.RequestedProcedureDescription = case.get_procedure_display()[:64]
    item.ReferringPhysicianName = ""
    item.ScheduledProcedureStepSequence = Sequence([step])
    return item


def _keep(full: Dataset, asked: Dataset) -> Dataset:
    """The answer carries the keys the query asked for (a sequence's sub-keys too)."""
    answer = Dataset()
    for element in asked:
        if element.keyword in ("", "QueryRetrieveLevel", "SpecificCharacterSet"):
            continue
        if element.keyword not in full:
            answer.add_new(element.tag, element.VR, None)
            continue
        value = full[element.keyword]
        if element.VR == "SQ":
            inner = element.value[0] if element.value else None
            items = [_keep(item, inner) if inner is not None and len(inner) else item for item in value.value]
            setattr(answer, element.keyword, Sequence(items))
        else:
            answer[element.tag] = value
    return answer


def worklist_answers(identifier: Dataset, stations: Mapping[str, str]) -> Iterable[Dataset]:
    """The C-FIND answers (one data set per matching case) to a worklist query."""
    query = query_parse(identifier)
    for case in worklist_cases(query, stations):
        answer = _keep(worklist_item(case, stations), identifier)
        answer.SpecificCharacterSet = "ISO_IR 192"
        yield answer
