"""manage.py verify_audit: recompute every audit chain and seal; name the first broken event.

Exit status: 0 when the trail is intact (one summary line), 1 when anything is wrong (the first
broken event, then how many further problems there are). ``--json`` prints the whole report.
A progress bar goes to standard error on long runs (more than 10,000 events) or with --progress.
It checks the whole trail and every seal's RFC 3161 time-stamp; ``--incremental`` checks only the
events since the newest time-stamped seal an intact verification run covered, as the nightly run
does (docs/audit.md, "Incremental verification", says what that does not detect).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from checklist import audit

EXIT_INTACT, EXIT_BROKEN = 0, 1
PROGRESS_THRESHOLD = 10_000


class Command(BaseCommand):
    help = (
        "Recompute every audit hash chain, seal and time-stamp. Exit 0 with a summary when intact; exit 1 naming "
        "the first broken event (chain, sequence number, event id, action, what is wrong) otherwise."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print a machine-readable report")
        parser.add_argument("--all", action="store_true", help="list every problem, not only the first")
        parser.add_argument(
            "--incremental",
            action="store_true",
            help="only the events since the newest time-stamped seal an intact run covered (the whole "
            "trail if there is none); does not reconcile the records",
        )
        parser.add_argument(
            "--from-columns",
            action="store_true",
            help="rebuild every event from its columns and hash it, trusting no constraint of the database "
            "(slower; the incremental run always does)",
        )
        bar = parser.add_mutually_exclusive_group()
        bar.add_argument("--progress", dest="progress", action="store_true", default=None, help="always show a bar")
        bar.add_argument(
            "--no-progress", dest="progress", action="store_false", default=None, help="never show a progress bar"
        )
        parser.set_defaults(progress=None)

    def handle(self, *args: Any, **options: Any) -> None:
        since = None
        if options["incremental"]:
            from checklist.services.audit_verification import incremental_start

            start = incremental_start()
            since = start.seq if start is not None else None
            if since is None:
                self.stderr.write("No intact run covered a time-stamped seal yet: verifying the whole trail.")
        report = self._verify(options["progress"], since, from_columns=options["from_columns"] or None)
        if options["json"]:
            self.stdout.write(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
        elif report.ok:
            self.stdout.write(self.style.SUCCESS(report.summary()))
        else:
            self._print_broken(report, show_all=options["all"])
        sys.exit(EXIT_INTACT if report.ok else EXIT_BROKEN)

    def _verify(self, progress: bool | None, since: int | None, *, from_columns: bool | None) -> audit.VerifyReport:
        total = audit.event_count()
        show = progress if progress is not None else total > PROGRESS_THRESHOLD
        if not show:
            return audit.verify(since_seal=since, from_columns=from_columns)
        from tqdm import tqdm

        with tqdm(total=total, unit="event", unit_scale=True, file=sys.stderr, desc="verify_audit") as bar:
            return audit.verify(progress=bar.update, since_seal=since, from_columns=from_columns)

    def _print_broken(self, report: audit.VerifyReport, *, show_all: bool) -> None:
        first = report.first_problem
        assert first is not None
        self.stdout.write(self.style.ERROR("AUDIT TRAIL BROKEN"))
        self.stdout.write(f"First broken event: {first.describe()}")
        if first.chain != audit.SEALS:
            detail = f"  chain={first.chain} seq={first.seq if first.seq is not None else '-'}"
            detail += f" event_id={first.event_id if first.event_id is not None else '-'}"
            detail += f" action={first.action or '-'}"
            self.stdout.write(detail)
        further = len(report.problems) - 1
        if show_all:
            for problem in report.problems[1:]:
                self.stdout.write(f"  also: {problem.describe()}")
        if further:
            hint = "" if show_all else " (--all or --json lists them)"
            self.stdout.write(f"{further} further problem(s){hint}.")
        else:
            self.stdout.write("No further problems.")
        self.stdout.write(report.summary())
