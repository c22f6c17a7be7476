"""Cases as a user may see them: lists, detail, status, audit events, the room's current case."""

from __future__ import annotations

import re
import weakref
from datetime import date, timedelta
from functools import cache
from typing import Any

from django.contrib.auth.models import Group
from django.db import connection
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from checklist import audit
from checklist.access import policies
from checklist.access.policies import can, visible_cases
from checklist.level_check import current_evidence, findings_of
from checklist.models import (
    CLOSED_STATES,
    AdverseEvent,
    AuditEvent,
    Case,
    LevelVerdict,
    Localization,
    PlanVersion,
    Room,
    User,
)
from checklist.selectors.checklist import checklist_status
from checklist.selectors.incidents import case_near_misses
from checklist.selectors.signatures import signature_states
from core.local_time import local_day_bounds, local_day_start
from levelverify.check import check_levels
from levelverify.errors import LevelInputError

CASE_RELATED = ("patient", "room", "surgeon", "anesthesia", "latest_verdict", "checklist_run")


def case_visible_get(*, user: User, case_id: int, related: tuple[str, ...] = CASE_RELATED) -> Case:
    """The case if ``user`` may see it; Http404 otherwise (an invisible case does not exist).

    Read by primary key, then held against the scope rules (``policies.can``): the same rules as
    ``visible_cases``, without its joins and DISTINCT over every selected column, which cost the
    database several milliseconds of planning on each of the API's case requests. ``related``:
    the relations read with it (writes need none: their service locks and reads the case again)."""
    case = Case.objects.select_related(*related).filter(pk=case_id).first()
    if case is None or not can(user, "case.view", case):
        raise Http404("No such case.")
    return case


def case_list(
    *, user: User, day: date | None = None, room: str | None = None, state: str | None = None
) -> QuerySet[Case]:
    """The cases ``user`` may see, optionally of one day (local time), one room, one state."""
    cases = visible_cases(user)
    if day is not None:
        start, end = local_day_bounds(day)
        cases = cases.filter(scheduled_start__gte=start, scheduled_start__lt=end)
    if room:
        cases = cases.filter(room__name=room)
    if state:
        cases = cases.filter(state=state)
    return cases.select_related("patient", "room", "surgeon", "anesthesia", "latest_verdict").order_by(
        "scheduled_start", "id"
    )


STATUS_FIELDS = ("id", "version", "evidence_version", "state", "verdict")


def case_status_visible(*, user: User, case_id: int) -> dict[str, Any] | None:
    """The case's version numbers, state and verdict, or None if ``user`` may not see it.

    ONE query, written out: every device showing a case polls this every two seconds, and the
    ORM spends longer compiling the scope rules than the database spends answering them. The
    rule is ``policies.CASE_SCOPE``, tie by tie (``_tie_sql`` says each tie in SQL), with the
    user's roles read from their groups; tests/checklist/access/test_case_scope.py holds this,
    ``policies.visible_cases`` and ``policies.can`` to the same answers for every combination of
    one or two roles and every tie to a case."""
    low, high = connection.ops.integer_field_range(Case._meta.pk.get_internal_type())  # type: ignore[union-attr]
    if not low <= case_id <= high:
        return None  # as the ORM answers a lookup out of the column's range: no such case
    scope = _scope()
    params: list[int | str] = [case_id, user.pk]
    for tie, tied_roles in scope:
        params += [*tied_roles, *[user.pk] * _tie_sql()[tie].count("%s")]
    sql = _status_sql(scope)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Prepared once per database session (planning costs more than answering), as session
            # set-up beside Django's own: not a query of the request. PREPARE outlives a rollback.
            session = connection.connection
            if session not in _STATUS_PREPARED:
                numbers = iter(range(1, len(params) + 1))
                session.execute(f"PREPARE {_STATUS_STATEMENT} AS " + re.sub("%s", lambda _: f"${next(numbers)}", sql))
                _STATUS_PREPARED.add(session)
            cursor.execute(f"EXECUTE {_STATUS_STATEMENT}({', '.join(['%s'] * len(params))})", params)
        else:
            cursor.execute(sql, params)
        row = cursor.fetchone()
    return dict(zip(STATUS_FIELDS, row, strict=True)) if row else None


