"""Every state change the interface makes, one function each, each in one transaction.

``message_receive`` is the entry point: one framed message in, one ACK out. It records the message
(raw) keyed by sending facility + MSH-10, so a repeat is answered with the first ACK and applied
once; it applies the message through the checklist services; and a change for an appointment not
seen yet is held and applied, in order of receipt, as soon as its appointment arrives.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Value
from django.utils import timezone

from checklist import audit
from checklist.access import roles
from checklist.access.policies import has_role, users_by_username
from checklist.models import Case, CaseState, Patient, Room, User
from checklist.services import (
    case_cancel,
    case_reschedule,
    case_schedule,
    patient_gsrn_record,
    patient_merge,
    patient_update,
    user_ensure,
)
from core.errors import ApplicationError, ConflictError, ForbiddenError, field_error
from interfaces import actions
from interfaces.hl7 import (
    DATA_TYPE_ERROR,
    DUPLICATE_KEY,
    INTERNAL_ERROR,
    Hl7Error,
    Hl7Message,
    ack_build,
    header_read,
    message_read,
)
from interfaces.models import (
    Appointment,
    AppointmentStatus,
    InboundMessage,
    MessageStatus,
    ServiceCodeMapping,
    appointment_key,
)

logger = logging.getLogger("rightlevel.interfaces")

INTERFACE_USERNAME = "hl7-interface"
RAW_KEEP_BYTES = 64 * 1024
UNMAPPED_CODE = "Service code {code!r} (AIS-3) is not in the mapping table."
UNKNOWN_ROOM = "Room {room!r} (AIL-3) is not a RightLevel room."
NO_ROOM = "No room (AIL-3) was sent."
UNKNOWN_SURGEON = "Surgeon {person!r} (AIP-3) is not a RightLevel surgeon."
NO_SURGEON = "No surgeon (AIP with role SURG) was sent."
UNKNOWN_ANESTHESIA = "Anesthesia {person!r} (AIP-3) is not a RightLevel anesthesia user."
ALREADY_BOOKED = "This appointment ID was already booked (S12): send S13 or S14 to change it."
CASE_NOT_SCHEDULED = "The case is {state}: the EHR's change was not applied."
# The messages that hold their (sending facility, control ID) key: a repeat of one is not applied again.
ACCEPTED = (MessageStatus.APPLIED, MessageStatus.HELD, MessageStatus.NEEDS_REVIEW, MessageStatus.IGNORED)


@dataclass
class Outcome:
    status: str
    text: str = ""
    case: Case | None = None


# While one message is received, the interface user read once (with its roles) is the actor of
# every service call and audit event it makes; never kept beyond that message.
_actor: contextvars.ContextVar[list[User] | None] = contextvars.ContextVar("hl7_interface_actor", default=None)


@contextmanager
def _one_actor() -> Iterator[None]:
    token = _actor.set([])
    try:
        yield
    finally:
        _actor.reset(token)


def interface_user() -> User:
    """The actor of everything the interface applies (an administrator account that cannot log in:
    its password is random and never shown)."""
    held = _actor.get()
    if held:
        return held[0]
    user = _interface_user_read()
    if held is not None:
        held.append(user)
    return user


def _interface_user_read() -> User:
    user = User.objects.filter(username=INTERFACE_USERNAME).first()
    if user is None:
        from django.utils.crypto import get_random_string

        user, _ = user_ensure(
            username=INTERFACE_USERNAME,
            full_name="HL7 interface",
            password=get_random_string(48),
            role_names=[roles.ADMIN],
        )
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def max_message_bytes() -> int:
    return int(settings.HL7_MAX_MESSAGE_BYTES)


# --- receiving -----------------------------------------------------------------------------------


@dataclass
class Received:
    """What receiving one message gave: the ACK to send and the message's record (the first one's
    for a repeat; none when the fault left nothing recorded)."""

    ack: str
    record: InboundMessage | None
    repeat: bool = False


def message_receive(*, raw: bytes, peer: str = "") -> str:
    """Record and apply one message; return the ACK to send (ER7 text). Never raises for bad input."""
    return _receive(raw=raw, peer=peer).ack


def _receive(*, raw: bytes, peer: str) -> Received:
    with _one_actor():
        return _receive_one(raw=raw, peer=peer)


def _receive_one(*, raw: bytes, peer: str) -> Received:
    now = timezone.now()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    # PostgreSQL text holds no NUL: kept as U+FFFD (no HL7 message carries one).
    text = text.replace("\x00", "\ufffd")
    try:
        message = message_read(text)
    except Hl7Error as error:
        return _refuse(error=error, text=text, size=len(raw), peer=peer, now=now)
    header = message.header
    # A repeat is found by the record's insert, first in the transaction: the key
    # (sending facility, control ID) is unique among accepted messages (a database constraint).
    try:
        with transaction.atomic():
            record = InboundMessage.objects.create(
                sending_facility=header.sending_facility,
                control_id=header.control_id,
                message_type=message.kind,
                appointment_key=appointment_key(header.sending_facility, message.appointment_id)
                if message.appointment_id
                else "",
                received_at=now,
                status=MessageStatus.HELD,
                ack_code="AA",
                raw=text[:RAW_KEEP_BYTES],
                raw_size=len(raw),
                peer=peer[:100],
            )
            outcome = _apply(record, message)
            _record_outcome(record, outcome)
    except IntegrityError:
        # A repeat (received before, or on another connection at the same moment): nothing of
        # this transaction was kept; answer with the first one's record.
        existing = InboundMessage.objects.get(
            sending_facility=header.sending_facility, control_id=header.control_id, status__in=ACCEPTED
        )
        return Received(_repeat_ack(existing, message, now), existing, repeat=True)
    except Hl7Error as error:
        error.header = header
        return _refuse(error=error, text=text, size=len(raw), peer=peer, now=now, message=message)
    except Exception as error:  # noqa: BLE001 - the listener answers every message, even on a fault here
        logger.error("hl7 %s control_id=%s: internal error %s", message.kind, header.control_id, type(error).__name__)
        fault = Hl7Error("AE", INTERNAL_ERROR, "Internal error: the message was not applied; send it again.")
        fault.header = header
        return Received(ack_build(header=header, code="AE", error=fault, control_id="A0", at=now), None)
    logger.info(
        "hl7 %s from %s control_id=%s: %s", message.kind, header.sending_facility, header.control_id, outcome.status
    )
    if outcome.status in (MessageStatus.APPLIED, MessageStatus.NEEDS_REVIEW) and message.header.trigger == "S12":
        held_retry(key=record.appointment_key)
    return Received(ack_build(header=header, code="AA", text=outcome.text, control_id=f"A{record.pk}", at=now), record)


def _repeat_ack(existing: InboundMessage, message: Hl7Message, now: dt.datetime) -> str:
    logger.info(
        "hl7 repeat %s from %s control_id=%s: acknowledged, not applied again",
        message.kind,
        existing.sending_facility,
        existing.control_id,
    )
    return ack_build(
        header=message.header, code="AA", text="Repeat: already received.", control_id=f"A{existing.pk}", at=now
    )


def _refuse(
    *, error: Hl7Error, text: str, size: int, peer: str, now: dt.datetime, message: Hl7Message | None = None
) -> Received:
    header = error.header
    if header is None:
        try:
            header = header_read(text)
        except Hl7Error:
            header = None
    facility = header.sending_facility[:200] if header else ""
    control_id = header.control_id[:200] if header else ""
    try:
        record = InboundMessage.objects.create(
            sending_facility=facility,
            control_id=control_id,
            message_type=(f"{header.message_code}^{header.trigger}" if header else "")[:20],
            received_at=now,
            processed_at=now,
            status=MessageStatus.ERROR if error.ack_code == "AE" else MessageStatus.REJECTED,
            ack_code=error.ack_code,
            error=str(error)[:400],
            error_location=error.location()[:20],
            raw=text[:RAW_KEEP_BYTES],
            raw_size=size,
            peer=peer[:100],
        )
    except IntegrityError:  # pragma: no cover - refused messages hold no unique key
        record = None
    logger.warning(
        "hl7 %s %s from %s control_id=%s: %s",
        error.ack_code,
        (record.message_type if record else "") or "message",
        facility or "?",
        control_id[:40] or "?",
        error,
    )
    ack = ack_build(
        header=header, code=error.ack_code, error=error, control_id=f"A{record.pk if record else 0}", at=now
    )
    return Received(ack, record)


def _record_outcome(record: InboundMessage, outcome: Outcome) -> None:
    record.status = outcome.status
    record.processed_at = timezone.now() if outcome.status != MessageStatus.HELD else None
    record.case = outcome.case
    record.save(update_fields=["status", "processed_at", "case"])


def _apply(record: InboundMessage, message: Hl7Message) -> Outcome:
    trigger = message.header.trigger
    if message.header.message_code == "ADT":
        if trigger == "A40":
            return _patient_merge(record, message)
        return _patient_update(record, message)
    if trigger == "S12":
        return _appointment_new(record, message)
    appointment = (
        Appointment.objects.select_for_update()
        .filter(sending_facility=message.header.sending_facility, appointment_id=message.appointment_id)
        .first()
    )
    if appointment is None:
        return Outcome(MessageStatus.HELD, "Held: its appointment has not been received yet.")
    if trigger in ("S13", "S14"):
        return _appointment_change(record, message, appointment)
    return _appointment_cancel(record, message, appointment)


def _audit_applied(record: InboundMessage, message: Hl7Message, case: Case | None, status: str) -> None:
    audit.append(
        action=actions.MESSAGE_APPLIED,
        actor=interface_user(),
        case=case,
        obj=record,
        after={
            "message_type": message.kind,
            "sending_facility": message.header.sending_facility,
            "sending_application": message.header.sending_application,
            "control_id": message.header.control_id,
            "appointment_id": message.appointment_id,
            "status": status,
        },
    )


# --- SIU^S12: new appointment --------------------------------------------------------------------


def _people_read(message: Hl7Message) -> dict[str, User]:
    """The users the message names, with the interface user, and the roles of each: one query.
    While a message is received, the interface user read here is the one its changes are made by."""
    people = users_by_username([INTERFACE_USERNAME, *(p.person_id for p in message.people)])
    held = _actor.get()
    interface = people.get(INTERFACE_USERNAME)
    if held is not None and not held and interface is not None:
        held.append(interface)
    return people


def _person_with_role(people: dict[str, User], person_id: str, role: str) -> User | None:
    user = people.get(person_id)
    return user if user is not None and user.is_active and has_role(user, role) else None


def _procedure_and_room(message: Hl7Message) -> tuple[str | None, Room | None]:
    """The procedure the service code maps to and the room the message names, read as they are
    now in one statement (code and room name are each unique: at most one row of each kind)."""
    mapping = ServiceCodeMapping.objects.filter(code=message.service_code).annotate(kind=Value("mapping"))
    rows = mapping.order_by().values_list("kind", "pk", "procedure")
    if message.room:
        room = Room.objects.filter(name=message.room).annotate(kind=Value("room"))
        rows = rows.union(room.order_by().values_list("kind", "pk", "name"), all=True)
    procedure, found = None, None
    for kind, pk, text in rows:
        if kind == "mapping":
            procedure = text
        else:
            found = Room.from_db(rows.db, ["id", "name"], [pk, text])
    return procedure, found


def _resolve(message: Hl7Message) -> tuple[dict[str, Any], list[str]]:
    """The case's room, surgeon, anesthesia and procedure, and a reason for each that is unknown."""
    reasons: list[str] = []
    found: dict[str, Any] = {}
    procedure, room = _procedure_and_room(message)
    if procedure is None:
        reasons.append(UNMAPPED_CODE.format(code=message.service_code))
    else:
        found["procedure"] = procedure
    if room is None:
        reasons.append(UNKNOWN_ROOM.format(room=message.room) if message.room else NO_ROOM)
    found["room"] = room
    people = _people_read(message)
    surgeons = [p for p in message.people if p.role.startswith("SURG")] or [p for p in message.people if not p.role][:1]
    if not surgeons:
        reasons.append(NO_SURGEON)
    else:
        surgeon = _person_with_role(people, surgeons[0].person_id, roles.SURGEON)
        if surgeon is None:
            reasons.append(UNKNOWN_SURGEON.format(person=surgeons[0].person_id))
        found["surgeon"] = surgeon
    found["anesthesia"] = None
    for person in message.people:
        if person.role.startswith("ANES"):
            anesthesia = _person_with_role(people, person.person_id, roles.ANESTHESIA)
            if anesthesia is None:
                reasons.append(UNKNOWN_ANESTHESIA.format(person=person.person_id))
            found["anesthesia"] = anesthesia
            break
    return found, reasons


