"""Interface upkeep: apply held messages whose appointment has arrived, and blank the raw text of
messages past the retention period (``HL7_RAW_RETENTION_DAYS``, default 90)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from checklist.audit import audit_context
from interfaces import services
from interfaces.models import InboundMessage, MessageStatus


class Command(BaseCommand):
    help = "Retry held HL7 messages and purge raw messages past the retention period."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--retention-days", type=int, default=getattr(settings, "HL7_RAW_RETENTION_DAYS", 90))

    def handle(self, *args: Any, retention_days: int, **options: Any) -> None:
        with audit_context(client="hl7_maintain"):
            applied = services.held_retry()
            purged = services.messages_raw_purge(older_than_days=max(retention_days, 1))
        still_held = InboundMessage.objects.filter(status=MessageStatus.HELD).count()
        self.stdout.write(f"{applied} held messages applied, {still_held} still held, {purged} raw messages purged")
