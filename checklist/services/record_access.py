"""Access events (issue 13, item 6; HIPAA 164.312(b)): who opened which record, exported what, and
signed in or out, from where. Each is an ordinary audit event (``audit.append``: keyed, chained),
on the case's chain for a case and on the system chain otherwise. "From where" is the event's
``client`` (the address and user agent the request middleware records) and ``after.channel``
(``page``, ``quality``, ``api``, ``admin``, ``command``).

The events name records by id and never carry a patient's MRN or name. Opening is logged, not
polling: the pages' own refreshes (the ``X-RightLevel-Passive`` header, htmx partials), status
polls and 304 answers are not logged, and a case opened again by the same user through the same
channel within ``RIGHTLEVEL_ACCESS_REOPEN_SECONDS`` (the page reloads after every action) is
logged once. Access events record no ``state`` or other reconciled field, so
``checklist.audit.reconcile`` never takes one for the latest word about a record.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction

from checklist import audit
from checklist.audit.catalogue import AuditAction
from checklist.models import AuditEvent, Case, User
from checklist.services.case_writes import now

CASE_OPENED = AuditAction.ACCESS_CASE_OPENED
EXPORTED = AuditAction.ACCESS_EXPORTED
SIGNED_IN = AuditAction.ACCESS_SIGNED_IN
SIGN_IN_FAILED = AuditAction.ACCESS_SIGN_IN_FAILED
SIGNED_OUT = AuditAction.ACCESS_SIGNED_OUT
ACCESS_ACTIONS = frozenset({CASE_OPENED, EXPORTED, SIGNED_IN, SIGN_IN_FAILED, SIGNED_OUT})

CHANNELS = frozenset({"page", "quality", "api", "admin", "command"})
USERNAME_KEPT = 150  # the longest username there can be; a longer attempt is cut, never refused
REFUSED_BAD_INPUT = "refused before the password was checked: the username is not a valid one"
REFUSED_THROTTLED = "refused before the password was checked: too many failures from this address"


def _channel(channel: str) -> str:
    if channel not in CHANNELS:
        raise ValueError(f"Unknown access channel {channel!r}")
    return channel


@transaction.atomic
def access_case_open(*, actor: User, case: Case, channel: str) -> AuditEvent | None:
    """``actor`` opened ``case`` (the tablet page, the quality page or the case API). Returns the
    event, or None when the same opening was logged less than the reopen window ago."""
    channel = _channel(channel)
    window = int(getattr(settings, "RIGHTLEVEL_ACCESS_REOPEN_SECONDS", 0))
    if window > 0:
        recent = AuditEvent.objects.filter(
            chain=audit.case_chain(case.pk),
            action=CASE_OPENED,
            actor=actor,
            after__channel=channel,
            at__gte=now() - timedelta(seconds=window),
        )
        if recent.exists():
            return None
    return audit.append(
        action=CASE_OPENED,
        actor=actor,
        case=case,
        object_type="Case",
        object_id=case.pk,
        after={"channel": channel},
    )


@transaction.atomic
def access_export(
    *, actor: User | None, export: str, channel: str, case: Case | None = None, scope: dict[str, Any] | None = None
) -> AuditEvent:
    """An export was produced: ``export`` is ``pdf``, ``fhir`` or a CSV's kind (``csv:cases``…);
    ``scope`` the filter it used (dates, room, whether names were hidden)."""
    return audit.append(
        action=EXPORTED,
        actor=actor,
        case=case,
        object_type="Case" if case is not None else "Export",
        object_id=case.pk if case is not None else export,
        after={"export": export, "channel": _channel(channel), **(scope or {})},
    )


@transaction.atomic
def access_downtime_sheets(*, actor: User, cases: list[Case], channel: str = "page") -> list[AuditEvent]:
    """Downtime sheets were printed: one export event on each case's chain, all or none."""
    return [access_export(actor=actor, export="pdf:downtime_sheet", channel=channel, case=case) for case in cases]


@transaction.atomic
def access_sign_in(*, user: User, channel: str) -> AuditEvent:
    """``user`` signed in (a session, or a token obtained with the password)."""
    return audit.append(
        action=SIGNED_IN, actor=user, obj=user, object_type="User", after={"channel": _channel(channel)}
    )


@transaction.atomic
def access_sign_in_fail(*, username: str, channel: str, reason: str = "") -> AuditEvent:
    """A sign-in failed for ``username`` (as typed, cut to 150 characters; never the password);
    ``reason`` when it was refused before the password was checked."""
    # NUL is no part of a username and PostgreSQL stores it in neither a text column nor jsonb.
    typed = username[:USERNAME_KEPT].replace("\x00", "\N{REPLACEMENT CHARACTER}")
    user = User.objects.filter(username=typed).first() if typed and typed == username[:USERNAME_KEPT] else None
    return audit.append(
        action=SIGN_IN_FAILED,
        actor=None,
        object_type="User",
        object_id=user.pk if user is not None else "",
        after={"username": typed, "known_user": user is not None, "channel": _channel(channel)},
        reason=reason,
    )


@transaction.atomic
def access_sign_out(*, user: User, channel: str, reason: str = "") -> AuditEvent:
    """``user``'s session ended (signed out, switched user, or timed out: ``reason``)."""
    return audit.append(
        action=SIGNED_OUT,
        actor=user,
        obj=user,
        object_type="User",
        after={"channel": _channel(channel)},
        reason=reason,
    )
