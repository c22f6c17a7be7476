"""The Modality Worklist: a real pynetdicom C-FIND SCU (the C-arm) asks the embedded receiver
for today's cases, then C-STOREs an image carrying the accession number it was given, and the
image is matched to that case."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pynetdicom import AE
from pynetdicom.sop_class import ModalityWorklistInformationFind  # type: ignore[attr-defined]

from checklist import services
from imaging import dicom
from imaging.models import LevelImage, MatchedBy
from imaging.selectors import accession_for
from imaging.synthetic import lateral_lumbar
from tests.imaging.conftest import CARM, c_store
from tests.support.workflow import Team, case_schedule

pytestmark = pytest.mark.django_db(transaction=True)


def soon_today() -> dt.datetime:
    now = timezone.localtime()
    end_of_day = now.replace(hour=23, minute=58, second=0, microsecond=0)
    return min(now + dt.timedelta(minutes=5), end_of_day)


def query(*, station: str = "", date: str = "", patient_id: str = "", accession: str = "") -> Dataset:
    ds = Dataset()
    ds.PatientName = ""
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.AccessionNumber = accession
    ds.StudyInstanceUID = ""
    ds.RequestedProcedureDescription = ""
    step = Dataset()
    step.Modality = "RF"
    step.ScheduledStationAETitle = station
    step.ScheduledProcedureStepStartDate = date
    step.ScheduledProcedureStepStartTime = ""
    step.ScheduledProcedureStepDescription = ""
    step.ScheduledProcedureStepLocation = ""
    ds.ScheduledProcedureStepSequence = Sequence([step])
    return ds


def c_find(port: int, identifier: Dataset, *, calling: str = CARM) -> tuple[list[Dataset], list[int], Any]:
    ae = AE(ae_title=calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    ae.add_requested_context(ModalityWorklistInformationFind)
    assoc = ae.associate("127.0.0.1", port, ae_title="RIGHTLEVEL")
    if not assoc.is_established:
        return [], [], assoc
    answers, statuses = [], []
    try:
        for status, found in assoc.send_c_find(identifier, ModalityWorklistInformationFind):
            statuses.append(int(status.Status))
            if found is not None and int(status.Status) in (0xFF00, 0xFF01):
                answers.append(found)
            last = status
    finally:
        assoc.release()
    return answers, statuses, last


def test_the_c_arm_gets_todays_case_and_its_image_with_that_accession_is_matched(team: Team, receiver) -> None:
    case = case_schedule(team, scheduled_start=soon_today(), family_name="Lumbar", given_name="Six")
    case_schedule(team, scheduled_start=timezone.now() + dt.timedelta(days=2))  # another day: not listed
    answers, statuses, _ = c_find(receiver.port, query(station=CARM))
    assert statuses[-1] == 0x0000 and len(answers) == 1
    item = answers[0]
    assert item.AccessionNumber == accession_for(case) and item.PatientID == case.patient.mrn
    assert str(item.PatientName) == "Lumbar^Six" and item.PatientBirthDate == "19600501"
    step = item.ScheduledProcedureStepSequence[0]
    assert step.ScheduledStationAETitle == CARM and step.ScheduledProcedureStepLocation == team.room.name
    assert step.ScheduledProcedureStepStartDate == timezone.localtime(case.scheduled_start).strftime("%Y%m%d")
    assert step.ScheduledProcedureStepDescription == "Selective nerve root block"
    assert item.StudyInstanceUID  # the same on every query (asked for, so returned)
    # The C-arm now stores its image with what the worklist gave it.
    ds, _ = lateral_lumbar(rows=256, columns=256, accession=str(item.AccessionNumber), patient_id=str(item.PatientID))
    assert c_store(receiver.port, ds).Status == dicom.STATUS_SUCCESS
    image = LevelImage.objects.get()
    assert image.case == case and image.matched_by == MatchedBy.ACCESSION


def test_the_worklist_filters_by_station_patient_accession_and_day(team: Team, receiver) -> None:
    today = case_schedule(team, scheduled_start=soon_today())
    later = case_schedule(team, scheduled_start=timezone.now() + dt.timedelta(days=2))
    assert c_find(receiver.port, query(station="OTHERCARM"))[0] == []
    assert [a.PatientID for a in c_find(receiver.port, query(patient_id=today.patient.mrn))[0]] == [today.patient.mrn]
    assert c_find(receiver.port, query(accession=accession_for(later)))[0] == []  # not today
    day = timezone.localtime(later.scheduled_start).strftime("%Y%m%d")
    found = c_find(receiver.port, query(date=day))[0]
    assert [a.AccessionNumber for a in found] == [accession_for(later)]
    services.case_cancel(actor=team.nurse, case=today, reason="patient unwell")
    assert c_find(receiver.port, query())[0] == []  # a cancelled case leaves the worklist


@pytest.mark.parametrize("date", ["2026-12-01", "20261301", "20260101-20260301", "tomorrow"])
def test_a_query_it_cannot_answer_gets_a_failure_status_with_the_reason(team: Team, receiver, date: str) -> None:
    answers, statuses, last = c_find(receiver.port, query(date=date))
    assert answers == [] and statuses == [0xC000]
    assert "YYYYMMDD" in str(last.ErrorComment)
    # The receiver goes on serving.
    assert c_find(receiver.port, query())[1][-1] == 0x0000


def test_an_unknown_calling_ae_title_gets_no_worklist(team: Team, receiver) -> None:
    case_schedule(team, scheduled_start=soon_today())
    _, _, assoc = c_find(receiver.port, query(), calling="STRANGER")
    assert not assoc.is_established and assoc.is_rejected
