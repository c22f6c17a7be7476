"""Back-entry after a downtime (issue 18): the checklist steps the team did on the downtime paper,
entered afterwards with the paper's times.

Each step goes through the normal attestation rules (``step_attest_locked``): the phase order, the
level check's stop, the evidence each step needs, one person one role. A back-entry can never turn a
stop into a pass. The record and its audit event say "recorded from downtime paper", with the time
written on the paper (``acted_at``) and the time it was entered; the entering nurse is the event's
actor, the person who initialled the paper is the attestation's user.

The paper's times are checked against each other and the case: not in the future, not before the
case's day, and in the checklist's phase order (no step of a phase before a step of the phase before
it). They are not checked against the times the system recorded a phase as complete: after a
downtime those are the times the completions were entered, later than the paper.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from checklist.access.policies import require
from checklist.models import Case, StepAttestation, User
from checklist.selectors import checklist_template
from checklist.selectors.downtime import case_day
from checklist.services.case_writes import case_lock, now
from checklist.services.checklist import PaperRecord, step_attest_locked
from checklist.templates_catalog import PHASE_LABELS, PHASES
from core.errors import ApplicationError, ForbiddenError

NOTHING_ENTERED = "Nothing was entered: give the initials (who) and the time on the paper of at least one step."
PAPER_TIME_FUTURE = "{time:%H:%M} is later than now ({now:%H:%M}): check the time written on the paper."
PAPER_TIME_BEFORE_DAY = "{time:%d %b %Y %H:%M} is before the case's day ({day:%d %b %Y}): check the time on the paper."
PAPER_TIME_ORDER = (
    "{time:%H:%M} is before a {earlier_phase} step at {earlier:%H:%M}: the {earlier_phase} comes before the "
    "{phase}. Check the times on the paper."
)
PAPER_TIME_ORDER_LATER = (
    "{time:%H:%M} is after a {later_phase} step at {later:%H:%M}: the {phase} comes before the {later_phase}. "
    "Check the times on the paper."
)
NOT_ON_THE_TEAM = "{who} may not attest steps of this case (not staff of its room, nor on its team)."
DUPLICATE_ENTRY = "This step and role are entered twice."


@dataclass(frozen=True)
class PaperEntry:
    """One initialled and timed box of the downtime sheet. ``paper_time``: the time written on the
    paper, a time of day on the case's day or a full date and time. ``key`` names the entry's
    fields in the errors (``<key>-time``, ``<key>-attested_by``); blank for ``non_field_errors``."""

    step_code: str
    role: str
    attested_by: User
    paper_time: dt.time | dt.datetime
    key: str = ""


def _field(entry: PaperEntry, name: str) -> str:
    return f"{entry.key}-{name}" if entry.key else "non_field_errors"


def _error(entry: PaperEntry, name: str, message: str) -> ApplicationError:
    return ApplicationError(message, errors={_field(entry, name): [message]})


def paper_time_check(case: Case, value: dt.time | dt.datetime, *, field: str, current: dt.datetime) -> dt.datetime:
    """The time written on the paper as a moment: a time of day is on the case's day. Refused
    (naming ``field``) when it is later than ``current`` or before the case's day."""
    if isinstance(value, dt.datetime):
        at = value if timezone.is_aware(value) else timezone.make_aware(value)
    else:
        at = timezone.make_aware(dt.datetime.combine(case_day(case), value))
    day = case_day(case)
    local = timezone.localtime(at)
    message = None
    if at > current:
        message = PAPER_TIME_FUTURE.format(time=local, now=timezone.localtime(current))
    elif local.date() < day:
        message = PAPER_TIME_BEFORE_DAY.format(time=local, day=day)
    if message:
        raise ApplicationError(message, errors={field: [message]})
    return at


def _paper_time(case: Case, entry: PaperEntry, current: dt.datetime) -> dt.datetime:
    return paper_time_check(case, entry.paper_time, field=_field(entry, "time"), current=current)