def _case_try(message: Hl7Message) -> tuple[Case | None, list[str]]:
    """Schedule the case when every identifier resolves; else None and the reasons."""
    found, reasons = _resolve(message)
    if reasons:
        return None, reasons
    # case_schedule is atomic of its own (a savepoint here, rolled back when it refuses); the
    # GSRN is recorded with the case or neither, which needs a savepoint around both.
    try:
        with transaction.atomic() if message.gsrn else nullcontext():
            case = case_schedule(
                actor=interface_user(),
                mrn=message.mrn,
                family_name=message.family_name,
                given_name=message.given_name,
                date_of_birth=message.date_of_birth,  # type: ignore[arg-type]
                room=found["room"],
                scheduled_start=message.start,  # type: ignore[arg-type]
                surgeon=found["surgeon"],
                procedure=found["procedure"],
                anesthesia=found["anesthesia"],
            )
            _gsrn_record(message)
            return case, []
    except ApplicationError as error:
        return None, [f"Not scheduled: {_first_error(error)}"]


def _appointment_new(record: InboundMessage, message: Hl7Message) -> Outcome:
    facility = message.header.sending_facility
    if Appointment.objects.filter(sending_facility=facility, appointment_id=message.appointment_id).exists():
        raise Hl7Error("AE", DUPLICATE_KEY, ALREADY_BOOKED, "SCH", 1)
    case, reasons = _case_try(message)
    now = timezone.now()
    appointment = Appointment.objects.create(
        sending_facility=facility,
        appointment_id=message.appointment_id,
        status=AppointmentStatus.SCHEDULED if case else AppointmentStatus.NEEDS_REVIEW,
        review_reasons=reasons,
        case=case,
        mrn=message.mrn,
        service_code=message.service_code[:40],
        room_name=message.room[:100],
        surgeon_id=next((p.person_id for p in message.people if p.role.startswith("SURG")), "")[:100],
        scheduled_start=message.start,
        last_message=record,
        created_at=now,
        updated_at=now,
    )
    if case is None:
        audit.append(
            action=actions.APPOINTMENT_NEEDS_REVIEW,
            actor=interface_user(),
            obj=appointment,
            after={
                "sending_facility": facility,
                "appointment_id": message.appointment_id,
                "control_id": message.header.control_id,
                "reasons": reasons,
            },
        )
        _audit_applied(record, message, None, MessageStatus.NEEDS_REVIEW)
        return Outcome(MessageStatus.NEEDS_REVIEW, "Received: the appointment needs review before it is a case.")
    _audit_applied(record, message, case, MessageStatus.APPLIED)
    return Outcome(MessageStatus.APPLIED, f"Scheduled as case {case.pk}.", case)


