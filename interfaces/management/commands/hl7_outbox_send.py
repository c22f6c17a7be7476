"""Send the due messages of the interface's outbox (the signed-out cases' records, MDM^T02)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from interfaces.outbound import NO_DESTINATION, destination, outbox_send


class Command(BaseCommand):
    help = "Send the due MDM^T02 records to the EHR over MLLP (HL7_OUTBOUND_DESTINATION)."

    def handle(self, *args: Any, **options: Any) -> None:
        if not destination():
            self.stdout.write(NO_DESTINATION)
        counts = outbox_send()
        self.stdout.write(f"{counts['sent']} sent, {counts['retry']} to retry, {counts['failed']} failed")
