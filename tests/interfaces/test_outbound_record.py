"""The record back to the EHR: a signed-out case's PDF goes out as MDM^T02 over MLLP through the
outbox, to a real test receiver; the sign-out never waits for it, and a receiver that is down is
retried."""

from __future__ import annotations

import base64
import socket
import threading
from collections.abc import Iterator

import pytest
from django.utils import timezone
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from checklist import services
from checklist.models import AuditEvent, CaseState
from interfaces import actions
from interfaces.hl7 import ack_build, header_read
from interfaces.mllp import MllpServer
from interfaces.models import OutboundMessage, OutboundState
from interfaces.outbound import outbox_send
from tests.support.factories import TEST_PASSWORD
from tests.support.workflow import case_schedule, case_through_time_out, evidence_record, phase_attest

pytestmark = pytest.mark.django_db


class Receiver:
    """A test EHR: an MLLP listener that keeps what it receives and answers ``code``."""

    def __init__(self, port: int, code: str = "AA") -> None:
        self.code = code
        self.received: list[str] = []
        self.server = MllpServer(("127.0.0.1", port), self._handle, limit=16 * 1024 * 1024, too_large=str)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def _handle(self, body: bytes, peer: str) -> str:
        text = body.decode()
        self.received.append(text)
        return ack_build(header=header_read(text), code=self.code, control_id="EHR1", at=timezone.now())

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sign_out(team) -> object:
    case = case_schedule(team)
    evidence_record(team, case)
    case = case_through_time_out(team, case)
    loc = services.localization_record(
        actor=team.radiographer, case=case, phase="pre_incision", reference="sacrum", count=4, label="L2",
        marker_in_place=True, read_by=team.surgeon,
    )  # fmt: skip
    services.localization_mark_durable(actor=team.nurse, case=case, localization_id=loc.pk)
    case.refresh_from_db()
    phase_attest(team, case, "localization")
    services.localization_confirm(actor=team.surgeon, case=case, password=TEST_PASSWORD, username="surgeon")
    case.refresh_from_db()
    services.treated_levels_record(actor=team.nurse, case=case, levels="l2")
    phase_attest(team, case, "sign_out")
    return services.sign_out_complete(actor=team.nurse, case=case.pk)


@pytest.fixture
def ehr_port(settings) -> Iterator[int]:
    port = free_port()
    settings.HL7_OUTBOUND_DESTINATION = f"127.0.0.1:{port}"
    yield port


def test_the_signed_out_record_reaches_the_ehr_as_mdm_t02(team, ehr_port) -> None:
    # The EHR is down at sign-out: the sign-out completes, the record waits in the outbox.
    case = sign_out(team)
    assert case.state == CaseState.COMPLETED
    row = OutboundMessage.objects.get(case=case)
    assert row.state == OutboundState.PENDING
    assert outbox_send() == {"sent": 0, "retry": 1, "failed": 0}
    row.refresh_from_db()
    assert row.attempts == 1 and "ConnectionRefusedError" in row.last_error
    assert row.next_attempt_at > timezone.now()

    with Receiver(ehr_port) as receiver:
        assert outbox_send(now=row.next_attempt_at) == {"sent": 1, "retry": 0, "failed": 0}
        assert outbox_send(now=row.next_attempt_at) == {"sent": 0, "retry": 0, "failed": 0}  # never twice
    assert len(receiver.received) == 1
    message = parse_message(receiver.received[0], validation_level=VALIDATION_LEVEL.TOLERANT, find_groups=False)
    assert message.msh.msh_9.to_er7() == "MDM^T02^MDM_T02"
    assert message.pid.pid_3.cx_1.to_er7() == case.patient.mrn
    obx = message.obx
    assert obx.obx_2.to_er7() == "ED"
    ed = obx.obx_5.to_er7().split("^")
    assert ed[1:4] == ["AP", "PDF", "Base64"]
    assert base64.b64decode(ed[4]).startswith(b"%PDF")
    row.refresh_from_db()
    assert row.state == OutboundState.SENT and row.ack_code == "AA" and row.attempts == 2
    sent = AuditEvent.objects.get(case=case, action=actions.RECORD_SENT)
    assert sent.actor_username == "hl7-interface" and sent.after["control_id"] == row.control_id


def test_a_rejected_record_is_not_sent_again(team, ehr_port) -> None:
    case = sign_out(team)
    with Receiver(ehr_port, code="AR"):
        assert outbox_send() == {"sent": 0, "retry": 0, "failed": 1}
    row = OutboundMessage.objects.get(case=case)
    assert row.state == OutboundState.FAILED and row.ack_code == "AR"
    assert AuditEvent.objects.filter(case=case, action=actions.RECORD_SEND_FAILED).count() == 1


def test_without_a_destination_nothing_is_queued(team, settings) -> None:
    settings.HL7_OUTBOUND_DESTINATION = ""
    sign_out(team)
    assert not OutboundMessage.objects.exists()