_STATUS_STATEMENT = "rightlevel_case_status"


_STATUS_PREPARED: weakref.WeakSet[Any] = weakref.WeakSet()  # the database sessions that hold it


def _table(model: Any) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _column(model: Any, name: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(name).column)


@cache
def _scope() -> tuple[tuple[policies.CaseTie, tuple[str, ...]], ...]:
    # The ties some role sees a case through, each with those roles.
    ties = ((tie, policies.roles_tied_by(tie)) for tie in policies.CaseTie)
    return tuple((tie, tied_roles) for tie, tied_roles in ties if tied_roles)


@cache
def _tie_sql() -> dict[policies.CaseTie, str]:
    # Each tie of policies.CaseTie as a condition on the case row ``c``; each %s is the user's id.
    # Identifiers come from the models' metadata; every value is a parameter.
    co_surgeons, staff = Case.co_surgeons.through, Room.staff.through
    case_id = f"c.{_column(Case, 'id')}"
    return {
        policies.CaseTie.EVERY_CASE: "TRUE",
        policies.CaseTie.SURGEON_OR_CO_SURGEON: (
            f"(c.{_column(Case, 'surgeon')} = %s OR EXISTS (SELECT 1 FROM {_table(co_surgeons)} cs"  # noqa: S608
            f" WHERE cs.{_column(co_surgeons, 'case')} = {case_id} AND cs.{_column(co_surgeons, 'user')} = %s))"
        ),
        policies.CaseTie.ASSIGNED_ANESTHESIA: f"c.{_column(Case, 'anesthesia')} = %s",
        policies.CaseTie.ROOM_STAFF: (
            f"EXISTS (SELECT 1 FROM {_table(staff)} rs WHERE rs.{_column(staff, 'room')} = c.{_column(Case, 'room')}"  # noqa: S608
            f" AND rs.{_column(staff, 'user')} = %s)"
        ),
    }


@cache
def _status_sql(scope: tuple[tuple[policies.CaseTie, tuple[str, ...]], ...]) -> str:
    memberships, group = User.groups.through, Group  # Group: the model behind User.groups
    fields = ", ".join(f"c.{_column(Case, name)}" for name in STATUS_FIELDS)
    name = f"g.{_column(group, 'name')}"
    ties = " OR ".join(
        f"({name} IN ({', '.join(['%s'] * len(tied_roles))}) AND {_tie_sql()[tie]})" for tie, tied_roles in scope
    )
    return (
        f"SELECT {fields} FROM {_table(Case)} c WHERE c.{_column(Case, 'id')} = %s AND EXISTS ("  # noqa: S608
        f" SELECT 1 FROM {_table(memberships)} m INNER JOIN {_table(group)} g"
        f" ON g.{_column(group, 'id')} = m.{_column(memberships, 'group')}"
        f" WHERE m.{_column(memberships, 'user')} = %s AND ({ties}))"
    )


def case_status(case_id: int) -> dict[str, Any]:
    """The state a write leaves the case in, with the findings of its latest verdict."""
    case = Case.objects.select_related("latest_verdict").get(pk=case_id)
    summary = {name: getattr(case, name) for name in STATUS_FIELDS}
    summary["findings"] = list(case.latest_verdict.findings) if case.latest_verdict else []
    return summary


def verdict_display(verdict: LevelVerdict | None) -> dict[str, Any]:
    """Target, expected counts and anatomy for a stored verdict, recomputed (pure, no query) from
    the exact input it was computed from; empty when that input has no readable plan."""
    if verdict is None or "plan" not in verdict.request:
        return {"target": None, "expected_counts": {}, "anatomy": None}
    try:
        result = check_levels(verdict.request)
    except LevelInputError:
        return {"target": None, "expected_counts": {}, "anatomy": None}
    return {
        "target": result.get("target"),
        "expected_counts": result.get("expected_counts", {}),
        "anatomy": result.get("anatomy"),
    }


def case_rows(cases: QuerySet[Case]) -> list[Case]:
    """Cases for a compact list, each with ``target_display`` from its stored verdict's input."""
    rows = list(cases)
    for case in rows:
        target = verdict_display(case.latest_verdict)["target"]
        case.target_display = target["display"] if target else None  # type: ignore[attr-defined]
    return rows


