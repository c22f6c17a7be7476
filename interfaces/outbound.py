"""The record back to the EHR: when a case is signed out its one-page PDF record goes out as an
HL7 ``MDM^T02`` (the document base64 in OBX-5, type ED) over MLLP, through the interface's outbox.

The outbox row is written in the sign-out's own transaction (a post_save of its audit event), so
the sign-out never waits for the EHR; ``outbox_send`` (``manage.py hl7_outbox_send``, the Celery
task ``interfaces.tasks.hl7_outbox_send``) builds and sends it, retrying with a growing delay.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from checklist import audit
from checklist.audit.catalogue import AuditAction
from checklist.models import AuditEvent, Case
from interfaces import actions
from interfaces.hl7 import escape, header_read
from interfaces.mllp import MllpClient
from interfaces.models import OutboundMessage, OutboundState

logger = logging.getLogger("rightlevel.interfaces")
SIGN_OUT_ACTION = AuditAction.SIGN_OUT_COMPLETED
MAX_ATTEMPTS = 10
NO_DESTINATION = "HL7_OUTBOUND_DESTINATION is not set: nothing is sent."


def destination() -> str:
    """``host:port`` of the EHR's MLLP listener, or '' when the record is not sent back."""
    return str(getattr(settings, "HL7_OUTBOUND_DESTINATION", "") or "")


def outbox_enqueue(*, case: Case) -> OutboundMessage | None:
    """Queue the case's record (inside the sign-out's transaction). None when no destination."""
    target = destination()
    if not target:
        return None
    now = timezone.now()
    return OutboundMessage.objects.create(
        case=case,
        control_id=f"RL-MDM-{case.pk}-{int(now.timestamp())}",
        destination=target,
        created_at=now,
        next_attempt_at=now,
    )


def on_audit_event(sender: type[AuditEvent], instance: AuditEvent, created: bool, **kwargs: Any) -> None:
    if created and instance.action == SIGN_OUT_ACTION and instance.case_id is not None:
        outbox_enqueue(case=Case.objects.get(pk=instance.case_id))


def mdm_t02_build(*, case: Case, pdf: bytes, control_id: str, at: dt.datetime) -> str:
    patient = case.patient
    stamp = timezone.localtime(at).strftime("%Y%m%d%H%M%S")
    signed = timezone.localtime(case.signed_out_at or at).strftime("%Y%m%d%H%M%S")
    document = base64.b64encode(pdf).decode("ascii")
    return "\r".join(
        [
            f"MSH|^~\\&|RIGHTLEVEL|OR|EHR||{stamp}||MDM^T02^MDM_T02|{control_id}|P|2.5.1",
            f"EVN|T02|{stamp}",
            f"PID|1||{escape(patient.mrn)}^^^^MR||{escape(patient.family_name)}^{escape(patient.given_name)}"
            f"||{patient.date_of_birth:%Y%m%d}",
            "PV1|1|O",
            f"TXA|1|OP^Operative safety record^HL70270|AP|{signed}||||||||RL-CASE-{case.pk}||||||AU",
            f"OBX|1|ED|RIGHTLEVEL-RECORD^RightLevel case record^L||RIGHTLEVEL^AP^PDF^Base64^{document}||||||F",
        ]
    )


def _ack_code(ack: str) -> str:
    msa = next((s for s in ack.split("\r") if s.startswith("MSA|")), "")
    parts = msa.split("|")
    return parts[1] if len(parts) > 1 else ""


def outbox_send(*, now: dt.datetime | None = None, limit: int = 50) -> dict[str, int]:
    """Send every due message once. Returns counts of sent, retried and failed."""
    from interfaces.services import interface_user
    from quality.exports import case_record_pdf

    counts = {"sent": 0, "retry": 0, "failed": 0}
    now = now or timezone.now()
    due = OutboundMessage.objects.filter(state=OutboundState.PENDING, next_attempt_at__lte=now)
    for message_id in list(due.values_list("pk", flat=True)[:limit]):
        # The attempt is committed before the network is touched.
        with transaction.atomic():
            row = OutboundMessage.objects.select_for_update(skip_locked=True).filter(pk=message_id).first()
            if row is None or row.state != OutboundState.PENDING:
                continue
            row.attempts += 1
            row.next_attempt_at = now + dt.timedelta(minutes=min(2**row.attempts, 60))
            row.save(update_fields=["attempts", "next_attempt_at"])
        case = Case.objects.select_related("patient").get(pk=row.case_id)
        error, code = "", ""
        try:
            text = mdm_t02_build(case=case, pdf=case_record_pdf(case), control_id=row.control_id, at=now)
            host, _, port = row.destination.rpartition(":")
            with MllpClient(host, int(port), timeout=30) as client:
                ack = client.send(text)
            code = _ack_code(ack)
            if code != "AA":
                error = f"The EHR answered {code or 'no MSA'}: {ack.split(chr(13))[1][:200] if chr(13) in ack else ''}"
                header_read(ack)  # an unreadable ACK is an error like any other
        except (OSError, ValueError) as failure:
            error = f"{type(failure).__name__}: {failure}"[:400]
        except Exception as failure:  # noqa: BLE001 - one bad row must not stop the others
            error = f"{type(failure).__name__}"
        with transaction.atomic():
            row = OutboundMessage.objects.select_for_update().get(pk=message_id)
            row.ack_code = code[:2]
            if not error:
                row.state, row.sent_at, row.last_error = OutboundState.SENT, timezone.now(), ""
                counts["sent"] += 1
                audit.append(
                    action=actions.RECORD_SENT,
                    actor=interface_user(),
                    case=case,
                    obj=row,
                    after={"message_type": row.message_type, "control_id": row.control_id,
                           "destination": row.destination, "attempts": row.attempts},
                )  # fmt: skip
            else:
                row.last_error = error[:400]
                give_up = code == "AR" or row.attempts >= MAX_ATTEMPTS
                row.state = OutboundState.FAILED if give_up else OutboundState.PENDING
                counts["failed" if give_up else "retry"] += 1
                logger.warning("hl7 MDM^T02 case %s attempt %d: %s", case.pk, row.attempts, row.last_error[:200])
                if give_up:
                    audit.append(
                        action=actions.RECORD_SEND_FAILED,
                        actor=interface_user(),
                        case=case,
                        obj=row,
                        after={"control_id": row.control_id, "attempts": row.attempts, "error": row.last_error},
                    )
            row.save(update_fields=["state", "sent_at", "last_error", "ack_code"])
    return counts