def _first_error(error: ApplicationError) -> str:
    errors = getattr(error, "errors", None) or {}
    for messages in errors.values():
        if messages:
            return str(messages[0])
    return str(error)


REPROCESS_ONLY_REVIEW = "Only an appointment that needs review (and has no case) is reprocessed or resolved."
REPROCESS_RAW_GONE = "The raw message is past its retention period: ask the EHR to send the appointment again."


def _appointment_in_review(appointment: Appointment) -> tuple[Appointment, Hl7Message]:
    """The appointment, locked, with the newest message the EHR sent for it, when it still needs
    review (409 otherwise: someone else resolved or reprocessed it meanwhile)."""
    appointment = Appointment.objects.select_for_update().select_related("last_message").get(pk=appointment.pk)
    if appointment.case_id is not None or appointment.status != AppointmentStatus.NEEDS_REVIEW:
        raise ConflictError(REPROCESS_ONLY_REVIEW)
    if not appointment.last_message.raw:
        raise ApplicationError(REPROCESS_RAW_GONE)
    try:
        message = message_read(appointment.last_message.raw)
    except Hl7Error as error:
        raise ApplicationError(f"The stored message cannot be read: {error}") from None
    return appointment, message


@transaction.atomic
def appointment_reprocess(*, actor: User, appointment: Appointment) -> Appointment:
    """Try again to make a case of an appointment that needs review (after the mapping, a room or a
    user was put right), from the newest message the EHR sent for it. Administrators; audited."""
    if not has_role(actor, roles.ADMIN):
        raise ForbiddenError("Only an administrator reprocesses an appointment.")
    appointment, message = _appointment_in_review(appointment)
    before = {"status": appointment.status, "reasons": appointment.review_reasons}
    case, reasons = _case_try(message)
    appointment.review_reasons = reasons
    appointment.updated_at = timezone.now()
    if case is not None:
        appointment.case = case
        appointment.status = AppointmentStatus.SCHEDULED
    appointment.save()
    audit.append(
        action=actions.APPOINTMENT_REPROCESSED,
        actor=actor,
        case=case,
        obj=appointment,
        before=before,
        after={
            "status": appointment.status,
            "reasons": reasons,
            "case": case.pk if case else None,
            "sending_facility": appointment.sending_facility,
            "appointment_id": appointment.appointment_id,
            "from_control_id": appointment.last_message.control_id,
        },
    )
    return appointment


