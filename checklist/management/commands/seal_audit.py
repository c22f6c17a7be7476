"""manage.py seal_audit: record the head of every audit chain in a new seal (Celery beat also
does this every 15 minutes). A seal makes a later truncation or deletion of a chain detectable."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from checklist import audit


class Command(BaseCommand):
    help = "Seal the audit trail: record every chain's head in a new seal chained to the previous one."

    def handle(self, *args: Any, **options: Any) -> None:
        with audit.audit_context(client="manage.py seal_audit"):
            seal = audit.seal()
        chains = len(seal.heads)
        self.stdout.write(
            self.style.SUCCESS(
                f"Sealed the audit trail: seal #{seal.seq}, {chains} chain(s), {seal.event_count} event(s) "
                f"(seal hash {seal.seal_hash[:16]}…)."
            )
        )
