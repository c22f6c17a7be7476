"""Listen for HL7 v2 messages over MLLP: ``manage.py mllp_listen --host 127.0.0.1 --port 2575``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from interfaces.listener import listener_create


class Command(BaseCommand):
    help = "Receive HL7 v2 messages (SIU^S12-S15/S26, ADT^A08) over MLLP and answer each with an ACK."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=2575)

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        server = listener_create(host, port)
        bound_host, bound_port = server.server_address[:2]
        self.stdout.write(f"MLLP listening on {bound_host!s}:{bound_port}", ending="\n")
        self.stdout.flush()
        try:
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
