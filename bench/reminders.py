"""Reminder sweep benchmark (issue: reminders). Prints figures measured in one run.

The sweep's cost with 1,000 and with 100,000 scheduled reminders, 100 of them due, on the same
database in the same run. Goal: the ratio stays under 1.5 — the due query uses the partial index
on pending rows, so the rows not yet due cost nothing.

Run: .venv/bin/python -m bench.reminders            (SQLite in a temporary folder)
     DATABASE_URL=postgres://... .venv/bin/python -m bench.reminders
"""

from __future__ import annotations

import datetime as dt
import statistics
import time

from bench.common import django_setup, print_table

DUE = 100
ROUNDS = 5


def main() -> None:
    django_setup()
    from django.db import connection
    from django.utils import timezone

    from checklist.models import Case, Notification, Reminder, ReminderRule, ReminderState
    from checklist.reminders.sync import reminders_sweep
    from tests.support.workflow import case_schedule, team_create

    team = team_create()
    case = case_schedule(team, scheduled_start=timezone.now() + dt.timedelta(days=3))
    Case.objects.filter(pk=case.pk).update(open_stop_verdict=None)
    rule = ReminderRule.objects.get(code="time_out_overdue")  # delivered without re-check surprises
    rule.condition = "always"
    rule.save()
    recipient = team.nurse
    now = timezone.now()
    scheduled = 0

    def add_future(count: int) -> None:
        nonlocal scheduled
        rows = [
            Reminder(rule=rule, case=case, recipient=recipient, occurrence=f"future-{scheduled + i}",
                     dedupe_key=f"bench-future-{scheduled + i}", due_at=now + dt.timedelta(days=1, seconds=i),
                     created_at=now)
            for i in range(count)
        ]  # fmt: skip
        Reminder.objects.bulk_create(rows, batch_size=5000)
        scheduled += count

    def sweep_seconds(tag: str) -> float:
        samples = []
        for r in range(ROUNDS):
            Reminder.objects.bulk_create(
                [Reminder(rule=rule, case=case, recipient=recipient, occurrence=f"{tag}-{r}-{i}",
                          dedupe_key=f"bench-due-{tag}-{r}-{i}", due_at=now - dt.timedelta(seconds=1),
                          created_at=now) for i in range(DUE)]
            )  # fmt: skip
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("ANALYZE checklist_reminder")
            start = time.perf_counter()
            result = reminders_sweep()
            samples.append(time.perf_counter() - start)
            assert result.sent == DUE, result
        return statistics.median(samples)

    add_future(1_000 - DUE)
    small = sweep_seconds("small")
    add_future(100_000 - scheduled)
    large = sweep_seconds("large")
    pending = Reminder.objects.filter(state=ReminderState.PENDING).count()
    assert Notification.objects.count() == 2 * ROUNDS * DUE
    ratio = large / small
    print_table(
        f"Reminder sweep on {connection.vendor} ({DUE} due per sweep, median of {ROUNDS}; one run)",
        [
            ("sweep with 1,000 scheduled", f"{small * 1000:.1f} ms", "", ""),
            ("sweep with 100,000 scheduled", f"{large * 1000:.1f} ms", "", ""),
            (
                "100,000 / 1,000",
                f"{pending:,} still pending",
                f"{ratio:.2f}",
                "< 1.5 " + ("OK" if ratio < 1.5 else "MISSED"),
            ),
        ],
    )


if __name__ == "__main__":
    main()
