"""The mapping table (admin, audited), retention of raw messages, held retries, and the cases the
interface must not change."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from checklist.access import roles
from checklist.models import AuditEvent, Case, CaseState
from interfaces import actions, services
from interfaces.models import Appointment, AppointmentStatus, InboundMessage, MessageStatus, ServiceCodeMapping
from interfaces.samples import adt_a08, siu
from tests.support.factories import UserFactory

pytestmark = pytest.mark.django_db


def tomorrow(hour: int = 8) -> dt.datetime:
    day = timezone.localtime() + dt.timedelta(days=1)
    return day.replace(hour=hour, minute=0, second=0, microsecond=0, tzinfo=None)


def receive(text: str) -> list[str]:
    ack = services.message_receive(raw=text.encode())
    return next(s for s in ack.split("\r") if s.startswith("MSA")).split("|")


@pytest.fixture
def hospital(db: None) -> None:
    from checklist.models import Room

    Room.objects.get_or_create(name="OR 1")
    UserFactory(username="surgeon", roles=[roles.SURGEON], full_name="Dr Sid Surgeon")
    UserFactory(username="anesthesia", roles=[roles.ANESTHESIA], full_name="Dr Gas")
    ServiceCodeMapping.objects.create(code="SNRB-L", procedure="selective_nerve_root_block")


@pytest.fixture
def admin_client(client):
    admin = UserFactory(username="root", roles=[roles.ADMIN], is_staff=True, is_superuser=True, full_name="Ada Admin")
    client.force_login(admin)
    return client


def test_mapping_edits_in_the_admin_are_audited(admin_client) -> None:
    response = admin_client.post(
        "/admin/interfaces/servicecodemapping/add/",
        {"code": "63030", "procedure": "discectomy", "description": "Lumbar discectomy"},
    )
    assert response.status_code == 302
    mapping = ServiceCodeMapping.objects.get(code="63030")
    response = admin_client.post(
        f"/admin/interfaces/servicecodemapping/{mapping.pk}/change/",
        {"code": "63030", "procedure": "decompression", "description": "Lumbar discectomy"},
    )
    assert response.status_code == 302
    saved = list(AuditEvent.objects.filter(action=actions.MAPPING_SAVED).order_by("seq"))
    assert [e.actor_username for e in saved] == ["root", "root"]
    assert saved[0].before is None and saved[0].after["procedure"] == "discectomy"
    assert saved[1].before["procedure"] == "discectomy" and saved[1].after["procedure"] == "decompression"
    response = admin_client.post(f"/admin/interfaces/servicecodemapping/{mapping.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not ServiceCodeMapping.objects.exists()
    assert AuditEvent.objects.get(action=actions.MAPPING_DELETED).before["code"] == "63030"
    # An unknown procedure is a form error, never a 500.
    response = admin_client.post("/admin/interfaces/servicecodemapping/add/", {"code": "X", "procedure": "yoga"})
    assert response.status_code == 200 and response.context["adminform"].form.errors["procedure"]


def test_only_an_administrator_edits_the_mapping(db: None) -> None:
    nurse = UserFactory(username="nn", roles=[roles.NURSE], full_name="Nina")
    with pytest.raises(Exception, match="Only an administrator"):
        services.service_code_mapping_save(actor=nurse, code="X", procedure="fusion")


def test_messages_are_read_only_in_the_admin(admin_client, hospital) -> None:
    receive(siu("S12", control_id="C1", appointment_id="APT1", start=tomorrow()))
    record = InboundMessage.objects.get()
    assert admin_client.get("/admin/interfaces/inboundmessage/").status_code == 200
    delete = admin_client.post(f"/admin/interfaces/inboundmessage/{record.pk}/delete/", {"post": "yes"})
    assert delete.status_code == 403
    assert admin_client.get("/admin/interfaces/appointment/").status_code == 200


def test_a_conflicting_patient_identity_needs_review(hospital) -> None:
    receive(siu("S12", control_id="C1", appointment_id="APT1", start=tomorrow()))
    assert receive(siu("S12", control_id="C2", appointment_id="APT2", start=tomorrow(10), given="JOAN"))[1] == "AA"
    appointment = Appointment.objects.get(appointment_id="APT2")
    assert appointment.status == AppointmentStatus.NEEDS_REVIEW and appointment.case is None
    assert appointment.review_reasons[0].startswith("Not scheduled: ")
    assert Case.objects.count() == 1


def test_the_same_appointment_booked_twice_is_an_error(hospital) -> None:
    receive(siu("S12", control_id="C1", appointment_id="APT1", start=tomorrow()))
    assert receive(siu("S12", control_id="C2", appointment_id="APT1", start=tomorrow()))[1] == "AE"
    assert Case.objects.count() == 1


def test_a_case_under_way_is_not_moved_or_cancelled_by_the_ehr(hospital) -> None:
    receive(siu("S12", control_id="C1", appointment_id="APT1", start=tomorrow()))
    case = Case.objects.get()
    Case.objects.filter(pk=case.pk).update(state=CaseState.SIGN_IN)
    assert receive(siu("S13", control_id="C2", appointment_id="APT1", start=tomorrow(12)))[1] == "AA"
    assert receive(siu("S15", control_id="C3", appointment_id="APT1", start=tomorrow(12)))[1] == "AA"
    case.refresh_from_db()
    assert case.state == CaseState.SIGN_IN
    assert timezone.localtime(case.scheduled_start).hour == 8
    assert InboundMessage.objects.get(control_id="C2").status == MessageStatus.NEEDS_REVIEW
    assert len(Appointment.objects.get().review_reasons) == 2


def test_an_update_for_an_unknown_patient_changes_nothing(hospital) -> None:
    assert receive(adt_a08(control_id="A1", mrn="NOPE", family="X", given="Y"))[1] == "AA"
    assert InboundMessage.objects.get().status == MessageStatus.IGNORED


def test_maintenance_applies_held_messages_and_purges_old_raw_text(hospital, capsys) -> None:
    receive(siu("S13", control_id="C2", appointment_id="APT1", start=tomorrow(10)))
    held = InboundMessage.objects.get(control_id="C2")
    assert held.status == MessageStatus.HELD
    call_command("hl7_maintain")
    assert "0 held messages applied, 1 still held" in capsys.readouterr().out
    receive(siu("S12", control_id="C1", appointment_id="APT1", start=tomorrow(8)))
    assert InboundMessage.objects.get(control_id="C2").status == MessageStatus.APPLIED
    with time_machine.travel(timezone.now() + dt.timedelta(days=100)):  # the rows' own time is fixed
        call_command("hl7_maintain", "--retention-days", "90")
    assert "2 raw messages purged" in capsys.readouterr().out
    assert set(InboundMessage.objects.values_list("raw", flat=True)) == {""}
    assert AuditEvent.objects.get(action=actions.RAW_PURGED).after["purged"] == 2


def test_every_action_the_interface_writes_is_in_the_one_catalogue() -> None:
    from checklist.audit.catalogue import AuditAction

    assert len(set(actions.ALL)) == len(actions.ALL)
    assert all(isinstance(action, AuditAction) for action in actions.ALL)
    # What the interface changes in the workflow is a workflow action (the checklist's services
    # write it); the rest is the interface's own.
    assert {a for a in actions.ALL if not a.startswith("hl7.")} == {
        AuditAction.CASE_RESCHEDULED,
        AuditAction.CASE_CANCELLED,
        AuditAction.PATIENT_UPDATED,
        AuditAction.PATIENT_MERGED,
    }


def test_a_merge_moves_the_cases_to_the_surviving_patient(hospital) -> None:
    from checklist.models import Patient
    from interfaces.samples import adt_a40

    receive(siu("S12", control_id="C1", appointment_id="APT1", start=tomorrow(), mrn="OLD1"))
    receive(siu("S12", control_id="C2", appointment_id="APT2", start=tomorrow(10), mrn="NEW1"))
    ack = receive(adt_a40(control_id="M1", mrn="NEW1", prior_mrn="OLD1", family="DOE", given="JANE"))
    assert ack[1] == "AA"
    survivor = Patient.objects.get(mrn="NEW1")
    assert set(Case.objects.values_list("patient__mrn", flat=True)) == {"NEW1"}
    assert Patient.objects.filter(mrn="OLD1").exists()  # kept: the history names it
    moved = AuditEvent.objects.get(action=actions.PATIENT_MERGED, case__isnull=False)
    assert moved.before == {"patient_mrn": "OLD1"} and moved.after["patient_mrn"] == survivor.mrn
    # No MRG, or MRG-1 naming the survivor itself: AE naming MRG-1.
    no_mrg = adt_a40(control_id="M2", mrn="NEW1", prior_mrn="NEW1", family="DOE", given="JANE")
    assert receive(no_mrg)[1] == "AE"
    ack = services.message_receive(raw="\r".join(no_mrg.split("\r")[:3]).encode())
    assert "ERR||MRG^1|" in ack


def test_the_listener_is_a_compose_service() -> None:
    from pathlib import Path

    import yaml

    compose = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text())
    service = compose["services"]["mllp"]
    assert service["command"][:3] == ["python", "manage.py", "mllp_listen"]
    assert "HL7_OUTBOUND_DESTINATION" in compose["x-app"]["environment"]


def test_reprocess_after_the_mapping_is_put_right(admin_client, hospital) -> None:
    receive(siu("S12", control_id="C1", appointment_id="APT1", start=tomorrow(), service_code="63030"))
    appointment = Appointment.objects.get()
    assert appointment.status == AppointmentStatus.NEEDS_REVIEW
    url = "/admin/interfaces/appointment/"
    # Still unmapped: it stays for review, and says why.
    page = admin_client.post(url, {"action": "reprocess", "_selected_action": [appointment.pk]}, follow=True)
    assert "still needs review" in page.content.decode()
    ServiceCodeMapping.objects.create(code="63030", procedure="discectomy")
    page = admin_client.post(url, {"action": "reprocess", "_selected_action": [appointment.pk]}, follow=True)
    assert "scheduled as case" in page.content.decode()
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.SCHEDULED
    assert appointment.case is not None and appointment.case.procedure == "discectomy"
    events = AuditEvent.objects.filter(action=actions.APPOINTMENT_REPROCESSED).order_by("id")
    assert [e.actor_username for e in events] == ["root", "root"]
    assert events[1].case == appointment.case and events[1].after["from_control_id"] == "C1"
    # A scheduled appointment is not reprocessed again.
    page = admin_client.post(url, {"action": "reprocess", "_selected_action": [appointment.pk]}, follow=True)
    assert "Only an appointment that needs review" in page.content.decode()
    assert Case.objects.count() == 1


# --- the wristband's GSRN (issue 17, positive patient identification) ------------------------------

GSRN = "735005385000000011"  # 17 digits and their GS1 check digit


def test_a_gsrn_in_pid_3_is_recorded_for_the_wristband_scan_and_audited(hospital) -> None:
    from checklist.models import Patient

    assert receive(siu("S12", control_id="G1", appointment_id="APT1", start=tomorrow(), gsrn=GSRN))[1] == "AA"
    patient = Patient.objects.get(mrn="MRN1001")
    assert patient.gsrn == GSRN
    event = AuditEvent.objects.get(action="patient.updated", case__isnull=True)
    assert event.after["gsrn"] == GSRN and event.after["control_id"] == "G1"


def test_an_a08_adds_the_gsrn_and_a_bad_one_is_an_ae_naming_pid_3(hospital) -> None:
    from checklist.models import Patient

    receive(siu("S12", control_id="G1", appointment_id="APT1", start=tomorrow()))
    assert Patient.objects.get(mrn="MRN1001").gsrn is None
    ack = receive(adt_a08(control_id="G2", mrn="MRN1001", family="DOE", given="JANE", gsrn=GSRN))
    assert ack[1] == "AA"
    assert Patient.objects.get(mrn="MRN1001").gsrn == GSRN
    bad = receive(adt_a08(control_id="G3", mrn="MRN1001", family="DOE", given="JANE", gsrn="735005385000000012"))
    assert bad[1] == "AE" and "PID" in bad[-1] and "GSRN" in " ".join(bad)
    assert Patient.objects.get(mrn="MRN1001").gsrn == GSRN
