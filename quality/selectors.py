"""Reads for the quality workspace: compliance aggregates, the audit browser, the near-miss register,
integrity status and one case's record.

Every dashboard figure is an aggregate computed by the database; the number of queries a page
makes does not depend on the number of cases or events (tests count them with 10 and 1,000 cases).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any

from django.db.models import (
    Avg,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models import Case as When_Case
from django.db.models.functions import Coalesce, TruncWeek

from checklist import audit
from checklist.access import roles
from checklist.models import (
    DOWNTIME_PAPER,
    AdverseEvent,
    AnatomyRecord,
    AuditChainHead,
    AuditEvent,
    AuditSeal,
    AuditSealTimestamp,
    AuditTimestampStatus,
    AuditVerificationRun,
    Case,
    CaseState,
    Localization,
    NearMiss,
    Patient,
    Room,
    StepAttestation,
    User,
)
from checklist.templates_catalog import PHASE_LABELS, PHASES

PAGE_SIZE = 50
HIDDEN_NAME = "(name hidden)"
# The buckets of the patient-in-room -> time-out histogram, in minutes ([low, high)).
WAIT_BUCKETS: tuple[tuple[int, int | None], ...] = ((0, 15), (15, 30), (30, 45), (45, 60), (60, None))
NEAR_MISS_KINDS = ("consent", "marking", "imaging", "count")
RUN_STALE_AFTER = dt.timedelta(hours=2)


# --- filters shared by every page ------------------------------------------------------------------


@dataclass(frozen=True)
class CaseFilter:
    """Where a figure looks: a date range [start, end) and optional room, surgeon and procedure."""

    start: dt.datetime | None = None
    end: dt.datetime | None = None
    room: Room | None = None
    surgeon: User | None = None
    procedure: str = ""

    @classmethod
    def from_form(cls, form: Any) -> CaseFilter:
        start, end = form.bounds()
        data = form.cleaned_data
        return cls(start, end, data.get("room"), data.get("surgeon"), data.get("procedure") or "")

    def case_q(self, prefix: str = "") -> Q:
        """The case attributes as a Q on a model reaching Case through ``prefix`` ("" for Case)."""
        q = Q()
        if self.room is not None:
            q &= Q(**{f"{prefix}room": self.room})
        if self.surgeon is not None:
            q &= Q(**{f"{prefix}surgeon": self.surgeon})
        if self.procedure:
            q &= Q(**{f"{prefix}procedure": self.procedure})
        return q

    def range_q(self, field_name: str) -> Q:
        q = Q()
        if self.start is not None:
            q &= Q(**{f"{field_name}__gte": self.start})
        if self.end is not None:
            q &= Q(**{f"{field_name}__lt": self.end})
        return q


# --- compliance dashboard --------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """A share: ``numerator`` of ``denominator``; ``percent`` is None when there is nothing to count."""

    label: str
    numerator: int
    denominator: int
    explanation: str = ""

    @property
    def percent(self) -> int | None:
        if not self.denominator:
            return None
        return round(100 * self.numerator / self.denominator)


@dataclass
class Compliance:
    cases: int
    cancelled: int
    started: int
    phases: list[Rate]
    time_out_before_first_image: Rate
    two_reference_variant: Rate
    sign_out: Rate
    wait_average_minutes: float | None
    wait_count: int
    wait_buckets: list[tuple[str, int]]
    near_misses_by_week: list[dict[str, Any]]
    near_misses_by_room: list[dict[str, Any]]
    near_misses_by_surgeon: list[dict[str, Any]]
    near_miss_total: int
    near_miss_kinds: tuple[str, ...] = NEAR_MISS_KINDS
    extra_kinds: list[str] = field(default_factory=list)
    # Cases whose anatomy was changed after a level image was read (their counts were read again).
    anatomy_changed_after_count: int = 0
    # Wrong-level treatments (adverse events): counted apart, never among the near misses.
    wrong_level_events: list[AdverseEvent] = field(default_factory=list)
    # Checklist steps back-entered from the downtime paper (issue 18).
    downtime: DowntimeFigures | None = None


@dataclass(frozen=True)
class DowntimeFigures:
    """Cases and attestations recorded from downtime paper: in the range, and week by week (the
    week of the paper's time, when the downtime was)."""

    cases: int
    attestations: int
    by_week: list[dict[str, Any]]  # {"label": week ISO date, "cases": n, "attestations": n}


def downtime_figures(where: CaseFilter) -> DowntimeFigures:
    """Two queries, whatever the number of cases: the totals and the weekly rows."""
    paper = StepAttestation.objects.filter(
        where.range_q("run__case__scheduled_start"),
        where.case_q("run__case__"),
        recorded_from_paper=True,
        voided_at__isnull=True,
    )
    totals = paper.order_by().aggregate(cases=Count("run__case", distinct=True), attestations=Count("pk"))
    weekly = (
        paper.annotate(week=TruncWeek("paper_time"))
        .values("week")
        .annotate(cases=Count("run__case", distinct=True), attestations=Count("pk"))
        .order_by("week")
    )
    by_week = [
        {
            "label": (row["week"].date() if isinstance(row["week"], dt.datetime) else row["week"]).isoformat(),
            "cases": row["cases"],
            "attestations": row["attestations"],
        }
        for row in weekly
    ]
    return DowntimeFigures(cases=totals["cases"], attestations=totals["attestations"], by_week=by_week)


def variant_anatomy_exists() -> Exists:
    """The case's anatomy in force is high-risk as the level check defines it (Anatomy.is_high_risk):
    anything but twelve thoracic and five lumbar vertebrae with the usual lowest rib and lowest mobile
    vertebra, counted on whole-spine imaging."""
    usual = Q(thoracic=12, lumbar=5, lowest_rib="T12", lowest_mobile="L5", source="whole_spine")
    return Exists(AnatomyRecord.objects.filter(case=OuterRef("pk"), superseded_at__isnull=True).exclude(usual))


def _references_in_force() -> Subquery:
    """How many different landmarks the level images in force (marker in place) were counted from."""
    return Subquery(
        Localization.objects.filter(case=OuterRef("pk"), superseded_at__isnull=True, marker_in_place=True)
        .order_by()
        .values("case")
        .annotate(n=Count("reference", distinct=True))
        .values("n")[:1],
        output_field=IntegerField(),
    )


def _first_image_at() -> Subquery:
    return Subquery(
        Localization.objects.filter(case=OuterRef("pk"))
        .order_by()
        .values("case")
        .annotate(first=Min("recorded_at"))
        .values("first")[:1]
    )


def compliance(where: CaseFilter) -> Compliance:
    """Every figure of the dashboard in seven queries, whatever the number of cases."""
    cases = Case.objects.filter(where.range_q("scheduled_start"), where.case_q())
    live = ~Q(state=CaseState.CANCELLED)
    started = live & Q(patient_in_room_at__isnull=False)
    wait = ExpressionWrapper(F("time_out_completed_at") - F("patient_in_room_at"), output_field=DurationField())
    waited = Q(time_out_completed_at__isnull=False, patient_in_room_at__isnull=False) & live
    buckets = {}
    for low, high in WAIT_BUCKETS:
        q = waited & Q(wait__gte=dt.timedelta(minutes=low))
        if high is not None:
            q &= Q(wait__lt=dt.timedelta(minutes=high))
        buckets[f"w{low}"] = Count("pk", filter=q)
    variant_at_localization = live & Q(variant=True, time_out_completed_at__isnull=False)
    imaged = live & Q(first_image__isnull=False)
    figures = (
        cases.annotate(
            wait=wait,
            variant=variant_anatomy_exists(),
            references=_references_in_force(),
            first_image=_first_image_at(),
        )
        .order_by()
        .aggregate(
            total=Count("pk"),
            cancelled=Count("pk", filter=Q(state=CaseState.CANCELLED)),
            anatomy_changed=Count("pk", filter=Q(anatomy_changed_after_count_at__isnull=False)),
            started=Count("pk", filter=started),
            sign_in=Count(
                "pk",
                filter=started & (Q(state=CaseState.TIME_OUT) | Q(time_out_completed_at__isnull=False)),
            ),
            time_out=Count("pk", filter=started & Q(time_out_completed_at__isnull=False)),
            localization=Count("pk", filter=started & Q(localization_passed_at__isnull=False)),
            signed_out=Count("pk", filter=started & Q(signed_out_at__isnull=False)),
            reached_sign_out=Count("pk", filter=live & Q(localization_passed_at__isnull=False)),
            imaged=Count("pk", filter=imaged),
            time_out_first=Count(
                "pk",
                filter=imaged & Q(time_out_completed_at__isnull=False, time_out_completed_at__lte=F("first_image")),
            ),
            variant_cases=Count("pk", filter=variant_at_localization),
            variant_two=Count("pk", filter=variant_at_localization & Q(references__gte=2)),
            wait_count=Count("pk", filter=waited),
            wait_avg=Avg("wait", filter=waited),
            **buckets,
        )
    )
    started_n = figures["started"]
    phase_counts = {
        "sign_in": figures["sign_in"],
        "time_out": figures["time_out"],
        "localization": figures["localization"],
        "sign_out": figures["signed_out"],
    }
    phases = [Rate(PHASE_LABELS[p], phase_counts[p], started_n) for p in PHASES]
    wait_avg = figures["wait_avg"]
    wait_minutes = None if wait_avg is None else _as_timedelta(wait_avg).total_seconds() / 60

    by_week, by_room, by_surgeon, kinds_seen = near_miss_figures(where)
    return Compliance(
        cases=figures["total"],
        cancelled=figures["cancelled"],
        anatomy_changed_after_count=figures["anatomy_changed"],
        started=started_n,
        phases=phases,
        time_out_before_first_image=Rate(
            "Time-out completed before the first level image",
            figures["time_out_first"],
            figures["imaged"],
            "Cases with a level image (needle or incision) whose time-out was complete before it.",
        ),
        two_reference_variant=Rate(
            "Two-reference localization for variant anatomy",
            figures["variant_two"],
            figures["variant_cases"],
            "Variant-anatomy cases past the time-out whose level images in force use two landmarks.",
        ),
        sign_out=Rate(
            "Sign-out completed",
            figures["signed_out"],
            figures["reached_sign_out"],
            "Cases whose localization passed that were signed out.",
        ),
        wait_average_minutes=wait_minutes,
        wait_count=figures["wait_count"],
        wait_buckets=[(_bucket_label(low, high), figures[f"w{low}"]) for low, high in WAIT_BUCKETS],
        near_misses_by_week=by_week,
        near_misses_by_room=by_room,
        near_misses_by_surgeon=by_surgeon,
        near_miss_total=sum(row["total"] for row in by_room),
        extra_kinds=sorted(kinds_seen - set(NEAR_MISS_KINDS)),
        wrong_level_events=list(
            AdverseEvent.objects.filter(where.range_q("recorded_at"), where.case_q("case__"))
            .select_related("case__room", "recorded_by")
            .order_by("-recorded_at")
        ),
        downtime=downtime_figures(where),
    )


def _as_timedelta(value: Any) -> dt.timedelta:
    """Avg of a duration: a timedelta on PostgreSQL, microseconds on SQLite."""
    if isinstance(value, dt.timedelta):
        return value
    return dt.timedelta(microseconds=float(value))


def _bucket_label(low: int, high: int | None) -> str:
    return f"{low}-{high} min" if high is not None else f"{low}+ min"


def near_miss_figures(
    where: CaseFilter,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], set[str]]:
    """Near misses caught in the range by week, by room and by surgeon, each split by kind (three
    grouped queries)."""
    misses = NearMiss.objects.filter(where.range_q("caught_at"), where.case_q("case__"))
    weekly = (
        misses.annotate(week=TruncWeek("caught_at")).values("week", "kind").annotate(n=Count("pk")).order_by("week")
    )
    rooms = misses.values("case__room__name", "kind").annotate(n=Count("pk")).order_by("case__room__name")
    people = (
        misses.values("case__surgeon_id", "case__surgeon__full_name", "kind")
        .annotate(n=Count("pk"))
        .order_by("case__surgeon__full_name", "case__surgeon_id")
    )
    kinds: set[str] = set()

    def fold(rows: Any, key: str, label: str) -> list[dict[str, Any]]:
        out: dict[Any, dict[str, Any]] = {}
        for row in rows:
            kinds.add(row["kind"])
            entry = out.setdefault(row[key], {"label": row[label], "total": 0, "kinds": {}})
            entry["kinds"][row["kind"]] = entry["kinds"].get(row["kind"], 0) + row["n"]
            entry["total"] += row["n"]
        return list(out.values())

    by_week = fold(weekly, "week", "week")
    for entry in by_week:
        week = entry["label"]
        entry["label"] = (week.date() if isinstance(week, dt.datetime) else week).isoformat()
    return (
        by_week,
        fold(rooms, "case__room__name", "case__room__name"),
        fold(people, "case__surgeon_id", "case__surgeon__full_name"),
        kinds,
    )


