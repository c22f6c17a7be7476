"""Reminders and escalations: the outbox.

``reminders_sync(case)`` runs inside every transaction that changes a case (from ``case_touch``
and ``case_schedule``): it writes the reminder rows the case now needs and cancels those that
became moot, so a reminder is never lost with Redis down and never sent for something already
done. ``reminders_sweep`` (a beat task every minute) claims due rows — ``SKIP LOCKED`` on
PostgreSQL, so several workers can sweep at once — re-checks each condition, delivers through the
recipient's channels and marks the row sent. The sweep's transaction does no network I/O: it
writes the in-app notification (exactly once), the state and the audit event, and queues each
external channel (e-mail, webhook) as its own ``Delivery`` row, which ``deliveries_send`` sends
afterwards with its own timeout, retries and backoff (checklist/reminders/delivery.py).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from checklist import audit
from checklist.access import roles
from checklist.access.policies import role_holders, users_with_roles
from checklist.audit.catalogue import AuditAction
from checklist.level_check import blocking_findings
from checklist.models import (
    Case,
    CaseState,
    DeliveryChannel,
    Notification,
    NotificationPreference,
    Reminder,
    ReminderRule,
    ReminderState,
    User,
)
from checklist.reminders import rules as reminder_rules
from checklist.reminders.delivery import (  # noqa: F401 - webhook_* re-exported for receivers and tests
    deliveries_send,
    delivery_enqueue,
    webhook_post,
    webhook_signature,
    webhook_verify,
)

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
BACKOFF_BASE_SECONDS = 30
CLOSED_STATES = (CaseState.COMPLETED, CaseState.COMPLETED_WRONG_LEVEL, CaseState.CANCELLED)


# --- rules ----------------------------------------------------------------------------------------


@transaction.atomic
def reminder_rules_sync() -> list[str]:
    """Create the default rules that are missing; leave edited ones alone."""
    created = []
    for spec in reminder_rules.DEFAULT_RULES:
        _, was_created = ReminderRule.objects.get_or_create(
            code=spec.code,
            defaults={
                "description": spec.description,
                "anchor": spec.anchor,
                "offset_minutes": spec.offset_minutes,
                "condition": spec.condition,
                "recipients": list(spec.recipients),
                "escalation": spec.escalation,
            },
        )
        if was_created:
            created.append(spec.code)
    return created


def _anchor(case: Case, anchor: str) -> tuple[datetime | None, str]:
    """(anchor time, occurrence id) for a case rule."""
    if anchor == reminder_rules.SCHEDULED_START:
        return case.scheduled_start, case.scheduled_start.isoformat()
    if anchor == reminder_rules.PATIENT_IN_ROOM:
        at = case.patient_in_room_at
    elif anchor == reminder_rules.TIME_OUT_COMPLETED:
        at = case.time_out_completed_at
    elif anchor == reminder_rules.PROCEDURE_ENDED:
        at = case.procedure_ended_at
    elif anchor == reminder_rules.STOP_OPENED:
        stop = case.open_stop_verdict
        return (stop.computed_at, f"stop-{stop.pk}") if stop is not None else (None, "")
    else:
        return None, ""
    return at, at.isoformat() if at else ""


def condition_holds(case: Case, condition: str) -> bool:
    """Is the thing the reminder is about still outstanding? Reads the stored verdict (no query)."""
    if case.state == CaseState.CANCELLED:
        return False
    codes = {f["code"] for f in (case.latest_verdict.findings if case.latest_verdict else [])}
    if condition == reminder_rules.PLAN_UNSIGNED:
        return bool(codes & {"PLAN_MISSING", "PLAN_NOT_SIGNED"})
    if condition == reminder_rules.CONSENT_MISSING_OR_MISMATCH:
        return bool(codes & {"CONSENT_MISSING", "CONSENT_MISMATCH"})
    if condition == reminder_rules.ANATOMY_OR_IMAGING_MISSING:
        return bool(codes & {"ANATOMY_MISSING", "PREOP_IMAGING_MISSING"})
    if condition == reminder_rules.TIME_OUT_INCOMPLETE:
        return case.time_out_completed_at is None and case.state not in CLOSED_STATES
    if condition == reminder_rules.LOCALIZATION_NOT_PASSED:
        return case.localization_passed_at is None and case.state not in CLOSED_STATES
    if condition == reminder_rules.SIGN_OUT_NOT_DONE:
        return case.signed_out_at is None
    if condition == reminder_rules.STOP_UNRESOLVED:
        return case.verdict == "stop"
    return condition == reminder_rules.ALWAYS


def recipients_for(
    case: Case | None, groups: Iterable[str], *, found_by_group: dict[str, list[User]] | None = None
) -> list[User]:
    """Who a rule's reminder goes to. ``found_by_group`` keeps each group's users across the rules
    of one sync (a group is read once per case change, not once per rule)."""
    users: dict[int, User] = {}
    for group in groups:
        if group == reminder_rules.SURGEON and case is not None:
            users[case.surgeon_id] = case.surgeon
            continue
        if found_by_group is not None and group in found_by_group:
            found_users = found_by_group[group]
        else:
            found_users = _group_users(case, group)
            if found_by_group is not None:
                found_by_group[group] = found_users
        for user in found_users:
            users[user.pk] = user
    return list(users.values())


def _group_users(case: Case | None, group: str) -> list[User]:
    found = None
    if group == reminder_rules.CHARGE_NURSE:
        found = users_with_roles(roles.CHARGE_NURSE)
    elif group == reminder_rules.QUALITY_OFFICER:
        found = users_with_roles(roles.QUALITY_OFFICER)
    elif group == reminder_rules.ROOM_NURSE and case is not None:
        found = users_with_roles(roles.NURSE).filter(rooms=case.room_id)
    elif group == reminder_rules.ROOM_RADIOGRAPHER and case is not None:
        found = users_with_roles(roles.RADIOGRAPHER).filter(rooms=case.room_id)
    return list(found.distinct()) if found is not None else []


# The role each group reads, and whether only the staff of the case's room (as _group_users reads them).
GROUP_ROLES: dict[str, tuple[str, bool]] = {
    reminder_rules.CHARGE_NURSE: (roles.CHARGE_NURSE, False),
    reminder_rules.QUALITY_OFFICER: (roles.QUALITY_OFFICER, False),
    reminder_rules.ROOM_NURSE: (roles.NURSE, True),
    reminder_rules.ROOM_RADIOGRAPHER: (roles.RADIOGRAPHER, True),
}


def _groups_users(case: Case, groups: set[str]) -> dict[str, list[User]]:
    """The users of each of ``groups`` for the case, read in one query (what _group_users reads
    group by group). The surgeon is the case's own, read with the case."""
    wanted = {group: GROUP_ROLES[group] for group in groups if group in GROUP_ROLES}
    found: dict[str, list[User]] = {group: [] for group in groups if group != reminder_rules.SURGEON}
    if not wanted:
        return found
    rows = role_holders(*{role for role, _ in wanted.values()}, room_id=case.room_id)
    for user in rows:
        for group, (role, room_only) in wanted.items():
            if user.held_role == role and (user.in_room or not room_only):
                found[group].append(user)
    return found


