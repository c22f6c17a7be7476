"""A real MLLP listener over TCP: schedules in, ACKs out, exactly once, in order, audited."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from django.utils import timezone

from checklist.models import AuditEvent, Case, CaseState, Patient
from interfaces import actions
from interfaces.mllp import END, START, frame
from interfaces.models import Appointment, AppointmentStatus, InboundMessage, MessageStatus
from interfaces.samples import adt_a08, siu

pytestmark = [pytest.mark.django_db(transaction=True)]


def tomorrow(hour: int = 8) -> dt.datetime:
    day = timezone.localtime() + dt.timedelta(days=1)
    return day.replace(hour=hour, minute=0, second=0, microsecond=0, tzinfo=None)


def msa(ack: str) -> list[str]:
    return next(s for s in ack.split("\r") if s.startswith("MSA")).split("|")


def err(ack: str) -> list[str]:
    return next(s for s in ack.split("\r") if s.startswith("ERR")).split("|")


def test_new_appointment_becomes_a_case_audited_by_the_interface(listener, hospital) -> None:
    with listener.client() as client:
        ack = client.send(siu("S12", control_id="C1", appointment_id="APT1", start=tomorrow()))
    assert ack.startswith("MSH|^~\\&|RIGHTLEVEL|")
    assert msa(ack)[:3] == ["MSA", "AA", "C1"]
    case = Case.objects.get()
    assert case.patient.mrn == "MRN1001"
    assert case.procedure == "selective_nerve_root_block"
    assert case.room.name == "OR 1" and case.surgeon.username == "surgeon"
    assert case.anesthesia is not None and case.anesthesia.username == "anesthesia"
    assert timezone.localtime(case.scheduled_start).replace(tzinfo=None) == tomorrow()
    events = AuditEvent.objects.filter(case=case).order_by("seq")
    assert {e.actor_username for e in events} == {"hl7-interface"}
    applied = events.get(action=actions.MESSAGE_APPLIED)
    assert applied.after["sending_facility"] == "GENHOSP"
    assert applied.after["control_id"] == "C1"
    assert "case.scheduled" in [e.action for e in events]
    record = InboundMessage.objects.get()
    assert record.status == MessageStatus.APPLIED and record.case == case
    assert record.raw.startswith("MSH|") and "APT1" in record.raw


def test_a_repeat_is_acknowledged_and_applied_once(listener, hospital) -> None:
    message = siu("S12", control_id="C1", appointment_id="APT1", start=tomorrow())
    with listener.client() as client:
        first = client.send(message)
        second = client.send(message)
    with listener.client() as other:
        third = other.send(message)
    assert [msa(a)[1] for a in (first, second, third)] == ["AA", "AA", "AA"]
    assert Case.objects.count() == 1
    assert InboundMessage.objects.count() == 1
    assert AuditEvent.objects.filter(action=actions.MESSAGE_APPLIED).count() == 1


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"service_code": "XYZ"}, "Service code 'XYZ' (AIS-3) is not in the mapping table."),
        ({"room": "OR 9"}, "Room 'OR 9' (AIL-3) is not a RightLevel room."),
        ({"surgeon": "dr-who"}, "Surgeon 'dr-who' (AIP-3) is not a RightLevel surgeon."),
    ],
)
def test_unknown_code_room_or_surgeon_is_never_guessed(listener, hospital, change, reason) -> None:
    with listener.client() as client:
        ack = client.send(siu("S12", control_id="C1", appointment_id="APT1", start=tomorrow(), **change))
    assert msa(ack)[1] == "AA"
    assert Case.objects.count() == 0
    appointment = Appointment.objects.get()
    assert appointment.status == AppointmentStatus.NEEDS_REVIEW
    assert appointment.review_reasons == [reason]
    event = AuditEvent.objects.get(action=actions.APPOINTMENT_NEEDS_REVIEW)
    assert event.after["reasons"] == [reason]


def test_reschedule_cancel_and_the_cancelled_case_stays(listener, hospital) -> None:
    with listener.client() as client:
        client.send(siu("S12", control_id="C1", appointment_id="APT1", start=tomorrow(8)))
        ack = client.send(siu("S13", control_id="C2", appointment_id="APT1", start=tomorrow(11), room="OR 2"))
        assert msa(ack)[1] == "AA"
        case = Case.objects.get()
        assert timezone.localtime(case.scheduled_start).hour == 11
        assert case.room.name == "OR 2"
        ack = client.send(siu("S15", control_id="C3", appointment_id="APT1", start=tomorrow(11)))
    assert msa(ack)[1] == "AA"
    case.refresh_from_db()
    assert case.state == CaseState.CANCELLED
    assert Appointment.objects.get().status == AppointmentStatus.CANCELLED
    actions_on_chain = list(AuditEvent.objects.filter(case=case).order_by("seq").values_list("action", flat=True))
    assert actions.CASE_RESCHEDULED in actions_on_chain
    assert actions.CASE_CANCELLED in actions_on_chain
    assert actions_on_chain.count(actions.MESSAGE_APPLIED) == 3


def test_no_show_cancels_the_case(listener, hospital) -> None:
    with listener.client() as client:
        client.send(siu("S12", control_id="C1", appointment_id="APT1", start=tomorrow()))
        ack = client.send(siu("S26", control_id="C2", appointment_id="APT1", start=tomorrow()))
    assert msa(ack)[1] == "AA"
    assert Case.objects.get().state == CaseState.CANCELLED
    assert Appointment.objects.get().status == AppointmentStatus.NO_SHOW


def test_a_change_before_its_appointment_is_held_then_applied_in_order(listener, hospital) -> None:
    with listener.client() as client:
        ack = client.send(siu("S13", control_id="C2", appointment_id="APT1", start=tomorrow(10)))
        assert msa(ack)[1] == "AA"
        assert InboundMessage.objects.get(control_id="C2").status == MessageStatus.HELD
        assert Case.objects.count() == 0
        client.send(siu("S14", control_id="C3", appointment_id="APT1", start=tomorrow(12), surgeon="surgeon2"))
        client.send(siu("S12", control_id="C1", appointment_id="APT1", start=tomorrow(8)))
    case = Case.objects.get()
    # Applied in the order received: S13 (10:00), then S14 (12:00, the second surgeon).
    assert timezone.localtime(case.scheduled_start).hour == 12
    assert case.surgeon.username == "surgeon2"
    assert set(InboundMessage.objects.values_list("status", flat=True)) == {MessageStatus.APPLIED}
    reschedules = AuditEvent.objects.filter(case=case, action=actions.CASE_RESCHEDULED).order_by("seq")
    assert [e.after["control_id"] for e in reschedules] == ["C2", "C3"]


def test_patient_update(listener, hospital) -> None:
    with listener.client() as client:
        client.send(siu("S12", control_id="C1", appointment_id="APT1", start=tomorrow()))
        ack = client.send(adt_a08(control_id="C2", mrn="MRN1001", family="SMITH", given="JANE"))
    assert msa(ack)[1] == "AA"
    assert Patient.objects.get().family_name == "SMITH"
    case = Case.objects.get()
    assert AuditEvent.objects.filter(case=case, action=actions.PATIENT_UPDATED).count() == 1


GOOD = siu("S12", control_id="OK1", appointment_id="APTOK", start=tomorrow())
MRN_AND_NAME = ("MRN1001", "DOE", "JANE", "19600501")


def _replace(message: str, old: str, new: str) -> str:
    assert old in message
    return message.replace(old, new)


BAD = [
    ("not hl7", b"hello, this is not HL7", "AR", "MSH^1"),
    ("wrong version", _replace(GOOD, "|P|2.5.1", "|P|3.0").encode(), "AR", "MSH^1^12"),
    ("unknown trigger", _replace(GOOD, "SIU^S12^SIU_S12", "SIU^S99").encode(), "AR", "MSH^1^9"),
    ("unknown type", _replace(GOOD, "SIU^S12^SIU_S12", "ORU^R01").encode(), "AR", "MSH^1^9"),
    ("no control id", _replace(GOOD, "|OK1|", "||").encode(), "AR", "MSH^1^10"),
    ("no PID", "\r".join(s for s in GOOD.split("\r") if not s.startswith("PID")).encode(), "AE", "PID^1"),
    ("PID without MRN", _replace(GOOD, "MRN1001^^^GENHOSP^MR", "").encode(), "AE", "PID^1^3"),
    ("bad birth date", _replace(GOOD, "|19600501|", "|01/05/1960|").encode(), "AE", "PID^1^7"),
    ("impossible birth date", _replace(GOOD, "|19600501|", "|19601341|").encode(), "AE", "PID^1^7"),
    ("bad start", GOOD.replace(tomorrow().strftime("%Y%m%d%H%M%S"), "tomorrow").encode(), "AE", "SCH^1^11"),
    ("no AIS", "\r".join(s for s in GOOD.split("\r") if not s.startswith("AIS")).encode(), "AE", "AIS^1"),
    ("no SCH", "\r".join(s for s in GOOD.split("\r") if not s.startswith("SCH")).encode(), "AE", "SCH^1"),
    ("binary", b"MSH|^~\\&|\xff\xfe\x00\x01", "AR", "MSH^1^4"),
    ("repeated encoding character", _replace(GOOD, "MSH|^~\\&|", "MSH|^^\\&|").encode(), "AR", "MSH^1"),
    ("five encoding characters", _replace(GOOD, "MSH|^~\\&|", "MSH|^~\\&#|").encode(), "AR", "MSH^1"),
]


@pytest.mark.parametrize(("name", "payload", "code", "location"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_refused_naming_segment_and_field(listener, hospital, caplog, name, payload, code, location):
    caplog.set_level(logging.INFO, logger="rightlevel.interfaces")
    with listener.client() as client:
        ack = client.send(payload)
        assert msa(ack)[1] == code, ack
        assert err(ack)[2] == location, ack
        assert err(ack)[8], "ERR-8 tells the reason"
        # The listener keeps serving on the same connection.
        assert msa(client.send(GOOD))[1] == "AA"
    assert Case.objects.count() == 1
    for record in caplog.records:
        line = record.getMessage()
        assert not any(value in line for value in MRN_AND_NAME), line


def test_framing_faults_and_a_10_mb_message(listener, hospital) -> None:
    with listener.client() as client:
        # Bytes outside a frame are skipped; the frame after them is read.
        client.send_raw(b"garbage before the frame")
        assert msa(client.send(siu("S12", control_id="F1", appointment_id="APTF1", start=tomorrow())))[1] == "AA"
        # A 10 MB message: AR, and the connection goes on.
        huge = GOOD + "\rNTE|1||" + "x" * (10 * 1024 * 1024)
        client.send_raw(START + huge.encode())
        client.send_raw(END)
        ack = client.receive()
        assert msa(ack)[1] == "AR" and "larger than" in err(ack)[8]
        assert msa(client.send(siu("S12", control_id="F2", appointment_id="APTF2", start=tomorrow(9))))[1] == "AA"
        # A frame with its end block split across two sends.
        data = frame(siu("S12", control_id="F3", appointment_id="APTF3", start=tomorrow(10)))
        client.send_raw(data[:-1])
        client.send_raw(data[-1:])
        assert msa(client.receive())[1] == "AA"
    # A connection closed in the middle of a frame does not stop the listener.
    with listener.client() as client:
        client.send_raw(START + b"MSH|^~\\&|half a message")
    with listener.client() as client:
        assert msa(client.send(siu("S12", control_id="F4", appointment_id="APTF4", start=tomorrow(11))))[1] == "AA"
    assert Case.objects.count() == 4


def test_an_internal_fault_is_answered_and_the_listener_goes_on(listener, hospital, monkeypatch) -> None:
    from interfaces import services

    original = services.message_receive
    faults: list[int] = []

    def faulty_once(*, raw: bytes, peer: str = "") -> str:
        if not faults:
            faults.append(1)
            raise RuntimeError("a fault inside the application")
        return original(raw=raw, peer=peer)

    monkeypatch.setattr(services, "message_receive", faulty_once)
    with listener.client() as client:
        ack = client.send(GOOD)
        assert msa(ack)[1:3] == ["AE", "OK1"]
        assert err(ack)[3].startswith("207^")
        assert msa(client.send(GOOD))[1] == "AA"
    assert Case.objects.count() == 1