RESOLVE_NOT_ALLOWED = "Only the nurse in charge or an administrator resolves an appointment that needs review."


@transaction.atomic
def appointment_resolve(
    *,
    actor: User,
    appointment: Appointment,
    procedure: str,
    room: Room,
    surgeon: User,
    anesthesia: User | None = None,
) -> Appointment:
    """Make a case of an appointment that needs review, with the procedure, room and surgeon the
    nurse in charge (or an administrator) chose for what the EHR sent. The patient and start come
    from the EHR's newest message; what was sent and what was chosen are both audited."""
    if not (has_role(actor, roles.CHARGE_NURSE) or has_role(actor, roles.ADMIN)):
        raise ForbiddenError(RESOLVE_NOT_ALLOWED)
    appointment, message = _appointment_in_review(appointment)
    start = message.start or appointment.scheduled_start
    if start is None:
        raise field_error("scheduled_start", "The EHR sent no start time (SCH-11): it must send one first.")
    before = {
        "status": appointment.status,
        "reasons": appointment.review_reasons,
        "service_code": appointment.service_code,
        "room": appointment.room_name,
        "surgeon": appointment.surgeon_id,
    }
    case = case_schedule(
        actor=actor,
        mrn=message.mrn,
        family_name=message.family_name,
        given_name=message.given_name,
        date_of_birth=message.date_of_birth,  # type: ignore[arg-type]
        room=room,
        scheduled_start=start,
        surgeon=surgeon,
        procedure=procedure,
        anesthesia=anesthesia,
    )
    appointment.case = case
    appointment.status = AppointmentStatus.SCHEDULED
    appointment.review_reasons = []
    appointment.updated_at = timezone.now()
    appointment.save(update_fields=["case", "status", "review_reasons", "updated_at"])
    audit.append(
        action=actions.APPOINTMENT_RESOLVED,
        actor=actor,
        case=case,
        obj=appointment,
        before=before,
        after={
            "status": appointment.status,
            "case": case.pk,
            "procedure": procedure,
            "room": room.name,
            "surgeon": surgeon.username,
            "anesthesia": anesthesia.username if anesthesia else None,
            "sending_facility": appointment.sending_facility,
            "appointment_id": appointment.appointment_id,
            "from_control_id": appointment.last_message.control_id,
        },
    )
    return appointment