# --- integrity -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Integrity:
    last_run: AuditVerificationRun | None
    last_seal: AuditSeal | None
    stale: bool

    @property
    def state(self) -> str:
        return run_state(self.last_run) if self.last_run is not None else "never"


def integrity_status() -> Integrity:
    run = AuditVerificationRun.objects.select_related("requested_by", "seal", "start_seal").first()
    seal = AuditSeal.objects.order_by("-seq").first()
    return Integrity(run, seal, run is not None and run_is_stale(run))


def run_is_stale(run: AuditVerificationRun) -> bool:
    """A run that never reported back (its worker died) is shown as unfinished, not as running."""
    from django.utils import timezone

    return run.finished_at is None and timezone.now() - run.started_at > RUN_STALE_AFTER


def run_state(run: AuditVerificationRun) -> str:
    """running, ok, broken, or unfinished (it stopped, could not be queued, or its worker died)."""
    if run.ok is not None:
        return "ok" if run.ok else "broken"
    if run.finished_at is not None or run_is_stale(run):
        return "unfinished"
    return "running"


def verification_runs(limit: int = 10) -> list[AuditVerificationRun]:
    return list(AuditVerificationRun.objects.select_related("requested_by", "seal", "start_seal")[:limit])


def seals_recent(limit: int = 5) -> list[AuditSeal]:
    return list(AuditSeal.objects.select_related("timestamp").order_by("-seq")[:limit])


