"""manage.py seal_audit: record the head of every audit chain in a new seal (Celery beat also
does this every 5 minutes), then time-stamp the pending seals when TSA_URL is set. A seal makes a
later truncation or deletion of a chain detectable; its time-stamp makes that hold even against
someone holding the database and AUDIT_KEY."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from checklist import audit
from checklist.services.audit_timestamps import audit_timestamps_take


class Command(BaseCommand):
    help = "Seal the audit trail: record every chain's head in a new seal chained to the previous one."

    def handle(self, *args: Any, **options: Any) -> None:
        with audit.audit_context(client="manage.py seal_audit"):
            seal = audit.seal()
            stamps = audit_timestamps_take(force=True)
        chains = len(seal.heads)
        self.stdout.write(
            self.style.SUCCESS(
                f"Sealed the audit trail: seal #{seal.seq}, {chains} chain(s), {seal.event_count} event(s) "
                f"(seal hash {seal.seal_hash[:16]}…)."
            )
        )
        if stamps.skipped:
            self.stdout.write(f"Not time-stamped: {stamps.skipped}.")
        elif stamps.error:
            self.stdout.write(
                self.style.WARNING(
                    f"Not time-stamped yet ({stamps.pending} seal(s) pending, retried by the seal task): {stamps.error}"
                )
            )
        else:
            done = ", ".join(f"#{seq}" for seq in stamps.stamped) or "none"
            self.stdout.write(self.style.SUCCESS(f"Time-stamped seal(s) {done}; {stamps.pending} pending."))