REPROCESS_NOT_ALLOWED = "Only an administrator reprocesses a message."
REPROCESS_ONLY_REFUSED = "Only a refused message (AE or AR) is reprocessed: an accepted one was applied already."
REPROCESS_DONE_ALREADY = "This message was reprocessed already (as message {pk})."
REPROCESS_EMPTY = "Paste the corrected message (it starts with MSH)."
REPROCESS_TOO_LARGE = "The corrected message is over the size limit ({limit} bytes)."


def _segments_normalised(text: str) -> str:
    """A message pasted in a form: CRLF or LF between segments become the CR HL7 uses."""
    return "\r".join(line for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n") if line.strip())


@transaction.atomic
def message_reprocess(*, actor: User, message: InboundMessage, corrected: str) -> InboundMessage:
    """Send a corrected message in place of a refused one, as if the EHR had sent it: it gets the
    usual key (a repeat of an accepted control ID is not applied again), and the refused message
    links to it, so each refused message is reprocessed once. Administrators; audited."""
    if not has_role(actor, roles.ADMIN):
        raise ForbiddenError(REPROCESS_NOT_ALLOWED)
    original = InboundMessage.objects.select_for_update().get(pk=message.pk)
    if original.status not in (MessageStatus.ERROR, MessageStatus.REJECTED):
        raise ConflictError(REPROCESS_ONLY_REFUSED)
    if original.reprocessed_as_id is not None:
        raise ConflictError(REPROCESS_DONE_ALREADY.format(pk=original.reprocessed_as_id))
    text = _segments_normalised(corrected)
    if not text:
        raise field_error("corrected", REPROCESS_EMPTY)
    raw = text.encode("utf-8")
    if len(raw) > max_message_bytes():
        raise field_error("corrected", REPROCESS_TOO_LARGE.format(limit=max_message_bytes()))
    received = _receive(raw=raw, peer=f"reprocessed by {actor.username}")
    if received.record is None:
        raise ApplicationError("Internal error: the corrected message was not applied; try again.")
    new = received.record
    original.reprocessed_as = new
    original.save(update_fields=["reprocessed_as"])
    audit.append(
        action=actions.MESSAGE_REPROCESSED,
        actor=actor,
        case=new.case if new.case_id else None,
        obj=original,
        before={"message": original.pk, "control_id": original.control_id, "error": original.error},
        after={
            "message": new.pk,
            "control_id": new.control_id,
            "sending_facility": new.sending_facility,
            "message_type": new.message_type,
            "status": new.status,
            "ack_code": new.ack_code,
            "repeat": received.repeat,
        },
    )
    return new


# --- SIU^S13 / S14: reschedule, modification -----------------------------------------------------


def _appointment_change(record: InboundMessage, message: Hl7Message, appointment: Appointment) -> Outcome:
    now = timezone.now()
    appointment.last_message = record
    appointment.updated_at = now
    if appointment.case_id is None:
        # Still waiting for review: keep the newest details the EHR sent.
        appointment.scheduled_start = message.start
        appointment.room_name = message.room[:100]
        appointment.service_code = message.service_code[:40]
        appointment.save()
        _audit_applied(record, message, None, MessageStatus.NEEDS_REVIEW)
        return Outcome(MessageStatus.NEEDS_REVIEW, "Recorded on an appointment that needs review.")
    case = Case.objects.select_for_update(of=("self",)).select_related("room").get(pk=appointment.case_id)
    if case.state != CaseState.SCHEDULED:
        reason = CASE_NOT_SCHEDULED.format(state=case.get_state_display().lower())
        appointment.review_reasons = [*appointment.review_reasons, reason]
        appointment.save()
        _audit_applied(record, message, case, MessageStatus.NEEDS_REVIEW)
        return Outcome(MessageStatus.NEEDS_REVIEW, reason, case)
    found, reasons = _resolve(message)
    if found.get("procedure") and found["procedure"] != case.procedure:
        reasons.append(f"Procedure change to {found['procedure']} (AIS-3) is not applied by the interface.")
    case = case_reschedule(
        actor=interface_user(),
        case=case,
        scheduled_start=message.start,  # type: ignore[arg-type]
        room=found.get("room"),
        surgeon=found.get("surgeon"),
        detail={
            "not_applied": reasons,
            "sending_facility": message.header.sending_facility,
            "control_id": message.header.control_id,
        },
    )
    appointment.scheduled_start = message.start
    appointment.review_reasons = reasons
    appointment.save()
    _audit_applied(record, message, case, MessageStatus.APPLIED)
    return Outcome(MessageStatus.APPLIED, f"Case {case.pk} updated.", case)


# --- SIU^S15 / S26: cancellation, no-show --------------------------------------------------------


def _appointment_cancel(record: InboundMessage, message: Hl7Message, appointment: Appointment) -> Outcome:
    trigger = message.header.trigger
    appointment.status = AppointmentStatus.CANCELLED if trigger == "S15" else AppointmentStatus.NO_SHOW
    appointment.last_message = record
    appointment.updated_at = timezone.now()
    appointment.save()
    if appointment.case_id is None:
        _audit_applied(record, message, None, MessageStatus.APPLIED)
        return Outcome(MessageStatus.APPLIED, "Appointment cancelled (it had no case).")
    case = Case.objects.select_for_update(of=("self",)).get(pk=appointment.case_id)
    if case.state == CaseState.CANCELLED:
        _audit_applied(record, message, case, MessageStatus.IGNORED)
        return Outcome(MessageStatus.IGNORED, "The case was already cancelled.", case)
    if case.state != CaseState.SCHEDULED:
        reason = CASE_NOT_SCHEDULED.format(state=case.get_state_display().lower())
        appointment.review_reasons = [*appointment.review_reasons, reason]
        appointment.save(update_fields=["review_reasons"])
        _audit_applied(record, message, case, MessageStatus.NEEDS_REVIEW)
        return Outcome(MessageStatus.NEEDS_REVIEW, reason, case)
    case = case_cancel(
        actor=interface_user(),
        case=case,
        reason="no-show" if trigger == "S26" else (message.reason[:200] or "cancelled by the EHR"),
        detail={"sending_facility": message.header.sending_facility, "control_id": message.header.control_id},
    )
    _audit_applied(record, message, case, MessageStatus.APPLIED)
    return Outcome(MessageStatus.APPLIED, f"Case {case.pk} cancelled.", case)


# --- ADT^A08: patient update ---------------------------------------------------------------------


def _gsrn_record(message: Hl7Message) -> None:
    """The wristband's GSRN from PID-3 (identifier type GSRN), when the message carries one."""
    if message.gsrn:
        patient_gsrn_record(
            actor=interface_user(),
            mrn=message.mrn,
            gsrn=message.gsrn,
            detail={"sending_facility": message.header.sending_facility, "control_id": message.header.control_id},
        )


def _patient_update(record: InboundMessage, message: Hl7Message) -> Outcome:
    existing = Patient.objects.filter(mrn=message.mrn).first()
    if existing is None:
        _audit_applied(record, message, None, MessageStatus.IGNORED)
        return Outcome(MessageStatus.IGNORED, "No patient with this MRN here: nothing to update.")
    before = (existing.family_name, existing.given_name, existing.date_of_birth)
    new_gsrn = bool(message.gsrn) and message.gsrn != existing.gsrn
    if before == (message.family_name, message.given_name, message.date_of_birth) and not new_gsrn:
        _audit_applied(record, message, None, MessageStatus.IGNORED)
        return Outcome(MessageStatus.IGNORED, "No change.")
    if new_gsrn:
        try:
            _gsrn_record(message)
        except ApplicationError as error:
            raise Hl7Error("AE", DATA_TYPE_ERROR, _first_error(error), "PID", 3) from None
    patient_update(
        actor=interface_user(),
        mrn=message.mrn,
        family_name=message.family_name,
        given_name=message.given_name,
        date_of_birth=message.date_of_birth,  # type: ignore[arg-type]
        detail={"sending_facility": message.header.sending_facility, "control_id": message.header.control_id},
    )
    open_cases = list(Case.objects.filter(patient=existing).exclude(state=CaseState.CANCELLED).order_by("pk"))
    _audit_applied(record, message, open_cases[0] if open_cases else None, MessageStatus.APPLIED)
    return Outcome(MessageStatus.APPLIED, "Patient updated.", open_cases[0] if open_cases else None)


# --- ADT^A40: patient merge --------------------------------------------------------------------


def _patient_merge(record: InboundMessage, message: Hl7Message) -> Outcome:
    """Move every case of the prior patient (MRG-1) to the surviving one (PID-3). The prior patient
    record stays (its cases' history names it); a surviving MRN never seen here is registered."""
    merged = patient_merge(
        actor=interface_user(),
        prior_mrn=message.prior_mrn,
        mrn=message.mrn,
        family_name=message.family_name,
        given_name=message.given_name,
        date_of_birth=message.date_of_birth,  # type: ignore[arg-type]
        detail={"sending_facility": message.header.sending_facility, "control_id": message.header.control_id},
    )
    if merged is None:
        _audit_applied(record, message, None, MessageStatus.IGNORED)
        return Outcome(MessageStatus.IGNORED, "No patient with the prior MRN here: nothing to merge.")
    _, cases = merged
    _audit_applied(record, message, cases[0] if cases else None, MessageStatus.APPLIED)
    return Outcome(
        MessageStatus.APPLIED, f"{len(cases)} case(s) moved to the surviving patient.", cases[0] if cases else None
    )


# --- held messages -------------------------------------------------------------------------------


def held_retry(*, key: str | None = None) -> int:
    """Apply held messages whose appointment has arrived, oldest first. Returns how many applied."""
    held = InboundMessage.objects.filter(status=MessageStatus.HELD)
    if key is not None:
        held = held.filter(appointment_key=key)
    applied = 0
    for record_id in list(held.order_by("received_at", "id").values_list("pk", flat=True)):
        with transaction.atomic():
            record = InboundMessage.objects.select_for_update().get(pk=record_id)
            if record.status != MessageStatus.HELD:
                continue
            try:
                message = message_read(record.raw)
                outcome = _apply(record, message)
            except Hl7Error as error:
                record.status = MessageStatus.ERROR
                record.error = str(error)[:400]
                record.processed_at = timezone.now()
                record.save(update_fields=["status", "error", "processed_at"])
                continue
            record.attempts += 1
            record.save(update_fields=["attempts"])
            if outcome.status == MessageStatus.HELD:
                continue
            _record_outcome(record, outcome)
            applied += 1
    return applied


# --- the service-code mapping table --------------------------------------------------------------


@transaction.atomic
def service_code_mapping_save(
    *, actor: User, code: str, procedure: str, description: str = "", mapping: ServiceCodeMapping | None = None
) -> ServiceCodeMapping:
    """Create or change one mapping (administrators), audited on the system chain with old and new."""
    if not has_role(actor, roles.ADMIN):
        raise ForbiddenError("Only an administrator edits the service-code mapping.")
    before = None
    if mapping is not None and mapping.pk:
        stored = ServiceCodeMapping.objects.select_for_update().get(pk=mapping.pk)
        before = {"code": stored.code, "procedure": stored.procedure, "description": stored.description}
        mapping = stored
    else:
        mapping = ServiceCodeMapping()
    mapping.code = code.strip()
    mapping.procedure = procedure
    mapping.description = description.strip()
    mapping.full_clean()
    mapping.save()
    audit.append(
        action=actions.MAPPING_SAVED,
        actor=actor,
        obj=mapping,
        before=before,
        after={"code": mapping.code, "procedure": mapping.procedure, "description": mapping.description},
    )
    return mapping


@transaction.atomic
def service_code_mapping_delete(*, actor: User, mapping: ServiceCodeMapping) -> None:
    if not has_role(actor, roles.ADMIN):
        raise ForbiddenError("Only an administrator edits the service-code mapping.")
    before = {"code": mapping.code, "procedure": mapping.procedure, "description": mapping.description}
    audit.append(action=actions.MAPPING_DELETED, actor=actor, obj=mapping, before=before)
    mapping.delete()


# --- retention -----------------------------------------------------------------------------------


@transaction.atomic
def messages_raw_purge(*, older_than_days: int) -> int:
    """Blank the raw text of messages processed more than ``older_than_days`` ago (their record,
    status, key and error stay; held messages keep theirs until applied). Audited on the system
    chain with the count. Returns how many were purged."""
    if older_than_days < 1:
        raise ValueError("older_than_days must be at least 1")
    cutoff = timezone.now() - dt.timedelta(days=older_than_days)
    purged = (
        InboundMessage.objects.filter(received_at__lt=cutoff)
        .exclude(status=MessageStatus.HELD)
        .exclude(raw="")
        .update(raw="")
    )
    if purged:
        audit.append(
            action=actions.RAW_PURGED,
            actor=interface_user(),
            object_type="InboundMessage",
            after={"purged": purged, "received_before": cutoff, "retention_days": older_than_days},
        )
    return purged


__all__ = [
    "appointment_reprocess",
    "appointment_resolve",
    "held_retry",
    "interface_user",
    "max_message_bytes",
    "message_receive",
    "message_reprocess",
    "messages_raw_purge",
    "service_code_mapping_delete",
    "service_code_mapping_save",
]