def _dedupe_key(rule: ReminderRule, case: Case | None, recipient: User, occurrence: str) -> str:
    raw = f"{rule.code}:{case.pk if case else '-'}:{recipient.pk}:{occurrence}"
    return raw if len(raw) <= 200 else hashlib.sha256(raw.encode()).hexdigest()


# --- writing and cancelling (inside the case's transaction) ----------------------------------


def reminders_sync(case: Case, *, new: bool = False) -> tuple[int, int]:
    """Make the case's pending reminders match what it needs now. Returns (created, cancelled).
    ``new``: the case was inserted in this transaction, so it has no reminder rows to read or cancel."""
    now = timezone.now()
    rules = list(ReminderRule.objects.filter(enabled=True).exclude(anchor=reminder_rules.SYSTEM))
    wanted: dict[str, Reminder] = {}
    created = 0
    if case.state not in CLOSED_STATES or case.signed_out_at is None:
        due_rules: list[tuple[ReminderRule, datetime, str]] = []
        for rule in rules:
            anchor_at, occurrence = _anchor(case, rule.anchor)
            if anchor_at is None or not condition_holds(case, rule.condition):
                continue
            due = anchor_at + timedelta(minutes=rule.offset_minutes)
            if due <= now and _superseded(rule, rules, anchor_at, now):
                continue  # a later (escalation) rule for the same thing is already due: send that one
            due_rules.append((rule, due, occurrence))
        found_by_group = _groups_users(case, {group for rule, _, _ in due_rules for group in rule.recipients})
        for rule, due, occurrence in due_rules:
            for person in recipients_for(case, rule.recipients, found_by_group=found_by_group):
                key = _dedupe_key(rule, case, person, occurrence)
                wanted[key] = Reminder(
                    dedupe_key=key, rule=rule, case=case, recipient=person, occurrence=occurrence, due_at=due,
                    created_at=now,
                )  # fmt: skip
        # One read of the reminders the case already has and one insert of the missing ones.
        stored = {} if new else {r.dedupe_key: r for r in Reminder.objects.filter(dedupe_key__in=list(wanted))}
        missing = [reminder for key, reminder in wanted.items() if key not in stored]
        for key, reminder in stored.items():
            due = wanted[key].due_at
            if reminder.due_at != due and reminder.attempts == 0:
                # The rule's timing changed: move a reminder not yet tried (a retry keeps its backoff).
                Reminder.objects.filter(pk=reminder.pk, state=ReminderState.PENDING, attempts=0).update(due_at=due)
        if missing:
            # A row another transaction inserted meanwhile stays as it is (the key is unique).
            created = len(Reminder.objects.bulk_create(missing, ignore_conflicts=True))
    if new:
        return created, 0
    moot = Reminder.objects.filter(case=case, state=ReminderState.PENDING).exclude(dedupe_key__in=list(wanted))
    cancelled = moot.update(state=ReminderState.CANCELLED, cancelled_at=now)
    return created, cancelled