@dataclass(frozen=True)
class Timestamping:
    """The seals' RFC 3161 time-stamping as stored. ``verified_by`` is the newest intact
    verification run that checked a time-stamped seal (its ``anchor_seal``); the page calls a
    stored token verified only up to that seal."""

    enabled: bool
    newest: AuditSealTimestamp | None
    verified_by: AuditVerificationRun | None
    pending: int
    oldest_pending: AuditSeal | None
    status: AuditTimestampStatus | None

    @property
    def newest_verified(self) -> bool:
        return (
            self.newest is not None
            and self.verified_by is not None
            and self.verified_by.anchor_seal is not None
            and self.verified_by.anchor_seal.seq >= self.newest.seal_seq
        )

    @property
    def failing(self) -> bool:
        return self.status is not None and self.status.failures > 0


def timestamping_status() -> Timestamping:
    from django.conf import settings

    newest = AuditSealTimestamp.objects.select_related("seal").order_by("-seal_seq").first()
    verified_by = (
        AuditVerificationRun.objects.filter(ok=True, anchor_seal__isnull=False)
        .select_related("anchor_seal")
        .order_by("-started_at", "-id")
        .first()
    )
    pending = AuditSeal.objects.filter(timestamp__isnull=True)
    if settings.TSA_REQUIRED_FROM:
        pending = pending.filter(at__gte=dt.datetime.fromisoformat(settings.TSA_REQUIRED_FROM))
    return Timestamping(
        enabled=bool(settings.TSA_URL),
        newest=newest,
        verified_by=verified_by,
        pending=pending.count() if settings.TSA_URL else 0,
        oldest_pending=pending.order_by("seq").first() if settings.TSA_URL else None,
        status=AuditTimestampStatus.objects.filter(pk=1).first(),
    )


