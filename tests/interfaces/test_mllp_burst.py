"""1,000 messages in a burst on one connection (pipelined: the client does not wait for each ACK),
with repeats and changes that arrive before their appointment: nothing duplicated, nothing lost."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import pytest
from django.utils import timezone

from checklist.models import AuditEvent, Case, CaseState
from interfaces import actions
from interfaces.mllp import frame
from interfaces.models import InboundMessage, MessageStatus
from interfaces.samples import siu

# On PostgreSQL only (the suite's main pass): once is enough for a test this long.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.postgres]
APPOINTMENTS = 440


def burst() -> tuple[list[str], dict[int, int]]:
    """The messages, and the hour each appointment ends at (after its S13)."""
    day = (timezone.localtime() + dt.timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)
    day = day.replace(tzinfo=None)
    messages: list[str] = []
    final_hour: dict[int, int] = {}
    for i in range(APPOINTMENTS):
        start = day + dt.timedelta(hours=7, minutes=i)
        moved = start + dt.timedelta(hours=3)
        common = {"appointment_id": f"APT{i}", "mrn": f"MRN{i:05d}", "family": f"FAM{i}", "given": "PAT"}
        s12 = siu("S12", control_id=f"N{i}", start=start, **common)  # type: ignore[arg-type]
        s13 = siu("S13", control_id=f"R{i}", start=moved, **common)  # type: ignore[arg-type]
        if i % 4 == 0:
            messages += [s13, s12]  # the change before its appointment: held, then applied
        else:
            messages += [s12, s13]
        if i % 5 == 0:
            messages.append(s12)  # a repeat
        if i % 10 == 0:
            messages.append(siu("S15", control_id=f"X{i}", start=moved, **common))  # type: ignore[arg-type]
        final_hour[i] = moved.hour * 60 + moved.minute
    return messages, final_hour


def test_a_burst_of_1000_messages(listener, hospital) -> None:
    messages, final = burst()
    assert len(messages) >= 1000
    acks: list[str] = []
    with listener.client() as client:
        reader = threading.Thread(target=lambda: acks.extend(client.receive() for _ in messages))
        reader.start()
        client.send_raw(b"".join(frame(m) for m in messages))
        reader.join(timeout=600)
    assert len(acks) == len(messages)
    codes = Counter(next(s for s in a.split("\r") if s.startswith("MSA")).split("|")[1] for a in acks)
    assert codes == {"AA": len(messages)}
    # ACKs come back in the order sent (MSA-2 echoes each control ID).
    assert [a.split("\r")[1].split("|")[2] for a in acks] == [m.split("\r")[0].split("|")[9] for m in messages]

    cases = Case.objects.select_related("appointment")
    assert cases.count() == APPOINTMENTS
    for case in cases:
        i = int(case.appointment.appointment_id[3:])
        local = timezone.localtime(case.scheduled_start)
        assert local.hour * 60 + local.minute == final[i], case.appointment.appointment_id
        assert case.state == (CaseState.CANCELLED if i % 10 == 0 else CaseState.SCHEDULED)
    distinct = APPOINTMENTS * 2 + APPOINTMENTS // 10
    assert InboundMessage.objects.count() == distinct
    assert not InboundMessage.objects.exclude(status=MessageStatus.APPLIED).exists()
    assert AuditEvent.objects.filter(action=actions.MESSAGE_APPLIED).count() == distinct
    assert AuditEvent.objects.filter(action="case.scheduled").count() == APPOINTMENTS
    assert AuditEvent.objects.filter(action=actions.CASE_RESCHEDULED).count() == APPOINTMENTS
    assert AuditEvent.objects.filter(action=actions.CASE_CANCELLED).count() == APPOINTMENTS // 10