def case_row_get(case_id: int) -> Case:
    rows = case_rows(
        Case.objects.filter(pk=case_id).select_related("patient", "room", "surgeon", "anesthesia", "latest_verdict")
    )
    return rows[0]


def case_detail(case: Case, *, with_near_misses: bool) -> dict[str, Any]:
    """Everything about one case for the API: identifiers, team, evidence in force, every plan
    version with its signature, the latest verdict, the checklist and (if allowed) near misses."""
    evidence = current_evidence(case)
    plans = list(PlanVersion.objects.filter(case=case).select_related("created_by", "signature", "signature__signer"))
    signature_states([p.signature for p in plans if p.signature is not None])
    run = case.checklist_run
    verdict = case.latest_verdict
    return {
        "case": case,
        "team": {
            "surgeon": case.surgeon,
            "co_surgeons": list(case.co_surgeons.order_by("username")),
            "anesthesia": case.anesthesia,
            "room_staff": list(case.room.staff.order_by("username")),
        },
        "plan": plans[-1] if plans else None,
        "plan_versions": plans,
        "consent": evidence.consent,
        "marking": evidence.marking,
        "imaging": evidence.imaging,
        "anatomy": evidence.anatomy,
        "localizations": list(
            Localization.objects.filter(case=case)
            .select_related("read_by", "recorded_by", "plan_version")
            .order_by("recorded_at", "id")
        ),
        "latest_verdict": None
        if verdict is None
        else {
            "verdict": verdict.verdict,
            "stage": verdict.stage,
            "computed_at": verdict.computed_at,
            "evidence_version": verdict.evidence_version,
            "trigger": verdict.trigger,
            "findings": verdict.findings,
            **verdict_display(verdict),
        },
        "checklist": {
            "template_code": run.template_code,
            "template_version": run.template_version,
            "steps": checklist_status(case),
        },
        "near_misses": case_near_misses(case) if with_near_misses else None,
    }


def case_audit_events(case: Case, *, after_seq: int = 0, limit: int = 100) -> tuple[list[AuditEvent], int | None]:
    """One page of the case's audit trail in chain order, and the ``after_seq`` of the next page."""
    events = list(
        AuditEvent.objects.filter(chain=audit.case_chain(case.pk), seq__gt=after_seq).order_by("seq")[: limit + 1]
    )
    more = len(events) > limit
    events = events[:limit]
    return events, (events[-1].seq if more and events else None)


# A case left open (never signed out) stops counting as "in the room" the next day, once this long
# has passed since its patient came in: an overnight case still holds its room.
ROOM_OCCUPANCY_HOURS = 12


def case_in_room(*, room_id: int, exclude: int | None = None) -> Case | None:
    """The case whose patient is in the room now: in the room today (or within the last
    ROOM_OCCUPANCY_HOURS), neither signed out nor cancelled."""
    now = timezone.now()
    today = local_day_start(timezone.localdate())
    since = min(today, now - timedelta(hours=ROOM_OCCUPANCY_HOURS))
    cases = Case.objects.filter(room_id=room_id, patient_in_room_at__gte=since, signed_out_at__isnull=True)
    cases = cases.exclude(state__in=CLOSED_STATES).select_related("patient")
    if exclude is not None:
        cases = cases.exclude(pk=exclude)
    return cases.order_by("patient_in_room_at").first()


WRONG_LEVEL_CODE = "TREATED_LEVELS_MISMATCH"


def wrong_level_stop_only(case: Case) -> bool:
    """The case's only stop finding is the treated-levels mismatch."""
    verdict = case.latest_verdict
    if verdict is None:
        return False
    codes = {f["code"] for f in findings_of(verdict.findings, "stop")}
    return codes == {WRONG_LEVEL_CODE}


def wrong_level_acknowledged(case: Case) -> bool:
    """The stop is the treated-levels mismatch alone and its adverse event is recorded for the
    levels now on the case: sign-out may go on (the record is honest, the case closes as an event)."""
    if not wrong_level_stop_only(case):
        return False
    return AdverseEvent.objects.filter(case=case, treated_levels=case.treated_levels).exists()