def _order_check(entry: PaperEntry, phase: str, at: dt.datetime, times: dict[str, list[dt.datetime]]) -> None:
    """``times``: phase -> when its live attestations were done (paper time, or attestation time)."""
    index = PHASES.index(phase)
    words = {code: PHASE_LABELS[code].lower() for code in PHASES}
    for earlier_phase in PHASES[:index]:
        latest = max(times.get(earlier_phase, []), default=None)
        if latest is not None and at < latest:
            raise _error(
                entry,
                "time",
                PAPER_TIME_ORDER.format(
                    time=timezone.localtime(at),
                    earlier=timezone.localtime(latest),
                    earlier_phase=words[earlier_phase],
                    phase=words[phase],
                ),
            )
    for later_phase in PHASES[index + 1 :]:
        earliest = min(times.get(later_phase, []), default=None)
        if earliest is not None and at > earliest:
            raise _error(
                entry,
                "time",
                PAPER_TIME_ORDER_LATER.format(
                    time=timezone.localtime(at),
                    later=timezone.localtime(earliest),
                    later_phase=words[later_phase],
                    phase=words[phase],
                ),
            )


@transaction.atomic
def steps_back_enter(
    *,
    actor: User,
    case: Case | int,
    entries: list[PaperEntry],
    expected_version: int | None = None,
) -> list[StepAttestation]:
    """``actor`` (a nurse) enters the steps done on the downtime paper. All or nothing: when one
    entry is refused (a time, a stop, a phase not open, a person without the role), none is
    recorded and the error names that entry's field. Entries are applied in the checklist's
    order (phase, then the paper's time), so a sign-in entered here opens the time-out for the
    time-out's entries, exactly as attesting them one by one would."""
    case = case_lock(case, expected_version=expected_version)
    require(actor, "downtime.back_enter", case)
    if not entries:
        raise ApplicationError(NOTHING_ENTERED, errors={"non_field_errors": [NOTHING_ENTERED]})
    template = checklist_template(case)
    current = now()
    seen: set[tuple[str, str]] = set()
    timed: list[tuple[int, dt.datetime, PaperEntry, str]] = []
    for entry in entries:
        try:
            phase = template.step(entry.step_code).phase
        except KeyError:
            message = f"No step {entry.step_code!r} in the {template.title} checklist."
            raise _error(entry, "time", message) from None
        if (entry.step_code, entry.role) in seen:
            raise _error(entry, "attested_by", DUPLICATE_ENTRY)
        seen.add((entry.step_code, entry.role))
        timed.append((PHASES.index(phase), _paper_time(case, entry, current), entry, phase))
    timed.sort(key=lambda item: (item[0], item[1]))
    times: dict[str, list[dt.datetime]] = {}
    for attestation in StepAttestation.objects.filter(run__case=case, voided_at__isnull=True):
        times.setdefault(attestation.phase, []).append(attestation.acted_at)
    recorded = []
    for _, at, entry, phase in timed:
        _order_check(entry, phase, at, times)
        who = entry.attested_by.full_name or entry.attested_by.username
        try:
            require(entry.attested_by, "step.attest", case)
        except ForbiddenError:
            raise _error(entry, "attested_by", NOT_ON_THE_TEAM.format(who=who)) from None
        try:
            attestation = step_attest_locked(
                case=case,
                attester=entry.attested_by,
                step_code=entry.step_code,
                role=entry.role,
                paper=PaperRecord(paper_time=at, entered_by=actor),
            )
        except ApplicationError as exc:
            step = template.step(entry.step_code)
            reason = " ".join(m for messages in exc.errors.values() for m in messages) or exc.message
            message = f"{step.text} ({entry.role}, {who}): {reason}"
            raise type(exc)(
                message, errors={_field(entry, "attested_by"): [message]}, extra=exc.extra, status_code=exc.status_code
            ) from exc
        times.setdefault(phase, []).append(at)
        recorded.append(attestation)
    return recorded


__all__ = ["PaperEntry", "paper_time_check", "steps_back_enter"]
