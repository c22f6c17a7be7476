"""The MLLP listener wired to the interface services (used by ``manage.py mllp_listen`` and tests)."""

from __future__ import annotations

import ssl

from django.db import close_old_connections, connection
from django.utils import timezone

from checklist.audit import audit_context
from interfaces import services
from interfaces.hl7 import DATA_TYPE_ERROR, INTERNAL_ERROR, Hl7Error, ack_build, header_read
from interfaces.mllp import MllpServer

TOO_LARGE = "The message is larger than {limit} bytes: it was not read."


def _receive(body: bytes, peer: str) -> str:
    close_old_connections()
    try:
        with audit_context(client=f"mllp {peer}"):
            return services.message_receive(raw=body, peer=peer)
    except Exception as error:  # noqa: BLE001 - the sender always gets an answer; the listener goes on
        services.logger.error("hl7 message from %s: internal error %s", peer, type(error).__name__)
        fault = Hl7Error("AE", INTERNAL_ERROR, "Internal error: the message was not recorded; send it again.")
        try:
            header = header_read(body.decode("utf-8", errors="replace"))
        except Hl7Error:
            header = None
        return ack_build(header=header, code="AE", error=fault, control_id="A0", at=timezone.now())


def _connection_done() -> None:
    # Each connection is served by its own thread, with its own database connection: close it.
    connection.close()


def listener_create(host: str = "127.0.0.1", port: int = 2575, *, tls: ssl.SSLContext | None = None) -> MllpServer:
    limit = services.max_message_bytes()

    def too_large(peer: str) -> str:
        error = Hl7Error("AR", DATA_TYPE_ERROR, TOO_LARGE.format(limit=limit), "MSH")
        services.logger.warning("hl7 AR message from %s: %s", peer, error)
        return ack_build(header=None, code="AR", error=error, control_id="A0", at=timezone.now())

    return MllpServer(
        (host, port), _receive, limit=limit, too_large=too_large, on_connection_done=_connection_done, tls=tls
    )
