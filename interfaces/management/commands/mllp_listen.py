"""Listen for HL7 v2 messages over MLLP: ``manage.py mllp_listen --host 127.0.0.1 --port 2575``,
over TLS with ``--tls-cert``/``--tls-key`` (or HL7_TLS_CERT_FILE/HL7_TLS_KEY_FILE)."""

from __future__ import annotations

import signal
import ssl
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from interfaces.listener import listener_create
from interfaces.mllp import server_tls_context


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Receive HL7 v2 messages (SIU^S12-S15/S26, ADT^A08/A40) over MLLP and answer each with an ACK."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=2575)
        parser.add_argument("--tls-cert", default=settings.HL7_TLS_CERT_FILE, help="PEM certificate (chain): TLS on")
        parser.add_argument("--tls-key", default=settings.HL7_TLS_KEY_FILE, help="PEM private key of --tls-cert")
        parser.add_argument(
            "--tls-client-ca",
            default=settings.HL7_TLS_CLIENT_CA_FILE,
            help="PEM CA: only clients with a certificate it issued are served (mutual TLS)",
        )

    def handle(
        self, *args: Any, host: str, port: int, tls_cert: str, tls_key: str, tls_client_ca: str, **options: Any
    ) -> None:
        tls = None
        if tls_cert or tls_key or tls_client_ca:
            if not (tls_cert and tls_key):
                raise CommandError("TLS needs both a certificate (--tls-cert) and its key (--tls-key).")
            try:
                tls = server_tls_context(tls_cert, tls_key, tls_client_ca)
            except (OSError, ssl.SSLError) as error:
                raise CommandError(f"Cannot load the TLS certificate or key: {error}") from None
        server = listener_create(host, port, tls=tls)
        bound_host, bound_port = server.server_address[:2]
        # SIGTERM (docker stop, scripts/run) stops as cleanly as Ctrl-C.
        signal.signal(signal.SIGTERM, _interrupt)
        self.stdout.write(f"MLLP listening on {bound_host!s}:{bound_port}{' (TLS)' if tls else ''}", ending="\n")
        self.stdout.flush()
        try:
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
