"""A small, known dataset for the quality workspace, walked through the real services at chosen times
(time_machine), so every dashboard figure can be worked out by hand.

Two rooms, two surgeons, six cases (D0 is Monday 2026-03-09, 08:00 UTC):

==== ====== ========= ======================================================= ==================
case room   built at  what happens                                            in room -> time-out
==== ====== ========= ======================================================= ==================
A    OR 1   D0        whole case to sign-out (usual anatomy)                  20 min
B    OR 1   D0 - 7 d  consent on the wrong side, corrected (consent near miss) 40 min
                      -> time-out complete
C    OR 2   D0        six lumbar vertebrae; count from the sacrum lands on L3  10 min
                      (count near miss), recount, then C2: two references
D    OR 2   D0        six lumbar vertebrae; imaging at L3 then L2 (imaging     70 min
                      near miss); one reference only
E    OR 1   D0        scheduled only (vertebral augmentation)                 -
F    OR 2   D0        patient in the room, sign-in not finished               -
==== ====== ========= ======================================================= ==================

The figures were worked out by hand for this table, which has several cases of one room under way
at once; the one-patient-per-room check (issue 12, tested in tests/checklist/tablet/test_issue12_safety.py)
is switched off while it is built, and only then.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from unittest import mock

import time_machine
from django.utils import timezone

from checklist import services
from checklist.models import Case
from tests.support.factories import TEST_PASSWORD
from tests.support.workflow import Team, case_schedule, evidence_record, phase_attest, team_create

D0 = dt.datetime(2026, 3, 9, 8, 0, tzinfo=dt.UTC)
RANGE = {"date_from": "2026-02-23", "date_to": "2026-03-15"}


@dataclass
class Dataset:
    one: Team
    two: Team
    a: Case
    b: Case
    c: Case
    d: Case
    e: Case
    f: Case

    def fresh(self) -> Dataset:
        for name in "abcdef":
            setattr(self, name, Case.objects.get(pk=getattr(self, name).pk))
        return self


def _localize(team: Team, case: Case, count: int, reference: str = "sacrum", label: str = "L2") -> object:
    return services.localization_record(
        actor=team.radiographer,
        case=case,
        phase="pre_incision",
        reference=reference,
        count=count,
        label=label,
        marker_in_place=True,
        read_by=team.surgeon,
    )


def _to_time_out(team: Team, case: Case, traveller: object, minutes: int) -> None:
    services.case_patient_in_room(actor=team.nurse, case=case)
    traveller.shift(dt.timedelta(minutes=minutes))  # type: ignore[attr-defined]
    phase_attest(team, case, "sign_in")
    phase_attest(team, case, "time_out")
    services.time_out_complete(actor=team.nurse, case=case.pk)


def dataset_build() -> Dataset:
    with mock.patch("checklist.services.cases.case_in_room", return_value=None):
        return _dataset_build()


def _dataset_build() -> Dataset:
    one = team_create("OR 1", suffix="A")
    two = team_create("OR 2", suffix="B")
    with time_machine.travel(D0 - dt.timedelta(days=7), tick=False) as traveller:
        b = case_schedule(one, scheduled_start=timezone.now() + dt.timedelta(hours=1))
        evidence_record(one, b, consent_side="right")
        traveller.shift(dt.timedelta(minutes=12))
        services.consent_record(
            actor=one.nurse,
            case=b,
            procedure=b.procedure,
            levels="L2",
            side="left",
            date_signed=timezone.localdate(),
            witness="W. Itness",
        )
        traveller.shift(dt.timedelta(minutes=30))
        _to_time_out(one, b, traveller, 40)

    with time_machine.travel(D0, tick=False) as traveller:
        start = timezone.now() + dt.timedelta(hours=1)
        a = case_schedule(one, scheduled_start=start)
        evidence_record(one, a)
        _to_time_out(one, a, traveller, 20)
        loc = _localize(one, a, 4)
        services.localization_mark_durable(actor=one.nurse, case=a, localization_id=loc.pk)  # type: ignore[attr-defined]
        phase_attest(one, a, "localization")
        services.localization_confirm(actor=one.surgeon, case=a, password=TEST_PASSWORD, username=one.surgeon.username)
        services.treated_levels_record(actor=one.nurse, case=a, levels="L2")
        phase_attest(one, a, "sign_out")
        services.sign_out_complete(actor=one.nurse, case=a.pk)

        c = case_schedule(two, scheduled_start=start)
        evidence_record(two, c, lumbar=6)
        _to_time_out(two, c, traveller, 10)
        _localize(two, c, 4)  # six lumbar vertebrae: the fourth from the sacrum is L3 -> stop
        traveller.shift(dt.timedelta(minutes=6))
        _localize(two, c, 5)  # recount: resolved (count near miss)
        _localize(two, c, 19, reference="c2")

        d = case_schedule(two, scheduled_start=start)
        evidence_record(two, d, lumbar=6)
        services.imaging_record(
            actor=two.radiographer,
            case=d,
            modality="mri",
            study_date=timezone.localdate(),
            levels="L3",
            reviewed_by=two.surgeon,
        )
        traveller.shift(dt.timedelta(minutes=3))
        services.imaging_record(
            actor=two.radiographer,
            case=d,
            modality="mri",
            study_date=timezone.localdate(),
            levels="L2",
            reviewed_by=two.surgeon,
        )
        _to_time_out(two, d, traveller, 70)
        _localize(two, d, 5)

        e = case_schedule(one, procedure="vertebral_augmentation", scheduled_start=start)
        f = case_schedule(two, scheduled_start=start)
        services.case_patient_in_room(actor=two.nurse, case=f)
    return Dataset(one, two, a, b, c, d, e, f).fresh()
