"""Back-entry from the downtime paper (issue 18): the steps done on paper go through the normal
attestation rules, keep the paper's time and the entry time, and say so in the record and the trail."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import time_machine
from django.utils import timezone

from checklist import audit, services
from checklist.audit.catalogue import AuditAction
from checklist.models import DOWNTIME_PAPER, AuditEvent, Case, StepAttestation
from checklist.selectors import checklist_status
from checklist.services.downtime import PaperEntry
from core.errors import ApplicationError, ForbiddenError
from tests.support.workflow import Team, case_schedule, case_through_time_out, evidence_record

pytestmark = pytest.mark.django_db


def _case(team: Team) -> Case:
    # Started three hours ago: the paper's times below (the last two hours) are on the case's day.
    case = case_schedule(team, scheduled_start=timezone.now() - dt.timedelta(hours=3))
    evidence_record(team, case)
    return case


def _fresh(case: Case) -> Case:
    return Case.objects.get(pk=case.pk)


def _ago(minutes: int) -> dt.datetime:
    return (timezone.now() - dt.timedelta(minutes=minutes)).replace(microsecond=0)


def _phase_entries(team: Team, case: Case, phase: str, start: int, key: bool = False) -> list[PaperEntry]:
    """Every missing (step, role) of ``phase``, one minute apart from ``start`` minutes ago."""
    entries = []
    for step in checklist_status(_fresh(case)):
        if step.phase != phase:
            continue
        for role in step.missing_roles:
            entries.append(
                PaperEntry(
                    step_code=step.code,
                    role=role,
                    attested_by=team.by_role(role),
                    paper_time=_ago(start),
                    key=f"{step.code}-{role}" if key else "",
                )
            )
            start -= 1
    return entries


def test_a_back_entry_is_marked_on_the_record_and_its_event_with_both_times(team) -> None:
    case = _case(team)
    services.case_patient_in_room(actor=team.nurse, case=case)
    entries = _phase_entries(team, case, "sign_in", start=100)
    recorded = services.steps_back_enter(actor=team.nurse, case=case.pk, entries=entries)
    assert len(recorded) == len(entries) > 3
    first = entries[0]
    row = StepAttestation.objects.get(run__case=case, step_code=first.step_code, role=first.role)
    assert row.recorded_from_paper and row.paper_time == first.paper_time
    assert row.user == first.attested_by and row.entered_by == team.nurse
    assert row.attested_at > row.paper_time  # the entry time is kept beside the paper's
    assert row.acted_at == row.paper_time
    event = AuditEvent.objects.get(action=AuditAction.STEP_ATTESTED, object_id=str(row.pk))
    assert event.actor == team.nurse  # who entered it; who initialled the paper is in the payload
    assert event.after["source"] == DOWNTIME_PAPER
    assert dt.datetime.fromisoformat(event.after["acted_at"]) == first.paper_time
    assert dt.datetime.fromisoformat(event.after["entered_at"]) == row.attested_at
    assert event.after["attested_by"] == first.attested_by.username
    # Every entry is audited: one event each, none dropped.
    paper_events = AuditEvent.objects.filter(case=case, action=AuditAction.STEP_ATTESTED)
    assert sum(1 for e in paper_events if e.after.get("source") == DOWNTIME_PAPER) == len(entries)
    # The trail verifies, the rows reconciled with their events (source, paper time, who).
    assert audit.verify().ok
    # The sign-in is complete: the time-out opens, exactly as with live attestations.
    assert not [s for s in checklist_status(_fresh(case)) if s.phase == "sign_in" and not s.complete]


@pytest.fixture
def midday() -> Iterator[None]:
    """Noon today, local time: a paper time minutes ago, or a time minutes ahead, stays on the
    case's day whatever the hour the suite runs at."""
    noon = timezone.localtime().replace(hour=12, minute=0, second=0, microsecond=0)
    with time_machine.travel(noon, tick=True):
        yield


