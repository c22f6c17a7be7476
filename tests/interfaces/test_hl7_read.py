"""Reading one message (python-hl7 underneath): the fields the interface uses, and the refusals."""

from __future__ import annotations

import datetime as dt

import pytest

from interfaces.hl7 import DATA_TYPE_ERROR, REQUIRED_FIELD_MISSING, Hl7Error, message_read
from interfaces.samples import siu

START = dt.datetime(2027, 1, 5, 8, 0)  # noqa: DTZ001 - a message timestamp, local time
GOOD = siu("S12", control_id="R1", appointment_id="APT1", start=START, gsrn="")


def test_the_fields_the_interface_uses() -> None:
    message = message_read(GOOD + "\rZXX|1|not read")
    assert (message.header.sending_facility, message.header.control_id, message.kind) == ("GENHOSP", "R1", "SIU^S12")
    assert (message.appointment_id, message.mrn, message.family_name, message.given_name) == (
        "APT1",
        "MRN1001",
        "DOE",
        "JANE",
    )
    assert message.date_of_birth == dt.date(1960, 5, 1)
    assert message.start is not None and message.start.replace(tzinfo=None) == START
    assert (message.service_code, message.room) == ("SNRB-L", "OR 1")
    assert [(p.person_id, p.role) for p in message.people] == [("surgeon", "SURG"), ("anesthesia", "ANES")]


def test_a_start_with_fewer_components_than_sch_11_4_is_taken_from_ais_4() -> None:
    # Before, a short SCH-11 raised IndexError and the sender got an internal error.
    stamp = START.strftime("%Y%m%d%H%M%S")
    message = message_read(GOOD.replace(f"|^^60^{stamp}", "|^^60"))
    assert message.start is not None and message.start.replace(tzinfo=None) == START


def test_values_are_kept_as_sent_escapes_and_subcomponents_included() -> None:
    message = message_read(GOOD.replace("DOE^JANE", "O\\T\\BRIEN&X^JANE"))
    assert message.family_name == "O\\T\\BRIEN&X"


@pytest.mark.parametrize(
    ("encoding", "reason"),
    [
        ("^^\\&", "Not a readable HL7 message (InvalidEncodingChars)."),
        ("^~\\", "Not a readable HL7 message (InvalidEncodingChars)."),
        ("^~\\&#", "Not a readable HL7 message (InvalidEncodingChars)."),
    ],
)
def test_encoding_characters_other_than_four_different_ones_are_refused(encoding: str, reason: str) -> None:
    with pytest.raises(Hl7Error) as refused:
        message_read(GOOD.replace("MSH|^~\\&|", f"MSH|{encoding}|", 1))
    assert (refused.value.ack_code, refused.value.error_code, refused.value.location()) == (
        "AR",
        DATA_TYPE_ERROR,
        "MSH",
    )
    assert refused.value.text == reason
    assert refused.value.header is not None and refused.value.header.control_id == "R1"


def test_a_missing_segment_is_named() -> None:
    with pytest.raises(Hl7Error) as refused:
        message_read("\r".join(s for s in GOOD.split("\r") if not s.startswith("PID")))
    assert (refused.value.ack_code, refused.value.error_code, refused.value.segment) == (
        "AE",
        REQUIRED_FIELD_MISSING,
        "PID",
    )
