"""Permissions enforced by the services themselves (the API and pages only add to this): room scope,
case scope, the quality officer who changes nothing, the administrator who never attests or signs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.utils import timezone

from checklist import services
from checklist.access import roles
from checklist.models import AuditEvent, Case, Localization
from checklist.selectors import checklist_status
from core.errors import ApplicationError, ForbiddenError
from tests.support.factories import TEST_PASSWORD, UserFactory
from tests.support.workflow import Team, case_schedule, case_through_time_out, evidence_record, team_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def other_room() -> Team:
    """A second room with its own nurse, anesthesia, radiographer and surgeon."""
    return team_create("OR 2", suffix="2")


def _writes(team: Team, case: Case) -> dict[str, Callable[[object], object]]:
    """Every case-scoped write, as a function of the actor."""
    today = timezone.localdate()
    loc = Localization.objects.filter(case=case).first()
    return {
        "case_patient_in_room": lambda a: services.case_patient_in_room(actor=a, case=case),
        "plan_revise": lambda a: services.plan_revise(
            actor=a, case=case, procedure=case.procedure, levels="L2", side="left"
        ),
        "plan_sign": lambda a: services.plan_sign(
            actor=a, case=case, plan_number=1, password=TEST_PASSWORD, username=getattr(a, "username", "")
        ),
        "consent_record": lambda a: services.consent_record(
            actor=a, case=case, procedure=case.procedure, levels="L2", side="left", date_signed=today, witness="W"
        ),
        "marking_record": lambda a: services.marking_record(
            actor=a, case=case, region="lumbar", side="left", marked_by=team.surgeon
        ),
        "imaging_record": lambda a: services.imaging_record(
            actor=a, case=case, modality="mri", study_date=today, levels="L2", reviewed_by=team.surgeon
        ),
        "anatomy_record": lambda a: services.anatomy_record(actor=a, case=case, thoracic=12, lumbar=5),
        "localization_record": lambda a: services.localization_record(
            actor=a,
            case=case,
            phase="pre_incision",
            reference="c2",
            count=19,
            label="L2",
            marker_in_place=True,
            read_by=team.surgeon,
        ),
        "localization_mark_durable": lambda a: services.localization_mark_durable(
            actor=a, case=case, localization_id=loc.pk if loc else 0
        ),
        "localization_confirm": lambda a: services.localization_confirm(
            actor=a, case=case, password=TEST_PASSWORD, username=getattr(a, "username", "")
        ),
        "step_attest": lambda a: services.step_attest(actor=a, case=case.pk, step_code="level_image_read"),
        "time_out_complete": lambda a: services.time_out_complete(actor=a, case=case.pk),
        "treated_levels_record": lambda a: services.treated_levels_record(actor=a, case=case, levels="L2"),
        "sign_out_complete": lambda a: services.sign_out_complete(actor=a, case=case.pk),
    }


@pytest.fixture
def case_in_localization(team: Team) -> Case:
    case = case_schedule(team)
    evidence_record(team, case)
    case = case_through_time_out(team, case)
    services.localization_record(
        actor=team.radiographer,
        case=case,
        phase="pre_incision",
        reference="sacrum",
        count=4,
        label="L2",
        marker_in_place=True,
        read_by=team.surgeon,
    )
    return Case.objects.get(pk=case.pk)


def test_the_quality_officer_is_refused_on_every_write(team, case_in_localization) -> None:
    case = case_in_localization
    before = AuditEvent.objects.filter(case=case).count()
    for name, write in _writes(team, case).items():
        with pytest.raises(ForbiddenError):
            write(team.quality)
            pytest.fail(f"{name} accepted the quality officer")
    with pytest.raises(ForbiddenError):
        services.case_schedule(
            actor=team.quality,
            mrn="QO-1",
            family_name="Doe",
            given_name="Jo",
            date_of_birth=dt.date(1970, 1, 1),
            room=team.room,
            scheduled_start=timezone.now(),
            surgeon=team.surgeon,
            procedure="discectomy",
        )
    with pytest.raises(ForbiddenError):
        services.signing_unlock(actor=team.quality, user=team.surgeon, reason="because")
    assert AuditEvent.objects.filter(case=case).count() == before


def test_the_administrator_never_attests_or_signs(team, case_in_localization) -> None:
    case = case_in_localization
    writes = _writes(team, case)
    for name in (
        "step_attest",
        "plan_sign",
        "localization_confirm",
        "plan_revise",
        "consent_record",
        "time_out_complete",
        "sign_out_complete",
    ):
        with pytest.raises(ForbiddenError):
            writes[name](team.admin)
            pytest.fail(f"{name} accepted the administrator")
    # Even an administrator who is also a superuser holds no attesting role.
    team.admin.is_superuser = True
    team.admin.save()
    step = next(s for s in checklist_status(case) if s.phase == "localization")
    with pytest.raises(ForbiddenError):
        services.step_attest(actor=team.admin, case=case.pk, step_code=step.code, role="nurse")


def test_staff_of_another_room_are_refused(team, other_room, case_in_localization) -> None:
    case = case_in_localization
    writes = _writes(team, case)
    for actor, names in (
        (other_room.nurse, ("consent_record", "marking_record", "step_attest", "time_out_complete", "anatomy_record")),
        (other_room.radiographer, ("anatomy_record", "imaging_record", "localization_record", "step_attest")),
        (other_room.anesthesia, ("step_attest",)),
        (other_room.surgeon, ("plan_revise", "plan_sign", "localization_confirm", "consent_record")),
    ):
        for name in names:
            with pytest.raises(ForbiddenError, match="not in your rooms"):
                writes[name](actor)
                pytest.fail(f"{name} accepted {actor.username}")


def test_the_assigned_anesthetist_acts_without_being_room_staff(team, other_room) -> None:
    case = case_schedule(team, anesthesia=other_room.anesthesia)
    evidence_record(team, case)
    services.case_patient_in_room(actor=team.nurse, case=case)
    attestation = services.step_attest(actor=other_room.anesthesia, case=case.pk, step_code="anesthesia_safety_check")
    assert attestation.user == other_room.anesthesia


def test_a_nurse_schedules_only_in_her_rooms(team, other_room) -> None:
    with pytest.raises(ApplicationError) as caught:
        case_schedule(other_room, room=team.room, anesthesia=None, surgeon=other_room.surgeon)
    assert "room" in caught.value.errors
    case = case_schedule(team, anesthesia=None)
    assert case.room == team.room


def test_scheduling_checks_the_people_named(team) -> None:
    with pytest.raises(ApplicationError) as caught:
        case_schedule(team, surgeon=team.nurse)
    assert "surgeon" in caught.value.errors
    with pytest.raises(ApplicationError) as caught:
        case_schedule(team, anesthesia=team.nurse)
    assert "anesthesia" in caught.value.errors
    with pytest.raises(ApplicationError) as caught:
        case_schedule(team, procedure="appendectomy")
    assert "procedure" in caught.value.errors
    first = case_schedule(team, mrn="MRN-SAME")
    with pytest.raises(ApplicationError) as caught:
        case_schedule(team, mrn="MRN-SAME", given_name="John")
    assert "mrn" in caught.value.errors
    again = case_schedule(team, mrn="MRN-SAME")
    assert again.patient == first.patient


def test_a_surgeon_who_is_not_on_the_case_cannot_write_its_plan(team) -> None:
    stranger = UserFactory(username="stranger", roles=[roles.SURGEON], full_name="Dr Stranger")
    case = case_schedule(team)
    with pytest.raises(ForbiddenError):
        services.plan_revise(actor=stranger, case=case, procedure=case.procedure, levels="L2", side="left")
    co = UserFactory(username="co", roles=[roles.SURGEON], full_name="Dr Co")
    case_with_co = case_schedule(team, co_surgeons=[co])
    plan = services.plan_revise(actor=co, case=case_with_co, procedure=case.procedure, levels="L2", side="left")
    assert plan.created_by == co


def test_only_a_nurse_records_the_patient_entering_the_room(team) -> None:
    case = case_schedule(team)
    for actor in (team.surgeon, team.anesthesia, team.radiographer, team.admin):
        with pytest.raises(ForbiddenError):
            services.case_patient_in_room(actor=actor, case=case)


def test_only_an_administrator_configures_rooms_and_a_no_op_writes_nothing(team) -> None:
    for actor in (team.nurse, team.quality, team.surgeon):
        with pytest.raises(ForbiddenError):
            services.room_ensure(actor=actor, name="OR 9", staff=[team.nurse])
    room, created = services.room_ensure(actor=team.admin, name=" OR 9 ", staff=[team.nurse, team.radiographer])
    assert created and room.name == "OR 9"
    assert set(room.staff.values_list("username", flat=True)) == {team.nurse.username, team.radiographer.username}
    events = AuditEvent.objects.filter(chain="system", object_type="Room", object_id=str(room.pk))
    assert list(events.values_list("action", flat=True)) == ["room.created", "room.staff_added"]
    again, created = services.room_ensure(actor=team.admin, name="OR 9", staff=[team.nurse])
    assert again == room and not created
    assert events.count() == 2
    services.room_ensure(actor=team.admin, name="OR 9", staff=[team.anesthesia])
    last = events.order_by("-seq").first()
    assert last.after["added"] == [team.anesthesia.username]
    assert team.nurse.username in last.before["staff"]