def _superseded(rule: ReminderRule, rules: list[ReminderRule], anchor_at: datetime, now: datetime) -> bool:
    for other in rules:
        if other.pk == rule.pk or other.condition != rule.condition or other.anchor != rule.anchor:
            continue
        if other.offset_minutes > rule.offset_minutes and anchor_at + timedelta(minutes=other.offset_minutes) <= now:
            return True
    return False


@transaction.atomic
def system_reminder_create(*, rule_code: str, occurrence: str, subject: str, body: str) -> list[Reminder]:
    """A reminder not tied to a case (nightly audit result, daily digest), due now, to the rule's
    recipients. Idempotent per occurrence."""
    rule = ReminderRule.objects.filter(code=rule_code, enabled=True).first()
    if rule is None:
        return []
    now = timezone.now()
    out = []
    for person in recipients_for(None, rule.recipients):
        reminder, _ = Reminder.objects.get_or_create(
            dedupe_key=_dedupe_key(rule, None, person, occurrence),
            defaults={"rule": rule, "recipient": person, "occurrence": occurrence, "due_at": now,
                      "created_at": now, "subject": subject[:200], "body": body},
        )  # fmt: skip
        out.append(reminder)
    return out


# --- the sweep -----------------------------------------------------------------------------------


@dataclass
class SweepResult:
    claimed: int = 0
    sent: int = 0
    cancelled: int = 0
    retried: int = 0
    failed: int = 0
    external_sent: int = 0
    external_retried: int = 0
    errors: list[str] = field(default_factory=list)


def reminders_sweep(*, batch: int = 100, now: datetime | None = None, deliver: bool = True) -> SweepResult:
    """Deliver every due reminder in-app (in batches until none is left, each batch committed),
    then, unless ``deliver`` is False, send the due external deliveries outside any transaction."""
    result = SweepResult()
    while True:
        claimed = _sweep_batch(batch=batch, now=now or timezone.now(), result=result)
        if claimed < batch:
            break
    if deliver:
        sent = deliveries_send(now=now)
        result.external_sent, result.external_retried = sent.sent, sent.retried
        result.failed += sent.failed
    return result


def _sweep_batch(*, batch: int, now: datetime, result: SweepResult) -> int:
    with transaction.atomic():
        due = (
            Reminder.objects.filter(state=ReminderState.PENDING, due_at__lte=now)
            .select_related("rule", "recipient", "case__room", "case__latest_verdict", "case__surgeon")
            .order_by("due_at", "id")
        )
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True, of=("self",))
        rows = list(due[:batch])
        result.claimed += len(rows)
        # Delivered case by case, in case id order: each delivery locks its case's audit chain head
        # until the batch commits, so two workers sweeping at once take those locks in the same
        # order and never deadlock (they did, in due order: a delivery failed and waited to retry).
        rows.sort(key=lambda reminder: (reminder.case_id or 0, reminder.due_at, reminder.pk))
        for reminder in rows:
            _deliver_one(reminder, now=now, result=result)
        return len(rows)