def run_status(run_id: int) -> dict[str, Any] | None:
    run = AuditVerificationRun.objects.filter(pk=run_id).first()
    if run is None:
        return None
    return {
        "id": run.pk,
        "state": run_state(run),
        "total_events": run.total_events,
        "checked_events": run.checked_events,
        "ok": run.ok,
        "problems_count": run.problems_count,
        "first_problem": run.first_problem,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


_CASE_CHAIN = re.compile(r"^chain case-(\d+)(?:, event #\d+ \(id (\d+))?")


def problem_location(first_problem: str) -> tuple[int | None, int | None]:
    """(case id, event id) named by a problem's description, to link to the event in its timeline."""
    match = _CASE_CHAIN.match(first_problem or "")
    if match is None:
        return None, None
    return int(match.group(1)), (int(match.group(2)) if match.group(2) else None)


# --- audit browser ---------------------------------------------------------------------------------


@dataclass
class EventPage:
    events: list[AuditEvent]
    older: int | None  # cursor for the next (older) page: ?before=<id>
    newer: int | None  # cursor for the previous (newer) page: ?after=<id>


def patient_id_for_mrn(mrn: str) -> int | None:
    """The patient with this MRN (case-insensitive, exact), or None."""
    return Patient.objects.filter(mrn__iexact=mrn.strip()).values_list("pk", flat=True).first()


def patient_mrn(patient_id: int) -> str | None:
    return Patient.objects.filter(pk=patient_id).values_list("mrn", flat=True).first()


def audit_events_browse(
    *,
    where: CaseFilter,
    action: str = "",
    username: str = "",
    patient_id: int | None = None,
    before: int | None = None,
    after: int | None = None,
    limit: int = PAGE_SIZE,
) -> EventPage:
    """Newest first, keyset-paginated on the primary key (ids grow with every append), so a page
    costs the same at event 10 and at event 10,000,000: ``WHERE id < cursor ORDER BY id DESC LIMIT n``.
    """
    events = AuditEvent.objects.defer("canonical").filter(where.range_q("at"))
    case_q = where.case_q("case__")
    if case_q:
        events = events.filter(case_q)
    if action:
        events = events.filter(action=action)
    if username:
        events = events.filter(actor_username=username)
    if patient_id is not None:
        events = events.filter(case__patient_id=patient_id)
    events = events.select_related("case", "case__patient", "case__room")
    if after is not None:
        rows = list(events.filter(id__gt=after).order_by("id")[: limit + 1])
        more_newer = len(rows) > limit
        rows = list(reversed(rows[:limit]))
        older = rows[-1].pk if rows and events.filter(id__lt=rows[-1].pk).exists() else None
        return EventPage(rows, older, rows[0].pk if more_newer and rows else None)
    page = events.filter(id__lt=before) if before is not None else events
    rows = list(page.order_by("-id")[: limit + 1])
    more_older = len(rows) > limit
    rows = rows[:limit]
    newer = rows[0].pk if before is not None and rows and events.filter(id__gt=rows[0].pk).exists() else None
    return EventPage(rows, rows[-1].pk if more_older and rows else None, newer)


@dataclass(frozen=True)
class Change:
    key: str
    before: str | None
    after: str | None


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def event_changes(event: AuditEvent) -> list[Change]:
    """What an event changed, key by key: from -> to."""
    before = event.before if isinstance(event.before, dict) else ({"value": event.before} if event.before else {})
    after = event.after if isinstance(event.after, dict) else ({"value": event.after} if event.after else {})
    changes = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if key in before and key in after and old == new:
            continue
        changes.append(Change(key, _show(old) if key in before else None, _show(new) if key in after else None))
    return changes


def annotate_changes(events: list[AuditEvent]) -> list[AuditEvent]:
    for event in events:
        event.changes = event_changes(event)  # type: ignore[attr-defined]
        event.meaning = (event.after or {}).get("meaning") if isinstance(event.after, dict) else None  # type: ignore[attr-defined]
        event.paper = paper_marker(event)  # type: ignore[attr-defined]
    return events


def paper_marker(event: AuditEvent) -> dict[str, Any] | None:
    """For an event recorded from the downtime paper (issue 18): the paper's time (``acted_at``)
    beside the time it was entered (the event's own time); None for any other event."""
    after = event.after if isinstance(event.after, dict) else {}
    if after.get("source") != DOWNTIME_PAPER:
        return None
    acted = after.get("acted_at")
    try:
        acted_at = dt.datetime.fromisoformat(acted) if isinstance(acted, str) else None
    except ValueError:
        acted_at = None
    return {"acted_at": acted_at, "entered_at": event.at}


def case_timeline(case: Case, *, after_seq: int = 0, limit: int = 200) -> tuple[list[AuditEvent], int | None]:
    """One page of a case's trail in chain order, and the cursor of the next page."""
    rows = list(
        AuditEvent.objects.defer("canonical")
        .filter(chain=audit.case_chain(case.pk), seq__gt=after_seq)
        .order_by("seq")[: limit + 1]
    )
    more = len(rows) > limit
    rows = annotate_changes(rows[:limit])
    return rows, (rows[-1].seq if more and rows else None)


ACCESS_PREFIX = "access."


@dataclass(frozen=True)
class Opening:
    """One row of "who opened this record": an access event on the case's chain."""

    at: Any
    who: str
    username: str
    role: str
    action: str
    channel: str
    address: str
    export: str


def case_openings(case: Case, *, limit: int = 100) -> list[Opening]:
    """Who opened or exported the case, newest first (access events on its chain)."""
    rows = (
        AuditEvent.objects.filter(chain=audit.case_chain(case.pk), action__startswith=ACCESS_PREFIX)
        .order_by("-seq")
        .values("at", "actor_name", "actor_username", "actor_role", "action", "after", "client")[:limit]
    )
    openings = []
    for row in rows:
        after = row["after"] if isinstance(row["after"], dict) else {}
        openings.append(
            Opening(
                at=row["at"],
                who=row["actor_name"] or row["actor_username"] or "RightLevel (system)",
                username=row["actor_username"],
                role=row["actor_role"],
                action=row["action"].removeprefix(ACCESS_PREFIX).replace("_", " "),
                channel=str(after.get("channel", "")),
                address=(row["client"] or "").split(" ", 1)[0],
                export=str(after.get("export", "")),
            )
        )
    return openings


def chain_head(case: Case) -> AuditChainHead | None:
    return AuditChainHead.objects.filter(chain=audit.case_chain(case.pk)).first()


def case_for_quality(case_id: int) -> Case | None:
    return (
        Case.objects.select_related("patient", "room", "surgeon", "anesthesia", "latest_verdict", "checklist_run")
        .filter(pk=case_id)
        .first()
    )


# --- near-miss register ----------------------------------------------------------------------------


def _role_of(user_field: str) -> Subquery:
    """The role a user acts under (the first of checklist.access.roles.ROLES they hold), in SQL."""
    rank = When_Case(
        *[When(group__name=role, then=Value(i)) for i, role in enumerate(roles.ROLES)],
        default=Value(len(roles.ROLES)),
        output_field=IntegerField(),
    )
    memberships = User.groups.through.objects.filter(user_id=OuterRef(user_field))
    return Subquery(memberships.annotate(rank=rank).order_by("rank").values("group__name")[:1])


def near_misses(*, where: CaseFilter, kind: str = "", before: int | None = None) -> QuerySet[NearMiss]:
    """The register, newest first, with the time to resolution and the catcher's role computed in SQL."""
    misses = NearMiss.objects.filter(where.range_q("caught_at"), where.case_q("case__"))
    if kind:
        misses = misses.filter(kind=kind)
    if before is not None:
        misses = misses.filter(id__lt=before)
    return (
        misses.select_related("case", "case__patient", "case__room", "case__surgeon", "caught_by", "resolved_by")
        .annotate(
            time_to_resolution=ExpressionWrapper(F("resolved_at") - F("caught_at"), output_field=DurationField()),
            caught_by_role=Coalesce(_role_of("caught_by_id"), Value("")),
            resolved_by_role=Coalesce(_role_of("resolved_by_id"), Value("")),
        )
        .order_by("-id")
    )


def near_miss_page(
    *, where: CaseFilter, kind: str = "", before: int | None = None, limit: int = PAGE_SIZE
) -> tuple[list[NearMiss], int | None]:
    rows = list(near_misses(where=where, kind=kind, before=before)[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].pk if more and rows else None)


def minutes(duration: dt.timedelta | None) -> float | None:
    return None if duration is None else round(duration.total_seconds() / 60, 1)