def test_a_time_of_day_is_on_the_cases_day(midday, team) -> None:
    case = _case(team)
    services.case_patient_in_room(actor=team.nurse, case=case)
    paper = timezone.localtime(_ago(30))
    step = next(s for s in checklist_status(_fresh(case)) if s.phase == "sign_in" and "nurse" in s.roles)
    entry = PaperEntry(step_code=step.code, role="nurse", attested_by=team.nurse, paper_time=paper.time())
    assert paper.date() == timezone.localdate(case.scheduled_start)
    (row,) = services.steps_back_enter(actor=team.nurse, case=case.pk, entries=[entry])
    assert timezone.localtime(row.paper_time) == paper


def test_a_whole_downtime_sign_in_and_time_out_in_one_entry(team) -> None:
    case = _case(team)
    services.case_patient_in_room(actor=team.nurse, case=case)
    sign_in = _phase_entries(team, case, "sign_in", start=110)
    # The time-out's steps are entered with the sign-in's: applied in order, the sign-in opens them.
    time_out = [
        PaperEntry(step_code=s.code, role=r, attested_by=team.by_role(r), paper_time=_ago(60))
        for s in checklist_status(_fresh(case))
        if s.phase == "time_out"
        for r in s.missing_roles
    ]
    services.steps_back_enter(actor=team.nurse, case=case.pk, entries=[*reversed(time_out), *sign_in])
    services.time_out_complete(actor=team.nurse, case=case.pk)
    assert _fresh(case).time_out_completed_at is not None


@pytest.mark.parametrize(
    ("when", "reason"),
    [
        (lambda: timezone.now() + dt.timedelta(minutes=5), "later than now"),
        (lambda: timezone.now() - dt.timedelta(days=2), "before the case's day"),
    ],
)
def test_a_paper_time_in_the_future_or_before_the_cases_day_is_refused(team, when, reason) -> None:
    case = _case(team)
    services.case_patient_in_room(actor=team.nurse, case=case)
    step = next(s for s in checklist_status(_fresh(case)) if s.phase == "sign_in" and "nurse" in s.roles)
    entry = PaperEntry(step_code=step.code, role="nurse", attested_by=team.nurse, paper_time=when(), key="row1")
    before = AuditEvent.objects.count()
    with pytest.raises(ApplicationError) as caught:
        services.steps_back_enter(actor=team.nurse, case=case.pk, entries=[entry])
    assert reason in caught.value.errors["row1-time"][0]
    assert AuditEvent.objects.count() == before
    assert not StepAttestation.objects.filter(run__case=case).exists()


def test_paper_times_out_of_the_checklists_order_are_refused_and_nothing_is_recorded(team) -> None:
    case = _case(team)
    services.case_patient_in_room(actor=team.nurse, case=case)
    sign_in = _phase_entries(team, case, "sign_in", start=60)  # sign-in from 60 minutes ago on
    time_out = [
        PaperEntry(step_code=s.code, role=r, attested_by=team.by_role(r), paper_time=_ago(90), key=f"{s.code}-{r}")
        for s in checklist_status(_fresh(case))
        if s.phase == "time_out"
        for r in s.missing_roles
    ]
    with pytest.raises(ApplicationError) as caught:
        services.steps_back_enter(actor=team.nurse, case=case.pk, entries=[*sign_in, *time_out])
    (message,) = next(iter(caught.value.errors.values()))
    assert "before a sign in step" in message and "Check the times on the paper" in message
    assert not StepAttestation.objects.filter(run__case=case).exists()


