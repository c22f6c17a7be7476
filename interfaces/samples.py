"""HL7 v2 messages as an EHR sends them, for the demo file, the tests and the benchmark."""

from __future__ import annotations

import datetime as dt


def _ts(at: dt.datetime) -> str:
    return at.strftime("%Y%m%d%H%M%S")


def _identifiers(mrn: str, facility: str, gsrn: str) -> str:
    """PID-3: the MRN, and the wristband's GSRN as a second repetition (identifier type GSRN)."""
    return f"{mrn}^^^{facility}^MR" + (f"~{gsrn}^^^GS1^GSRN" if gsrn else "")


def siu(
    trigger: str,
    *,
    control_id: str,
    appointment_id: str,
    start: dt.datetime,
    mrn: str = "MRN1001",
    family: str = "DOE",
    given: str = "JANE",
    dob: str = "19600501",
    service_code: str = "SNRB-L",
    room: str = "OR 1",
    surgeon: str = "surgeon",
    anesthesia: str | None = "anesthesia",
    facility: str = "GENHOSP",
    version: str = "2.5.1",
    gsrn: str = "",
) -> str:
    segments = [
        f"MSH|^~\\&|EHR|{facility}|RIGHTLEVEL|OR|{_ts(start)}||SIU^{trigger}^SIU_{trigger}|{control_id}|P|{version}",
        f"SCH|{appointment_id}^EHR|{appointment_id}^EHR|||||ROUTINE^Routine||60|MIN|^^60^{_ts(start)}",
        f"PID|1||{_identifiers(mrn, facility, gsrn)}||{family}^{given}||{dob}|F",
        f"AIS|1|A|{service_code}^Spine procedure^LOCAL|{_ts(start)}",
        f"AIL|1|A|{room}^^^{facility}",
        f"AIP|1|A|{surgeon}^SURGEON^SID|SURG^Surgeon",
    ]
    if anesthesia:
        segments.append(f"AIP|2|A|{anesthesia}^GAS^DR|ANES^Anesthesia")
    return "\r".join(segments)


def adt_a08(
    *,
    control_id: str,
    mrn: str,
    family: str,
    given: str,
    dob: str = "19600501",
    facility: str = "GENHOSP",
    at: dt.datetime | None = None,
    gsrn: str = "",
) -> str:
    when = _ts(at or dt.datetime(2026, 1, 1, 8, 0))  # noqa: DTZ001 - a message timestamp, local time
    return "\r".join(
        [
            f"MSH|^~\\&|EHR|{facility}|RIGHTLEVEL|OR|{when}||ADT^A08^ADT_A01|{control_id}|P|2.5.1",
            f"EVN|A08|{when}",
            f"PID|1||{_identifiers(mrn, facility, gsrn)}||{family}^{given}||{dob}|F",
            "PV1|1|O",
        ]
    )


def adt_a40(
    *,
    control_id: str,
    mrn: str,
    prior_mrn: str,
    family: str,
    given: str,
    dob: str = "19600501",
    facility: str = "GENHOSP",
) -> str:
    return "\r".join(
        [
            f"MSH|^~\\&|EHR|{facility}|RIGHTLEVEL|OR|20260101080000||ADT^A40^ADT_A39|{control_id}|P|2.5.1",
            "EVN|A40|20260101080000",
            f"PID|1||{mrn}^^^{facility}^MR||{family}^{given}||{dob}|F",
            f"MRG|{prior_mrn}^^^{facility}^MR",
        ]
    )
