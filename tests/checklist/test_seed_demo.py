"""manage.py seed_demo: a demo day of L2 cases in three rooms, built only through the services."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command, get_commands
from django.db.models import QuerySet
from django.utils import timezone

from checklist import audit
from checklist.models import (
    AnatomyRecord,
    AuditEvent,
    Case,
    CaseState,
    Consent,
    Localization,
    NearMiss,
    Patient,
    PlanVersion,
    PreopImaging,
    Procedure,
    Room,
    Signature,
    SiteMarking,
    StepAttestation,
    User,
)

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

SEED_DAY = dt.date(2031, 3, 12)  # a fixed day, so a run near midnight cannot straddle two days


def _local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)))


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def _demo() -> QuerySet[Case]:
    """The demo cases (other suites may share the test database: count only what the seed writes)."""
    return Case.objects.filter(patient__mrn__startswith="DEMO-")


def _counts() -> dict[str, int]:
    per_case = (PlanVersion, Consent, Localization, Signature, NearMiss, AuditEvent)
    counts = {m.__name__: m.objects.filter(case__in=_demo()).count() for m in per_case}
    counts["StepAttestation"] = StepAttestation.objects.filter(run__case__in=_demo()).count()
    counts["Case"] = _demo().count()
    counts["Patient"] = Patient.objects.filter(mrn__startswith="DEMO-").count()
    counts["Room"] = Room.objects.filter(name__in=["OR 1", "OR 2", "OR 3"]).count()
    counts["RoomEvents"] = AuditEvent.objects.filter(action__startswith="room.", object_type="Room").count()
    counts["User"] = User.objects.filter(email__endswith="@demo.rightlevel.invalid").count()
    return counts


def _codes(case: Case) -> set[str]:
    return {f["code"] for f in case.latest_verdict.findings}


@pytest.fixture
def seeded() -> tuple[str, str]:
    with time_machine.travel(_local(SEED_DAY, 10, 0), tick=True):
        first = _seed()
        counts = _counts()
        second = _seed()
        assert _counts() == counts  # the second run the same day changes nothing
    return first, second


def test_a_second_run_on_the_same_day_changes_nothing_and_says_so(seeded) -> None:
    first, second = seeded
    assert "Added" in first
    assert "already exist: nothing added" in second
    for output in (first, second):
        assert "surgeon2" in output and "Dr. Lee Second" in output
        assert "nurse2" in output and "OR 3 only" in output
        assert "Due soon" in output
        for header in ("Room", "Time", "Procedure", "Target", "State", "Verdict"):
            assert header in output


def test_a_day_of_l2_cases_in_three_rooms(seeded) -> None:
    cases = list(_demo().select_related("room", "patient"))
    assert len(cases) >= 8
    assert {c.room.name for c in cases} == {"OR 1", "OR 2", "OR 3", "OR 4"}
    assert {c.procedure for c in cases} == set(Procedure.values)
    assert all(timezone.localtime(c.scheduled_start).date() == SEED_DAY for c in cases)
    regular = [timezone.localtime(c.scheduled_start).time() for c in cases]
    assert sum(dt.time(7, 30) <= t <= dt.time(16, 0) for t in regular) >= 8
    for case in cases:
        plan = PlanVersion.objects.filter(case=case).order_by("-number").first()
        if plan is not None:
            assert "L2" in plan.levels  # L2, L1-L2, L2-L3, L1-L2 and L2-L3
    assert len({c.state for c in cases}) >= 6  # the workflow in every state


def test_users_and_rooms_for_object_level_permissions(seeded) -> None:
    staff = {room.name: set(room.staff.values_list("username", flat=True)) for room in Room.objects.all()}
    for name in ("OR 1", "OR 2", "OR 3"):
        assert {"nurse", "anesthesia", "radiographer"} <= staff[name]
    assert [name for name, members in staff.items() if "nurse2" in members] == ["OR 3"]
    surgeon2 = User.objects.get(username="surgeon2")
    assert surgeon2.full_name == "Dr. Lee Second" and surgeon2.role == "surgeon"
    assert surgeon2.check_password("rightlevel-demo")
    assert User.objects.get(username="nurse2").role == "nurse"
    assert _demo().filter(surgeon=surgeon2).exists()
    assert _demo().filter(surgeon__username="surgeon").exists()


def test_an_unsigned_plan_due_within_half_an_hour(seeded) -> None:
    now = _local(SEED_DAY, 10, 0)
    due = [
        c
        for c in _demo()
        if dt.timedelta(0) <= c.scheduled_start - now <= dt.timedelta(minutes=30) and "PLAN_NOT_SIGNED" in _codes(c)
    ]
    assert len(due) == 1
    plan = PlanVersion.objects.get(case=due[0])
    assert plan.signature is None
    assert due[0].state == CaseState.SCHEDULED


def test_a_case_ready_for_the_time_out(seeded) -> None:
    case = _demo().get(state=CaseState.TIME_OUT)
    assert case.verdict == "pass"
    assert case.patient_in_room_at is not None and case.time_out_completed_at is None
    assert not StepAttestation.objects.filter(run__case=case, phase="time_out").exists()


def test_a_consent_side_mismatch_caught_and_resolved(seeded) -> None:
    near_miss = NearMiss.objects.get(case__in=_demo(), kind="consent")
    assert near_miss.codes == ["CONSENT_MISMATCH"]
    case = near_miss.case
    assert case.verdict == "pass"
    consents = list(Consent.objects.filter(case=case).order_by("recorded_at", "id"))
    plan = PlanVersion.objects.get(case=case)
    assert [c.side for c in consents] == [{"left": "right", "right": "left"}[plan.side], plan.side]
    assert consents[0].superseded_at is not None
    assert near_miss.caught_by.username in ("nurse", "nurse2")


def test_a_six_lumbar_patient_counted_from_the_sacrum_only_needs_a_second_reference(seeded) -> None:
    record = AnatomyRecord.objects.get(case__in=_demo(), lumbar=6, superseded_at__isnull=True)
    case = Case.objects.get(pk=record.case_id)
    assert case.state == CaseState.LOCALIZATION
    assert case.verdict == "incomplete"
    assert {f["code"] for f in case.latest_verdict.findings if f["severity"] != "warning"} == {
        "SECOND_REFERENCE_REQUIRED"
    }
    reads = list(Localization.objects.filter(case=case, superseded_at__isnull=True))
    assert [(r.reference, r.marker_in_place) for r in reads] == [("sacrum", True)]


def test_a_case_completed_through_sign_out(seeded) -> None:
    case = _demo().get(state=CaseState.COMPLETED)
    assert case.verdict == "pass" and case.signed_out_at is not None
    plan = PlanVersion.objects.get(case=case)
    assert plan.levels == "L2"
    read = Localization.objects.get(case=case)
    assert (read.reference, read.count, read.label, read.marker_in_place) == ("sacrum", 4, "L2", True)
    assert read.durable_mark_placed
    assert read.confirmed_signature is not None
    assert read.confirmed_signature.signer == case.surgeon
    assert case.treated_levels == "L2"


def test_every_row_was_written_through_an_audited_service(seeded) -> None:
    assert audit.verify().ok
    demo = _demo()
    audited = set(AuditEvent.objects.filter(case__in=demo).values_list("object_type", "object_id"))
    for model in (PlanVersion, Consent, SiteMarking, PreopImaging, AnatomyRecord, Localization):
        for pk in model.objects.filter(case__in=demo).values_list("pk", flat=True):
            assert (model.__name__, str(pk)) in audited, f"{model.__name__} {pk} has no audit event"
    for pk in StepAttestation.objects.filter(run__case__in=demo).values_list("pk", flat=True):
        assert ("StepAttestation", str(pk)) in audited
    for case in demo:
        assert AuditEvent.objects.filter(case=case, action="case.scheduled").exists()
    # Realistic actors: the surgeon signs, the nurse records consent, the radiographer the anatomy.
    for signature in Signature.objects.filter(case__in=demo).select_related("case"):
        assert signature.signer == signature.case.surgeon
    recorded_by = {
        model.__name__: set(model.objects.filter(case__in=demo).values_list("recorded_by__username", flat=True))
        for model in (Consent, AnatomyRecord, Localization)
    }
    assert recorded_by["Consent"] <= {"nurse", "nurse2"}
    assert recorded_by["AnatomyRecord"] == recorded_by["Localization"] == {"radiographer"}


def test_verify_audit_passes_on_the_demo_data(seeded) -> None:
    assert audit.verify().ok
    if "verify_audit" not in get_commands():
        return
    out = StringIO()
    try:
        call_command("verify_audit", stdout=out)
    except SystemExit as exit_:
        assert exit_.code in (0, None), out.getvalue()


def test_a_later_day_adds_that_days_cases_and_keeps_the_earlier_ones() -> None:
    with time_machine.travel(_local(SEED_DAY, 9, 0), tick=True):
        _seed()
    first_day = set(_demo().values_list("pk", flat=True))
    patients = Patient.objects.filter(mrn__startswith="DEMO-").count()
    next_day = SEED_DAY + dt.timedelta(days=1)
    with time_machine.travel(_local(next_day, 7, 0), tick=True):
        output = _seed()
    assert "Added" in output
    assert set(_demo().values_list("pk", flat=True)) >= first_day
    assert _demo().count() == 2 * len(first_day)
    assert Patient.objects.filter(mrn__startswith="DEMO-").count() == patients  # the same patients come back
    later = _demo().exclude(pk__in=first_day)
    assert {timezone.localtime(c.scheduled_start).date() for c in later} == {next_day}
    assert audit.verify().ok
