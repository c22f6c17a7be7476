"""HL7 ingest benchmark (issue 17): sustained messages per second through a real MLLP listener,
each message recorded, applied through the case services and audited, against bare parsing of the
same messages by the library the interface reads HL7 with (python-hl7), in the same run (goal >= 100
messages/s with audit).

The messages are a day's schedule: new appointments (SIU^S12) and their reschedules (S13), sent
pipelined on one connection (an interface engine's queue draining), ACKs read as they come.

Run: .venv/bin/python -m bench.hl7_ingest   (SQLite in a throwaway folder; DATABASE_URL for another)
     bench/run ingest                        (PostgreSQL, with the other benchmarks)
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass
from typing import Any

from bench.common import django_setup, print_table

APPOINTMENTS = 100
# Names of its own, so the bench runs beside the others on one database (bench/run).
FACILITY = "BENCHHOSP"
ROOM = "OR HL7"
SURGEON = "hl7-bench-surgeon"
ANESTHESIA = "hl7-bench-anesthesia"
SERVICE_CODE = "BENCH-SNRB-L"
Row = tuple[str, str, str, str]


def schedule(day: dt.datetime, prefix: str) -> list[str]:
    from interfaces.samples import siu

    messages = []
    for i in range(APPOINTMENTS):
        start = day + dt.timedelta(hours=7, minutes=2 * i)
        common = {
            "appointment_id": f"{prefix}{i}",
            "mrn": f"{prefix}M{i:05d}",
            "family": f"F{i}",
            "given": "P",
            "facility": FACILITY,
            "room": ROOM,
            "surgeon": SURGEON,
            "anesthesia": ANESTHESIA,
            "service_code": SERVICE_CODE,
        }
        messages.append(siu("S12", control_id=f"{prefix}N{i}", start=start, **common))  # type: ignore[arg-type]
        messages.append(siu("S13", control_id=f"{prefix}R{i}", start=start + dt.timedelta(hours=1), **common))  # type: ignore[arg-type]
    return messages


def main() -> None:
    django_setup()
    rows = run()
    print_table(f"HL7 ingest over MLLP ({2 * APPOINTMENTS} messages a round, median of 3 rounds, one run)", rows)


def run() -> list[Row]:
    """The rows of the table, on the database Django is set up with (bench/run: PostgreSQL)."""
    import logging

    # One INFO line per message goes to the console otherwise: the table is what this prints.
    logging.getLogger("rightlevel.interfaces").setLevel(logging.WARNING)
    import hl7
    from django.utils import timezone

    from checklist.access import roles
    from checklist.models import Room, User
    from checklist.services import user_create
    from interfaces.listener import listener_create
    from interfaces.mllp import MllpClient, frame
    from interfaces.models import Appointment, ServiceCodeMapping

    Room.objects.get_or_create(name=ROOM)
    for username, role in ((SURGEON, roles.SURGEON), (ANESTHESIA, roles.ANESTHESIA)):
        if not User.objects.filter(username=username).exists():
            user_create(username=username, full_name=username, password="bench-password-1", role_names=[role])
    ServiceCodeMapping.objects.get_or_create(code=SERVICE_CODE, defaults={"procedure": "selective_nerve_root_block"})

    server = listener_create("127.0.0.1", 0)
    host, port = server.server_address[:2]
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    day = (timezone.localtime() + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    day = day.replace(tzinfo=None)
    run_id = f"{time.time_ns() % 10**9:x}"
    ingest_rates, parse_rates = [], []
    for round_ in range(3):
        messages = schedule(day + dt.timedelta(days=round_), f"B{run_id}-{round_}-")
        start = time.perf_counter()
        for message in messages:
            hl7.parse(message)
        parse_rates.append(len(messages) / (time.perf_counter() - start))

        acks = _send_pipelined(MllpClient(str(host), int(port), timeout=300), [frame(m) for m in messages])
        ingest_rates.append(len(messages) / acks.seconds)
        assert all("MSA|AA|" in a for a in acks.acks), [a for a in acks.acks if "MSA|AA|" not in a][:1]
    server.shutdown()
    server.server_close()
    booked = Appointment.objects.filter(
        sending_facility=FACILITY, appointment_id__startswith=f"B{run_id}-", case__isnull=False
    )
    assert booked.count() == 3 * APPOINTMENTS
    statements = _statements_per_message(day + dt.timedelta(days=3), f"B{run_id}-q-")

    ingest, parse = sorted(ingest_rates)[1], sorted(parse_rates)[1]
    return [
        ("hl7: bare python-hl7 parse of the same messages", f"{parse:.0f} msg/s", "", ""),
        (
            "hl7: ingest (MLLP + record + apply + audit)",
            f"{ingest:.0f} msg/s",
            "",
            ">= 100 msg/s " + _ok(ingest >= 100),
        ),
        ("hl7: ingest / bare parse", "", f"{ingest / parse:.2f}", ""),
        ("hl7: SQL statements a message (S12 and S13, untimed)", f"{statements:.1f}", "", ""),
    ]


def _statements_per_message(day: dt.datetime, prefix: str) -> float:
    """The statements the listener's handler runs for a message, counted apart from the timed
    rounds: the same function the listener calls for each frame, on this thread's connection."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from interfaces.listener import _receive

    messages = schedule(day, prefix)[:20]
    with CaptureQueriesContext(connection) as queries:
        acks = [_receive(m.encode("utf-8"), "bench") for m in messages]
    assert all("MSA|AA|" in a for a in acks), [a for a in acks if "MSA|AA|" not in a][:1]
    return len(queries) / len(messages)


@dataclass
class Sent:
    acks: list[str]
    seconds: float


def _send_pipelined(client: Any, frames: list[bytes]) -> Sent:
    """Send every frame at once and read the ACKs as they come (an interface engine's queue)."""
    acks: list[str] = []

    def read() -> None:
        acks.extend(client.receive() for _ in frames)

    reader = threading.Thread(target=read)
    start = time.perf_counter()
    reader.start()
    client.send_raw(b"".join(frames))
    reader.join()
    seconds = time.perf_counter() - start
    client.close()
    return Sent(acks, seconds)


def _ok(passed: bool) -> str:
    return "OK" if passed else "MISSED"


if __name__ == "__main__":
    main()
