"""Send a file of HL7 v2 messages to an MLLP listener: ``manage.py hl7_send FILE``.

Messages in the file start with ``MSH``; segments are separated by CR or newlines. Each ACK's
MSA line is printed; the exit status is 1 when any message was not accepted (AA).
"""

from __future__ import annotations

import ssl
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from interfaces.mllp import MllpClient, client_tls_context


def messages_split(text: str) -> list[str]:
    messages: list[list[str]] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("MSH") or not messages:
            messages.append([])
        messages[-1].append(line)
    return ["\r".join(segments) for segments in messages]


class Command(BaseCommand):
    help = "Send each HL7 message in FILE ('-' for stdin) over MLLP and print its ACK (MSA)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=2575)
        parser.add_argument("--tls", action="store_true", help="TLS, verifying the listener with the system's CAs")
        parser.add_argument("--tls-ca", default="", help="TLS, verifying the listener against this PEM CA")
        parser.add_argument("--tls-cert", default="", help="a client certificate (PEM) for mutual TLS")
        parser.add_argument("--tls-key", default="", help="the key of --tls-cert")

    def handle(self, *args: Any, file: str, host: str, port: int, **options: Any) -> None:
        tls = None
        if options["tls"] or options["tls_ca"] or options["tls_cert"]:
            try:
                tls = client_tls_context(options["tls_ca"], options["tls_cert"], options["tls_key"])
            except (OSError, ssl.SSLError) as error:
                raise CommandError(f"Cannot load the TLS CA or client certificate: {error}") from None
        try:
            text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror}") from None
        messages = messages_split(text)
        if not messages:
            raise CommandError(f"{file} holds no HL7 message (each starts with MSH).")
        refused = 0
        try:
            with MllpClient(host, port, tls=tls) as client:
                for message in messages:
                    ack = client.send(message)
                    msa = next((s for s in ack.split("\r") if s.startswith("MSA")), "MSA|??")
                    if not msa.startswith("MSA|AA|"):
                        refused += 1
                    self.stdout.write(msa)
        except OSError as error:
            raise CommandError(f"Cannot reach the MLLP listener at {host}:{port}: {error}") from None
        self.stdout.write(f"{len(messages)} sent, {len(messages) - refused} accepted, {refused} refused")
        if refused:
            sys.exit(1)
