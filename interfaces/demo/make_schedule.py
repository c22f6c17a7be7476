"""Writes demo/day_schedule.hl7: a day's OR schedule for the demo users and rooms of seed_demo.

Run: python -m interfaces.demo.make_schedule (the file is committed; run again to change it).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from interfaces.samples import adt_a08, siu

DAY = dt.datetime(2027, 1, 15)  # noqa: DTZ001 - HL7 local time


def schedule() -> list[tuple[str, str]]:
    at = DAY.replace(hour=7, minute=30)
    h = dt.timedelta(hours=1)
    rows = [
        ("S12", "DEMO-HL7-01", "HL7-0001", "RIVERS", "ANNA", "19580312", "SNRB-L", "OR 1", at),
        ("S12", "DEMO-HL7-02", "HL7-0002", "MORENO", "BEN", "19650704", "64483", "OR 1", at + 2 * h),
        ("S12", "DEMO-HL7-03", "HL7-0003", "OKAFOR", "CHIDI", "19710921", "63030", "OR 2", at),
        ("S12", "DEMO-HL7-04", "HL7-0004", "LINDQVIST", "DORA", "19490130", "22612", "OR 2", at + 3 * h),
        ("S12", "DEMO-HL7-05", "HL7-0005", "TANAKA", "EMI", "19620515", "22514", "OR 3", at + h),
        ("S12", "DEMO-HL7-06", "HL7-0006", "NOVAK", "FILIP", "19770808", "63047", "OR 4", at),
        ("S12", "DEMO-HL7-07", "HL7-0007", "ABARA", "GRACE", "19800226", "62323", "OR 4", at + 2 * h),
        # A code the hospital has not mapped yet: the appointment waits for review, no case is guessed.
        ("S12", "DEMO-HL7-08", "HL7-0008", "SILVA", "HUGO", "19551111", "99999", "OR 3", at + 4 * h),
    ]
    messages = []
    for n, (trigger, appointment, mrn, family, given, dob, code, room, start) in enumerate(rows, start=1):
        text = siu(
            trigger,
            control_id=f"DEMO{n:04d}",
            appointment_id=appointment,
            start=start,
            mrn=mrn,
            family=family,
            given=given,
            dob=dob,
            service_code=code,
            room=room,
            surgeon="surgeon" if n % 2 else "surgeon2",
        )
        messages.append((f"{trigger} {appointment}", text))
    common = {"mrn": "HL7-0002", "family": "MORENO", "given": "BEN", "dob": "19650704", "service_code": "64483"}
    messages.append(
        (
            "S13 DEMO-HL7-02 moved to 12:00",
            siu("S13", control_id="DEMO0101", appointment_id="DEMO-HL7-02", start=at + 4.5 * h, room="OR 1", **common),
        )
    )
    cancel = {"mrn": "HL7-0007", "family": "ABARA", "given": "GRACE", "dob": "19800226", "service_code": "62323"}
    messages.append(
        (
            "S15 DEMO-HL7-07 cancelled",
            siu("S15", control_id="DEMO0102", appointment_id="DEMO-HL7-07", start=at + 2 * h, room="OR 4", **cancel),
        )
    )
    messages.append(
        (
            "A08 HL7-0005 name corrected",
            adt_a08(control_id="DEMO0201", mrn="HL7-0005", family="TANAKA", given="EMIKO", dob="19620515", at=at),
        )
    )
    return messages


def main() -> None:
    lines = ["# A day's OR schedule as the EHR sends it (HL7 v2.5.1). Send: manage.py hl7_send FILE"]
    for title, text in schedule():
        lines += [f"# {title}", *text.split("\r")]
    (Path(__file__).parent / "day_schedule.hl7").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