def _deliver_one(reminder: Reminder, *, now: datetime, result: SweepResult) -> None:
    """In-app notification, state and audit in the sweep's transaction; each external channel
    becomes its own outbox step (``deliveries_send``), so no network I/O happens under row locks."""
    case = reminder.case
    if case is not None and not condition_holds(case, reminder.rule.condition):
        Reminder.objects.filter(pk=reminder.pk).update(state=ReminderState.CANCELLED, cancelled_at=now)
        result.cancelled += 1
        return
    try:
        with transaction.atomic():  # a savepoint: one bad row never holds up the rest of the batch
            subject, text, link = _message(reminder)
            Notification.objects.create(
                user=reminder.recipient, reminder=reminder, case=case, title=subject, body=text, link=link,
                created_at=now,
            )  # fmt: skip
            channels = _external_enqueue(reminder, subject, text, link, now=now)
            Reminder.objects.filter(pk=reminder.pk).update(
                state=ReminderState.SENT, sent_at=now, attempts=reminder.attempts + 1, subject=subject, body=text
            )
            if case is not None:
                audit.append(
                    action=AuditAction.REMINDER_SENT,
                    actor=None,
                    case=case,
                    obj=reminder,
                    after={"rule": reminder.rule.code, "recipient": reminder.recipient.username,
                           "escalation": reminder.rule.escalation, "queued": channels},
                )  # fmt: skip
        result.sent += 1
    except Exception as exc:  # noqa: BLE001 - retry later, never lose the row
        attempts = reminder.attempts + 1
        failed = attempts >= MAX_ATTEMPTS
        Reminder.objects.filter(pk=reminder.pk).update(
            attempts=attempts,
            last_error=f"{type(exc).__name__}: {exc}"[:2000],
            state=ReminderState.FAILED if failed else ReminderState.PENDING,
            due_at=now + timedelta(seconds=BACKOFF_BASE_SECONDS * 2 ** (attempts - 1)),
        )
        result.failed += failed
        result.retried += not failed
        result.errors.append(f"reminder {reminder.pk}: {type(exc).__name__}")
        logger.warning("Reminder %s in-app delivery failed (attempt %s): %s", reminder.pk, attempts, type(exc).__name__)


def _message(reminder: Reminder) -> tuple[str, str, str]:
    """Subject, plain text and link. No patient name or MRN leaves the application."""
    case = reminder.case
    if case is None:
        return reminder.subject or reminder.rule.description, reminder.body or reminder.rule.description, ""
    when = timezone.localtime(case.scheduled_start)
    prefix = "ESCALATION: " if reminder.rule.escalation else ""
    subject = f"{prefix}{reminder.rule.description} — {case.room.name} {when:%H:%M}"
    missing = [f["message"] for f in blocking_findings(case.latest_verdict.findings if case.latest_verdict else [])]
    lines = [
        f"{reminder.rule.description}.",
        f"Case {case.pk}: {case.get_procedure_display()} in {case.room.name} at {when:%Y-%m-%d %H:%M}.",
        f"Level check: {case.verdict.upper()}.",
        *(f"- {m}" for m in missing[:6]),
    ]
    link = reverse("case-detail", args=[case.pk])
    return subject[:200], "\n".join(lines), link


def _external_enqueue(reminder: Reminder, subject: str, text: str, link: str, *, now: datetime) -> list[str]:
    """Queue the recipient's e-mail and webhook (in the sweep's transaction); return the channels."""
    preference = NotificationPreference.objects.filter(user=reminder.recipient).first()
    wants_email = preference.email if preference else True
    channels = []
    if wants_email and reminder.recipient.email:
        base = getattr(settings, "RIGHTLEVEL_BASE_URL", "").rstrip("/")
        html = render_to_string(
            "checklist/email/reminder.html",
            {"subject": subject, "lines": text.splitlines(), "link": f"{base}{link}" if link else ""},
        )
        delivery_enqueue(
            channel=DeliveryChannel.EMAIL, key=reminder.dedupe_key, to=[reminder.recipient.email],
            subject=f"RightLevel: {subject}", body=f"{text}\n\n{base}{link}" if link else text, html=html,
            reminder=reminder, now=now, kick=False,
        )  # fmt: skip
        channels.append(DeliveryChannel.EMAIL.value)
    if settings.RIGHTLEVEL_WEBHOOK_URL and preference is not None and preference.webhook:
        payload = {
            "event": "reminder",
            "dedupe_key": reminder.dedupe_key,
            "rule": reminder.rule.code,
            "escalation": reminder.rule.escalation,
            "recipient": reminder.recipient.username,
            "pager_id": preference.pager_id,
            "case_id": reminder.case_id,
            "title": subject,
            "text": text,
            "link": link,
        }
        delivery_enqueue(channel=DeliveryChannel.WEBHOOK, key=reminder.dedupe_key, payload=payload,
                         reminder=reminder, now=now, kick=False)  # fmt: skip
        channels.append(DeliveryChannel.WEBHOOK.value)
    return channels


# --- in-app notifications ------------------------------------------------------------------------
