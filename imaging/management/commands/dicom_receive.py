"""Run the embedded DICOM storage receiver until interrupted."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from imaging.receiver import StorageReceiver


class Command(BaseCommand):
    help = "Receive level images by DICOM C-STORE (docs/imaging.md)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--address", default=settings.IMAGING_BIND_ADDRESS)
        parser.add_argument("--port", type=int, default=settings.IMAGING_PORT)
        parser.add_argument("--ae-title", default=settings.IMAGING_AE_TITLE)
        parser.add_argument(
            "--allow",
            action="append",
            default=[],
            metavar="AE=ROOM",
            help="a calling AE title allowed to send, and its room (repeatable; adds to IMAGING_CALLING_AE_TITLES)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        allowed = dict(settings.IMAGING_CALLING_AE_TITLES)
        for item in options["allow"]:
            ae, sep, room = item.partition("=")
            if not sep or not ae.strip() or len(ae.strip()) > 16:
                raise CommandError(f"--allow takes AE=ROOM with an AE title of 1 to 16 characters, not {item!r}")
            allowed[ae.strip()] = room.strip()
        if not 0 < options["port"] < 65536:
            raise CommandError("--port must be between 1 and 65535")
        try:
            receiver = StorageReceiver(allowed=allowed, ae_title=options["ae_title"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"DICOM receiver {options['ae_title']} on {options['address']}:{options['port']}, "
            f"allowing {', '.join(sorted(allowed))}"
        )
        self.stdout.flush()
        try:
            receiver.start(options["address"], options["port"], block=True)
        except KeyboardInterrupt:
            receiver.stop()
