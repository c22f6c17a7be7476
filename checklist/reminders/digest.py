"""The quality officers' daily digest, written to the reminder outbox."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from checklist.models import Case, CaseState, NearMiss, Reminder
from checklist.reminders import rules as reminder_rules
from checklist.reminders.sync import system_reminder_create


def daily_digest_create(*, day: dt.date | None = None) -> list[Reminder]:
    """Summarize ``day`` (default: yesterday) for the quality officers; idempotent per day."""
    day = day or timezone.localdate() - dt.timedelta(days=1)
    start = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
    end = start + dt.timedelta(days=1)
    near_misses = list(
        NearMiss.objects.filter(resolved_at__gte=start, resolved_at__lt=end).select_related("case__room")
    )
    incomplete = Case.objects.filter(scheduled_start__gte=start, scheduled_start__lt=end).exclude(
        state__in=[CaseState.COMPLETED, CaseState.COMPLETED_WRONG_LEVEL, CaseState.CANCELLED]
    )
    lines = [f"RightLevel daily digest for {day:%Y-%m-%d}.", f"Near misses caught: {len(near_misses)}."]
    lines += [f"- case {n.case_id} ({n.case.room.name}): {n.kind}, {', '.join(n.codes)}" for n in near_misses[:20]]
    lines.append(f"Checklists not completed: {incomplete.count()}.")
    lines += [f"- case {c.pk}: {c.get_state_display()}" for c in incomplete.order_by("scheduled_start")[:20]]
    return system_reminder_create(
        rule_code=reminder_rules.DAILY_DIGEST,
        occurrence=day.isoformat(),
        subject=f"Daily digest {day:%Y-%m-%d}: {len(near_misses)} near misses, {incomplete.count()} incomplete",
        body="\n".join(lines),
    )
