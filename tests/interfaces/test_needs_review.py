"""Appointments the EHR sent that need review: listed for the nurse in charge on the case list,
and resolved (procedure, room, surgeon chosen) through an audited service."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from checklist.access import roles
from checklist.models import AuditEvent, Case, Room
from core.errors import ConflictError, ForbiddenError
from interfaces import actions, services
from interfaces.models import Appointment, AppointmentStatus, ServiceCodeMapping
from interfaces.samples import siu
from tests.support.factories import UserFactory

pytestmark = pytest.mark.django_db


def tomorrow(hour: int = 8) -> dt.datetime:
    day = timezone.localtime() + dt.timedelta(days=1)
    return day.replace(hour=hour, minute=0, second=0, microsecond=0, tzinfo=None)


@pytest.fixture
def hospital(db: None) -> dict:
    room = Room.objects.get_or_create(name="OR 1")[0]
    surgeon = UserFactory(username="surgeon", roles=[roles.SURGEON], full_name="Dr Sid Surgeon")
    UserFactory(username="anesthesia", roles=[roles.ANESTHESIA], full_name="Dr Gas")
    ServiceCodeMapping.objects.create(code="SNRB-L", procedure="selective_nerve_root_block")
    charge = UserFactory(username="charge", roles=[roles.NURSE, roles.CHARGE_NURSE], full_name="Cara Charge")
    room.staff.add(charge)
    nurse = UserFactory(username="plain", roles=[roles.NURSE], full_name="Pat Plain")
    room.staff.add(nurse)
    return {"room": room, "surgeon": surgeon, "charge": charge, "nurse": nurse}


def unmapped_appointment() -> Appointment:
    services.message_receive(
        raw=siu(
            "S12", control_id="C1", appointment_id="APT9", start=tomorrow(), service_code="99999", room="THEATRE 7"
        ).encode()
    )
    return Appointment.objects.get(appointment_id="APT9")


def test_the_nurse_in_charge_sees_each_appointment_that_needs_review_with_its_reasons(client, hospital) -> None:
    unmapped_appointment()
    client.force_login(hospital["charge"])
    page = client.get("/cases/").content.decode()
    assert "appointments that need review (1)" in page
    assert "DOE, JANE" in page and "MRN MRN1001" in page
    assert "Service code &#x27;99999&#x27; (AIS-3) is not in the mapping table." in page
    assert "Room &#x27;THEATRE 7&#x27; (AIL-3) is not a RightLevel room." in page


def test_a_nurse_who_is_not_in_charge_does_not_see_the_list_and_cannot_resolve(client, hospital) -> None:
    appointment = unmapped_appointment()
    client.force_login(hospital["nurse"])
    assert "need review" not in client.get("/cases/").content.decode()
    assert client.get(f"/interfaces/appointments/{appointment.pk}/resolve").status_code == 403
    with pytest.raises(ForbiddenError):
        services.appointment_resolve(
            actor=hospital["nurse"], appointment=appointment, procedure="discectomy",
            room=hospital["room"], surgeon=hospital["surgeon"],
        )  # fmt: skip


def test_resolving_schedules_the_case_and_audits_what_was_sent_and_what_was_chosen(client, hospital) -> None:
    appointment = unmapped_appointment()
    client.force_login(hospital["charge"])
    response = client.post(
        f"/interfaces/appointments/{appointment.pk}/resolve",
        {"procedure": "discectomy", "room": hospital["room"].pk, "surgeon": hospital["surgeon"].pk},
    )
    assert response.status_code == 302
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.SCHEDULED and appointment.review_reasons == []
    case = Case.objects.get()
    assert appointment.case == case
    assert (case.procedure, case.room, case.surgeon, case.patient.mrn) == (
        "discectomy", hospital["room"], hospital["surgeon"], "MRN1001",
    )  # fmt: skip
    assert timezone.localtime(case.scheduled_start).hour == 8
    event = AuditEvent.objects.get(action=actions.APPOINTMENT_RESOLVED)
    assert event.actor_username == "charge" and event.case == case
    assert event.before["service_code"] == "99999" and event.before["room"] == "THEATRE 7"
    assert event.after["procedure"] == "discectomy" and event.after["room"] == "OR 1"
    assert AuditEvent.objects.filter(action="case.scheduled", case=case, actor_username="charge").exists()
    assert "need review" not in client.get("/cases/").content.decode()
    # Resolved once: a second attempt is a conflict and schedules nothing more.
    with pytest.raises(ConflictError):
        services.appointment_resolve(
            actor=hospital["charge"], appointment=appointment, procedure="discectomy",
            room=hospital["room"], surgeon=hospital["surgeon"],
        )  # fmt: skip
    assert Case.objects.count() == 1


def test_a_bad_choice_is_a_form_error_and_nothing_is_scheduled(client, hospital) -> None:
    appointment = unmapped_appointment()
    other = Room.objects.create(name="OR 5")  # not the charge nurse's room
    client.force_login(hospital["charge"])
    response = client.post(
        f"/interfaces/appointments/{appointment.pk}/resolve",
        {"procedure": "yoga", "room": other.pk, "surgeon": hospital["surgeon"].pk},
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "procedure" in errors and "room" in errors
    anesthesia_as_surgeon = UserFactory(username="gas2", roles=[roles.ANESTHESIA])
    response = client.post(
        f"/interfaces/appointments/{appointment.pk}/resolve",
        {"procedure": "discectomy", "room": hospital["room"].pk, "surgeon": anesthesia_as_surgeon.pk},
    )
    assert response.status_code == 400 and "surgeon" in response.context["form"].errors
    assert not Case.objects.exists()
    assert not AuditEvent.objects.filter(action=actions.APPOINTMENT_RESOLVED).exists()


def test_an_unknown_appointment_is_404_for_the_nurse_in_charge(client, hospital) -> None:
    client.force_login(hospital["charge"])
    assert client.get("/interfaces/appointments/999999/resolve").status_code == 404