def test_the_normal_rules_hold_a_phase_not_open_and_a_person_without_the_role(team) -> None:
    case = _case(team)
    step = next(s for s in checklist_status(_fresh(case)) if s.phase == "sign_in" and "nurse" in s.roles)
    entry = PaperEntry(step_code=step.code, role="nurse", attested_by=team.nurse, paper_time=_ago(20), key="k")
    with pytest.raises(ApplicationError) as caught:  # the patient is not recorded in the room
        services.steps_back_enter(actor=team.nurse, case=case.pk, entries=[entry])
    assert "patient is in the room" in caught.value.errors["k-attested_by"][0]
    services.case_patient_in_room(actor=team.nurse, case=case)
    wrong = PaperEntry(step_code=step.code, role="nurse", attested_by=team.anesthesia, paper_time=_ago(20), key="k")
    with pytest.raises(ApplicationError) as caught:
        services.steps_back_enter(actor=team.nurse, case=case.pk, entries=[wrong])
    assert "does not hold the nurse role" in caught.value.errors["k-attested_by"][0]
    with pytest.raises(ApplicationError) as caught:
        services.steps_back_enter(actor=team.nurse, case=case.pk, entries=[])
    assert caught.value.errors["non_field_errors"]


def test_only_a_nurse_enters_the_paper(team) -> None:
    case = _case(team)
    services.case_patient_in_room(actor=team.nurse, case=case)
    step = next(s for s in checklist_status(_fresh(case)) if s.phase == "sign_in" and "anesthesia" in s.roles)
    entry = PaperEntry(step_code=step.code, role="anesthesia", attested_by=team.anesthesia, paper_time=_ago(20))
    for person in (team.quality, team.anesthesia):
        with pytest.raises(ForbiddenError):
            services.steps_back_enter(actor=person, case=case.pk, entries=[entry])
    assert not StepAttestation.objects.filter(run__case=case).exists()


def test_a_back_entered_miscount_is_still_a_stop(team) -> None:
    case = case_through_time_out(team, _case(team))
    # The count written on the paper: 5 from the sacrum is L1, not the L2 the team labelled.
    services.localization_record(
        actor=team.nurse,
        case=case,
        phase="pre_incision",
        reference="sacrum",
        count=5,
        label="L2",
        marker_in_place=True,
        read_by=team.surgeon,
        paper_time=_ago(15),
    )
    case = _fresh(case)
    assert case.verdict == "stop"
    event = AuditEvent.objects.filter(case=case, action=AuditAction.LOCALIZATION_RECORDED).latest("seq")
    assert event.after["source"] == DOWNTIME_PAPER and "acted_at" in event.after
    entries = [
        # Timed now: after the time-out, attested live just before.
        PaperEntry(step_code=s.code, role=r, attested_by=team.by_role(r), paper_time=timezone.now(), key="x")
        for s in checklist_status(case)
        if s.phase == "localization"
        for r in s.missing_roles
    ]
    assert entries
    with pytest.raises(ApplicationError) as caught:
        services.steps_back_enter(actor=team.nurse, case=case.pk, entries=entries)
    assert "STOPPED" in caught.value.errors["x-attested_by"][0]
    assert not StepAttestation.objects.filter(run__case=case, phase="localization").exists()
    assert _fresh(case).verdict == "stop"


def test_a_row_changed_behind_the_trail_to_look_like_paper_is_named_by_verify(team) -> None:
    from tests.support.tamper import unlocked

    case = _case(team)
    services.case_patient_in_room(actor=team.nurse, case=case)
    (entry,) = _phase_entries(team, case, "sign_in", start=50)[:1]
    services.steps_back_enter(actor=team.nurse, case=case.pk, entries=[entry])
    live = next(s for s in checklist_status(_fresh(case)) if s.phase == "sign_in" and s.code != entry.step_code)
    services.step_attest(actor=team.by_role(live.roles[0]), case=case.pk, step_code=live.code, role=live.roles[0])
    assert audit.verify().ok
    with unlocked([StepAttestation._meta.db_table]):
        StepAttestation.objects.filter(run__case=case, step_code=entry.step_code).update(paper_time=_ago(55))
        StepAttestation.objects.filter(run__case=case, step_code=live.code).update(
            recorded_from_paper=True, paper_time=_ago(45), entered_by=team.nurse
        )
    problems = " ".join(p.message for p in audit.verify().problems)
    assert "acted_at" in problems and "source" in problems
