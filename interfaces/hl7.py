"""HL7 v2 reading (python-hl7) and ACK writing: pure functions, no database.

``message_read`` turns one framed message into a ``Hl7Message`` with the fields the interface uses,
or raises ``Hl7Error`` naming the segment and field at fault and the HL7 error code (table 0357).
The log lines and the errors carry no patient data: only segment, field and the reason.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import hl7

from checklist.wristband import gsrn_valid

READ_SEGMENTS = frozenset({"MSH", "SCH", "PID", "MRG", "AIS", "AIL", "AIP"})
SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{2}(\||$)")
SUPPORTED_VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1")
SUPPORTED_EVENTS = {
    "SIU": ("S12", "S13", "S14", "S15", "S26"),
    "ADT": ("A08", "A40"),
}
# HL7 table 0357 (message error condition codes) used in ERR-3.
REQUIRED_FIELD_MISSING = "101"
DATA_TYPE_ERROR = "102"
SEGMENT_SEQUENCE_ERROR = "100"
UNSUPPORTED_MESSAGE_TYPE = "200"
UNSUPPORTED_EVENT = "201"
UNSUPPORTED_PROCESSING_ID = "202"
UNSUPPORTED_VERSION = "203"
UNKNOWN_KEY = "204"
DUPLICATE_KEY = "205"
INTERNAL_ERROR = "207"
ERROR_TEXT = {
    SEGMENT_SEQUENCE_ERROR: "Segment sequence error",
    REQUIRED_FIELD_MISSING: "Required field missing",
    DATA_TYPE_ERROR: "Data type error",
    UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    UNSUPPORTED_EVENT: "Unsupported event code",
    UNSUPPORTED_PROCESSING_ID: "Unsupported processing id",
    UNSUPPORTED_VERSION: "Unsupported version id",
    UNKNOWN_KEY: "Unknown key identifier",
    DUPLICATE_KEY: "Duplicate key identifier",
    INTERNAL_ERROR: "Application internal error",
}


@dataclass
class Hl7Error(Exception):
    """What is wrong with a message. ``ack_code`` AR: rejected as a message (framing, not HL7,
    version, type); AE: an HL7 message whose content cannot be applied."""

    ack_code: str
    error_code: str
    text: str
    segment: str = ""
    field_position: int | None = None
    # Set once MSH was read, so the ACK can echo them.
    header: Header | None = None

    def location(self) -> str:
        if not self.segment:
            return ""
        return f"{self.segment}-{self.field_position}" if self.field_position else self.segment

    def __str__(self) -> str:
        where = self.location()
        return f"{where}: {self.text}" if where else self.text


@dataclass
class Header:
    sending_application: str = ""
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    message_code: str = ""
    trigger: str = ""
    control_id: str = ""
    processing_id: str = ""
    version: str = ""


@dataclass
class Resource:
    """One AIP: a person on the appointment, with the role the EHR gave."""

    person_id: str
    role: str


@dataclass
class Hl7Message:
    header: Header
    appointment_id: str = ""
    start: dt.datetime | None = None
    mrn: str = ""
    # The wristband's GS1 GSRN (AI 8018) when PID-3 carries one (identifier type GSRN).
    gsrn: str = ""
    family_name: str = ""
    given_name: str = ""
    date_of_birth: dt.date | None = None
    service_code: str = ""
    service_text: str = ""
    room: str = ""
    people: list[Resource] = field(default_factory=list)
    reason: str = ""
    # ADT^A40: the MRN merged into the surviving patient (PID).
    prior_mrn: str = ""

    @property
    def kind(self) -> str:
        return f"{self.header.message_code}^{self.header.trigger}"


# A segment as read: its fields by position (segment[n] is field n), each a list of repetitions,
# each a list of components (as sent: escapes and subcomponents kept).
Segment = list[list[list[str]]]


def _components(repetition: Any) -> list[str]:
    # python-hl7 nests only where a separator occurs: a value with no "^" is a plain string.
    if isinstance(repetition, hl7.Repetition):
        return [str(component) for component in repetition]
    return [str(repetition)]


def _fields(segment: Any) -> Segment:
    fields: Segment = []
    for value in segment:
        if len(value) and isinstance(value[0], hl7.Repetition):
            fields.append([_components(repetition) for repetition in value])
        else:
            fields.append([_components(value)])
    return fields


def _segments(message: dict[str, list[Segment]], name: str) -> list[Segment]:
    return message.get(name, [])


def _repetitions(segment: Segment, position: int) -> list[list[str]]:
    return segment[position] if position < len(segment) else []


def _component(segment: Segment, position: int, index: int = 1) -> str:
    """The ``index``-th component of the first repetition of field ``position``, '' when absent."""
    repetitions = _repetitions(segment, position)
    if not repetitions or len(repetitions[0]) < index:
        return ""
    return repetitions[0][index - 1].strip()


def _ts(value: str, segment: str, position: int, *, date_only: bool = False) -> dt.datetime:
    """An HL7 TS/DTM (YYYYMMDD[HHMM[SS[.S+]]][+/-ZZZZ]): naive times are the hospital's local time."""
    text = value.strip()
    offset = None
    for sign in ("+", "-"):
        if sign in text[8:]:
            head, _, zone = text.rpartition(sign)
            if len(zone) != 4 or not zone.isdigit():
                raise _bad_date(segment, position)
            minutes = int(zone[:2]) * 60 + int(zone[2:])
            offset = dt.timezone(dt.timedelta(minutes=minutes if sign == "+" else -minutes))
            text = head
    text = text.split(".", 1)[0]
    formats = {8: "%Y%m%d", 12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S"}
    if not text.isdigit() or len(text) not in formats or (date_only and len(text) != 8):
        raise _bad_date(segment, position)
    try:
        parsed = dt.datetime.strptime(text, formats[len(text)])  # noqa: DTZ007 - zone applied below
    except ValueError:
        raise _bad_date(segment, position) from None
    if offset is not None:
        return parsed.replace(tzinfo=offset)
    from django.utils import timezone

    return timezone.make_aware(parsed)


def _bad_date(segment: str, position: int) -> Hl7Error:
    return Hl7Error(
        "AE",
        DATA_TYPE_ERROR,
        "Date/time is not in the HL7 form YYYYMMDD[HHMM[SS]][+ZZZZ].",
        segment,
        position,
    )


def _missing(segment: str, position: int | None, what: str) -> Hl7Error:
    return Hl7Error("AE", REQUIRED_FIELD_MISSING, f"{what} is required.", segment, position)


def header_read(text: str) -> Header:
    """MSH read by hand (before the library), so even a message it cannot read gets an ACK that
    echoes its control ID."""
    if not text.startswith("MSH") or len(text) < 8:
        raise Hl7Error("AR", SEGMENT_SEQUENCE_ERROR, "The message does not start with an MSH segment.", "MSH")
    separator = text[3]
    fields = text.split("\r", 1)[0].split(separator)
    component = text[4] if len(text) > 4 else "^"

    def at(position: int) -> str:
        # MSH-1 is the separator itself, so MSH-n is fields[n - 1].
        return fields[position - 1].strip() if len(fields) >= position else ""

    def first(position: int) -> str:
        return at(position).split(component)[0].strip()

    message_type = at(9).split(component)
    return Header(
        sending_application=first(3),
        sending_facility=first(4),
        receiving_application=first(5),
        receiving_facility=first(6),
        message_code=message_type[0].strip() if message_type else "",
        trigger=message_type[1].strip() if len(message_type) > 1 else "",
        control_id=at(10),
        processing_id=first(11),
        version=first(12),
    )


def header_check(header: Header) -> None:
    def reject(code: str, text: str, position: int) -> Hl7Error:
        return Hl7Error("AR", code, text, "MSH", position, header)

    if not header.sending_facility:
        raise reject(REQUIRED_FIELD_MISSING, "Sending facility is required.", 4)
    if not header.message_code:
        raise reject(REQUIRED_FIELD_MISSING, "Message type is required.", 9)
    if not header.control_id:
        raise reject(REQUIRED_FIELD_MISSING, "Message control ID is required.", 10)
    if len(header.control_id) > 199:
        raise reject(DATA_TYPE_ERROR, "Message control ID is longer than 199 characters.", 10)
    if header.version not in SUPPORTED_VERSIONS:
        raise reject(
            UNSUPPORTED_VERSION, f"Version {header.version[:10]!r} is not one of {', '.join(SUPPORTED_VERSIONS)}.", 12
        )
    if header.processing_id not in ("P", "T", "D"):
        raise reject(UNSUPPORTED_PROCESSING_ID, "Processing ID must be P, T or D.", 11)
    if header.message_code not in SUPPORTED_EVENTS:
        raise reject(UNSUPPORTED_MESSAGE_TYPE, f"Message type {header.message_code[:10]!r} is not taken here.", 9)
    if header.trigger not in SUPPORTED_EVENTS[header.message_code]:
        events = ", ".join(f"{header.message_code}^{e}" for e in SUPPORTED_EVENTS[header.message_code])
        raise reject(UNSUPPORTED_EVENT, f"Trigger event {header.trigger[:10]!r} is not taken here ({events}).", 9)


def message_read(text: str) -> Hl7Message:
    """Read and check one message (segments separated by CR). Raises Hl7Error."""
    text = text.replace("\r\n", "\r").replace("\n", "\r").strip("\r")
    header = header_read(text)
    header_check(header)
    segments = text.split("\r")
    for segment in segments:
        if not SEGMENT_ID.match(segment):
            raise Hl7Error(
                "AR", SEGMENT_SEQUENCE_ERROR, "A segment does not start with a segment ID.", "MSH", header=header
            )
    _encoding_check(segments[0], header)
    # Only the segments the interface uses are parsed (the others are kept in the raw message).
    wanted = [segments[0], *(s for s in segments[1:] if s[:3] in READ_SEGMENTS)]
    message: dict[str, list[Segment]] = {}
    try:
        for segment in hl7.parse("\r".join(wanted))[1:]:
            fields = _fields(segment)
            message.setdefault(fields[0][0][0], []).append(fields)
    except (hl7.ParseException, ValueError, IndexError, KeyError, TypeError):
        raise Hl7Error("AR", DATA_TYPE_ERROR, "Not a readable HL7 message.", "MSH", header=header) from None
    try:
        return _content_read(message, header)
    except Hl7Error as error:
        error.header = header
        raise


def _encoding_check(msh: str, header: Header) -> None:
    """MSH-2 as HL7 v2 up to 2.6 defines it: exactly four encoding characters (component,
    repetition, escape, subcomponent), all different; refused with the reason hl7apy gave. (MSH-1,
    the field separator, is "|": the segment-ID check before holds every segment to it.)"""
    encoding = msh.split(msh[3])[1]
    if len(encoding) != 4 or len(set(encoding)) != 4:
        raise Hl7Error(
            "AR", DATA_TYPE_ERROR, "Not a readable HL7 message (InvalidEncodingChars).", "MSH", header=header
        )


def _one(message: dict[str, list[Segment]], name: str) -> Segment:
    found = _segments(message, name)
    if not found:
        raise Hl7Error("AE", REQUIRED_FIELD_MISSING, f"Segment {name} is required.", name)
    return found[0]


def _patient_read(message: dict[str, list[Segment]], read: Hl7Message) -> None:
    pid = _one(message, "PID")
    mrn = ""
    for parts in _repetitions(pid, 3):
        kind = parts[4].strip() if len(parts) > 4 else ""
        if parts[0].strip() and (kind in ("MR", "") and not mrn):
            mrn = parts[0].strip()
        elif parts[0].strip() and kind == "GSRN":
            if not gsrn_valid(parts[0].strip()):
                raise Hl7Error(
                    "AE", DATA_TYPE_ERROR, "The GSRN in PID-3 is not 18 digits with a GS1 check digit.", "PID", 3
                )
            read.gsrn = parts[0].strip()
    if not mrn:
        raise _missing("PID", 3, "The patient's MRN (identifier type MR)")
    if len(mrn) > 40:
        raise Hl7Error("AE", DATA_TYPE_ERROR, "The MRN is longer than 40 characters.", "PID", 3)
    read.mrn = mrn
    read.family_name = _component(pid, 5, 1)
    read.given_name = _component(pid, 5, 2)
    if not read.family_name or not read.given_name:
        raise _missing("PID", 5, "The patient's family and given name")
    if len(read.family_name) > 120 or len(read.given_name) > 120:
        raise Hl7Error("AE", DATA_TYPE_ERROR, "A name is longer than 120 characters.", "PID", 5)
    birth = _component(pid, 7, 1)
    if not birth:
        raise _missing("PID", 7, "The patient's date of birth")
    read.date_of_birth = _ts(birth[:8] if len(birth) > 8 else birth, "PID", 7, date_only=True).date()


def _content_read(message: dict[str, list[Segment]], header: Header) -> Hl7Message:
    read = Hl7Message(header=header)
    if header.message_code == "ADT":
        _patient_read(message, read)
        if header.trigger == "A40":
            mrg = _one(message, "MRG")
            read.prior_mrn = _component(mrg, 1, 1)
            if not read.prior_mrn:
                raise _missing("MRG", 1, "The prior patient's MRN")
            if read.prior_mrn == read.mrn:
                raise Hl7Error("AE", DATA_TYPE_ERROR, "The prior MRN is the surviving patient's own.", "MRG", 1)
        return read
    sch = _one(message, "SCH")
    appointment = _component(sch, 1, 1) or _component(sch, 2, 1)
    if not appointment:
        raise _missing("SCH", 1, "The placer appointment ID (SCH-1, or the filler ID in SCH-2)")
    if len(appointment) > 100:
        raise Hl7Error("AE", DATA_TYPE_ERROR, "The appointment ID is longer than 100 characters.", "SCH", 1)
    read.appointment_id = appointment
    if header.trigger in ("S15", "S26"):
        read.reason = _component(sch, 6, 2) or _component(sch, 6, 1)
        return read
    start = _component(sch, 11, 4)
    ais = _segments(message, "AIS")
    if start:
        read.start = _ts(start, "SCH", 11)
    elif ais and _component(ais[0], 4, 1):
        read.start = _ts(_component(ais[0], 4, 1), "AIS", 4)
    else:
        raise _missing("SCH", 11, "The appointment start (SCH-11.4 or AIS-4)")
    _patient_read(message, read)
    if not ais:
        raise Hl7Error("AE", REQUIRED_FIELD_MISSING, "Segment AIS (the service) is required.", "AIS")
    read.service_code = _component(ais[0], 3, 1)
    read.service_text = _component(ais[0], 3, 2)[:200]
    if not read.service_code:
        raise _missing("AIS", 3, "The service code")
    ail = _segments(message, "AIL")
    if ail:
        read.room = _component(ail[0], 3, 1)
    for aip in _segments(message, "AIP"):
        person = _component(aip, 3, 1)
        if person:
            read.people.append(Resource(person_id=person, role=_component(aip, 4, 1).upper()))
    return read


# --- ACKs ----------------------------------------------------------------------------------------


def escape(text: str) -> str:
    text = "".join(c if c.isprintable() else " " for c in text)
    return (
        text.replace("\\", "\\E\\")
        .replace("|", "\\F\\")
        .replace("^", "\\S\\")
        .replace("&", "\\T\\")
        .replace("~", "\\R\\")
        .replace("\r", " ")
        .replace("\n", " ")
    )


def ack_build(
    *,
    header: Header | None,
    code: str,
    text: str = "",
    error: Hl7Error | None = None,
    control_id: str,
    at: dt.datetime,
) -> str:
    """An ACK (HL7 2.5.1 form): MSH, MSA and, for AE/AR, ERR with the location and code."""
    h = header or Header()
    trigger = h.trigger if h.trigger else ""
    msh = "|".join(
        [
            "MSH",
            "^~\\&",
            "RIGHTLEVEL",
            escape(h.receiving_facility or "RIGHTLEVEL")[:20],
            escape(h.sending_application)[:20],
            escape(h.sending_facility)[:20],
            at.strftime("%Y%m%d%H%M%S%z"),
            "",
            f"ACK^{escape(trigger)[:3]}^ACK" if trigger else "ACK",
            control_id,
            h.processing_id if h.processing_id in ("P", "T", "D") else "P",
            "2.5.1",
        ]
    )
    message_text = text or (error.text if error else "")
    segments = [msh, f"MSA|{code}|{escape(h.control_id)[:199]}|{escape(message_text)[:80]}"]
    if error is not None:
        location = ""
        if error.segment:
            location = f"{error.segment}^1^{error.field_position}" if error.field_position else f"{error.segment}^1"
        err_code = f"{error.error_code}^{ERROR_TEXT.get(error.error_code, '')}^HL70357"
        segments.append(f"ERR||{location}|{err_code}|E||||{escape(str(error))[:250]}")
    return "\r".join(segments) + "\r"
