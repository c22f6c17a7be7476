"""The record against the trail (issue 13, item 3): each clinical row must say what the latest
audit event about it says.

Someone who can write the tables (the owner, or the application role through its few movable
columns) could change a plan, a consent or a case state and leave the trail alone; the trail
would still verify. ``verify_audit`` therefore collects, while it reads the events, the latest
value each event's ``after`` gives for each field of each record, and then compares the rows.
A row with no audit event at all (inserted behind the application's back) is named too.

The fields compared are the ones the services write into the event (``FIELDS``); a difference is
named with the table, the row, the field and the event.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Model

from checklist.models import (
    DOWNTIME_PAPER,
    AnatomyRecord,
    Case,
    CaseState,
    Consent,
    IdentityScan,
    LevelVerdict,
    Localization,
    PlanVersion,
    PreopImaging,
    Signature,
    SiteMarking,
    StepAttestation,
)

Getter = Callable[[Any], Any]


def _attr(name: str) -> Getter:
    return lambda row: getattr(row, name)


def _username(name: str) -> Getter:
    return lambda row: getattr(row, name).username


def _same(*names: str) -> dict[str, Getter]:
    return {name: _attr(name) for name in names}


@dataclass(frozen=True)
class Reconciled:
    model: type[Model]
    fields: dict[str, Getter]  # event ``after`` key -> the row's value for it
    related: tuple[str, ...] = ()  # select_related for the getters
    needs_event: bool = True  # every row must have at least one audit event about it
    initial: tuple[tuple[str, Any], ...] = ()  # what a field must be while no event has recorded it


RECORDS: dict[str, Reconciled] = {
    "PlanVersion": Reconciled(
        PlanVersion,
        {**_same("procedure", "levels", "side", "approach", "notes"), "version": _attr("number")},
    ),
    "Signature": Reconciled(
        Signature,
        {
            **_same("printed_name", "meaning", "signed_at", "content_hash"),
            "subject": lambda row: f"{row.subject_type} {row.subject_id}",
        },
    ),
    "Consent": Reconciled(
        Consent,
        {
            **_same("procedure", "levels", "side", "date_signed", "witness"),
            "scan_sha256": lambda row: row.scan_sha256 or None,
        },
    ),
    "SiteMarking": Reconciled(
        SiteMarking, {**_same("region", "side"), "marked_by": _username("marked_by")}, ("marked_by",)
    ),
    "PreopImaging": Reconciled(
        PreopImaging,
        {**_same("modality", "study_date", "levels"), "reviewed_by": _username("reviewed_by")},
        ("reviewed_by",),
    ),
    "AnatomyRecord": Reconciled(AnatomyRecord, _same("thoracic", "lumbar", "lowest_rib", "lowest_mobile", "source")),
    "Localization": Reconciled(
        Localization,
        {
            **_same("phase", "reference", "count", "label", "marker_in_place", "durable_mark_placed"),
            "read_by": _username("read_by"),
            "plan_version": lambda row: row.plan_version.number if row.plan_version_id else None,
        },
        ("read_by", "plan_version"),
    ),
    # A back-entry from the downtime paper (issue 18) says so in its event, with the paper's time
    # and who initialled it; a live attestation's event names none of them, so its row may not either.
    "StepAttestation": Reconciled(
        StepAttestation,
        {
            **_same("phase", "role", "evidence_version"),
            "step": _attr("step_code"),
            "source": lambda row: DOWNTIME_PAPER if row.recorded_from_paper else None,
            "acted_at": _attr("paper_time"),
            "attested_by": _username("user"),
        },
        ("run", "user"),
        initial=(("source", None), ("acted_at", None)),
    ),
    # A wristband scan (issue 17): a row saying "matched" that no event recorded is named.
    "IdentityScan": Reconciled(
        IdentityScan,
        {
            **_same("kind", "value", "source", "matched"),
            "expected_mrn": lambda row: row.expected_patient.mrn,
            "named_mrn": lambda row: row.named_patient.mrn if row.named_patient_id else None,
        },
        ("expected_patient", "named_patient"),
    ),
    # Verdicts are audited when they change the case's verdict, not every recomputation.
    "LevelVerdict": Reconciled(LevelVerdict, _same("verdict", "stage", "trigger"), needs_event=False),
    "Case": Reconciled(Case, _same("state", "procedure"), initial=(("state", CaseState.SCHEDULED.value),)),
}

# object_type -> {object_id -> {after key -> (value, chain, seq, event id, action)}}
Recorded = dict[str, dict[str, dict[str, tuple[Any, str, int, int, str]]]]


class Collector:
    """Fed every event by ``audit.verify``; remembers the latest recorded value of each field."""

    __slots__ = ("recorded",)

    def __init__(self) -> None:
        self.recorded: Recorded = {name: {} for name in RECORDS}

    def add(
        self, object_type: str, object_id: str, after: Any, chain: str, seq: int, event_id: int, action: str
    ) -> None:
        by_id = self.recorded.get(object_type)
        if by_id is None:
            return
        fields = by_id.setdefault(object_id, {})
        if isinstance(after, dict):
            keys = RECORDS[object_type].fields
            for key, value in after.items():
                if key in keys:
                    fields[key] = (value, chain, seq, event_id, action)


def recorded_from_database(collector: Collector, *, limits: dict[str, int], ends: dict[str, int]) -> None:
    """Fill ``collector`` as feeding it every event ``verify`` read would (each chain up to its
    sequence number in ``ends``), for the rows that existed when verification started (up to the
    ids in ``limits``), in one query on PostgreSQL: the database picks, for each row and each key
    of the events' ``after``, the latest event (in verify's reading order) that records it, and
    names every row with at least one event. Events about no such row cost nothing here.

    Only when verify relies on the stored hashed bytes: migration 0022's constraint, which verify
    checked, ties the columns read here (``object_type``, ``object_id``, ``after``…) to the bytes
    whose MAC it checked. Every function and operator is named in pg_catalog."""
    from django.db import connections

    from checklist.models import AuditEvent

    connection = connections[AuditEvent.objects.db]
    quote = connection.ops.quote_name
    existing: list[str] = []
    params: list[Any] = []
    for object_type, spec in RECORDS.items():
        meta = spec.model._meta
        existing.append(
            f"SELECT %s::pg_catalog.text AS object_type, ({quote(meta.pk.column)})::pg_catalog.text AS object_id "  # noqa: S608
            f"FROM {quote(meta.db_table)} WHERE {quote(meta.pk.column)} OPERATOR(pg_catalog.<=) %s"
        )
        params += [object_type, limits.get(object_type, 0)]
    sql = (
        "WITH existing AS (" + " UNION ALL ".join(existing) + "), "  # noqa: S608 - quoted model names
        # Materialized: the events about existing rows are found first (a hash of the rows, probed
        # by one pass over the events), and only they are then held to what verify read.
        "about AS MATERIALIZED (SELECT x.object_type, x.object_id, e.chain, e.seq, e.id, e.action, e.after "
        f"FROM {quote(AuditEvent._meta.db_table)} e JOIN existing x "
        "ON (e.object_type)::pg_catalog.text OPERATOR(pg_catalog.=) x.object_type "
        "AND (e.object_id)::pg_catalog.text OPERATOR(pg_catalog.=) x.object_id) "
        "SELECT DISTINCT ON (a.object_type, a.object_id, f.key) "
        "a.object_type, a.object_id, f.key, (f.value)::pg_catalog.text, a.chain, a.seq, a.id, a.action "
        "FROM about a LEFT JOIN LATERAL pg_catalog.jsonb_each(CASE WHEN pg_catalog.jsonb_typeof(a.after) "
        "OPERATOR(pg_catalog.=) 'object'::pg_catalog.text THEN a.after END) f ON true "
        "WHERE a.seq OPERATOR(pg_catalog.<=) ((%s::pg_catalog.jsonb OPERATOR(pg_catalog.->>) "
        "(a.chain)::pg_catalog.text))::pg_catalog.int8 "
        "ORDER BY a.object_type, a.object_id, f.key, a.chain DESC, a.seq DESC"
    )
    params.append(json.dumps(ends))
    recorded = collector.recorded
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for object_type, object_id, key, value, chain, seq, event_id, action in cursor.fetchall():
            fields = recorded[object_type].setdefault(object_id, {})
            if key is not None and key in RECORDS[object_type].fields:
                fields[key] = (json.loads(value), chain, seq, event_id, action)


@dataclass
class Difference:
    chain: str
    seq: int | None
    event_id: int | None
    action: str
    message: str


def differences(collector: Collector, *, limits: dict[str, int] | None = None) -> list[Difference]:
    """Compare every row (up to the id each model had when verification started, in ``limits``)
    with what its latest audit events recorded."""
    from checklist.audit.canonical import jsonable
    from checklist.audit.chain import case_chain

    found: list[Difference] = []
    for object_type, spec in RECORDS.items():
        recorded = collector.recorded[object_type]
        rows: Iterable[Any] = spec.model._default_manager.select_related(*spec.related).order_by("pk")
        if limits is not None:
            rows = rows.filter(pk__lte=limits.get(object_type, 0))  # type: ignore[attr-defined]
        if limits is not None and not limits.get(object_type):
            continue  # the table had no row when verification started
        table = spec.model._meta.db_table
        for row in rows.iterator(chunk_size=2000):  # type: ignore[attr-defined]
            case_id = row.pk if object_type == "Case" else row.case_id if hasattr(row, "case_id") else None
            if object_type == "StepAttestation":
                case_id = row.run.case_id
            chain = case_chain(case_id) if case_id is not None else ""
            fields = recorded.get(str(row.pk))
            if fields is None:
                if spec.needs_event:
                    found.append(
                        Difference(
                            chain,
                            None,
                            None,
                            "",
                            f"{table} row {row.pk} has no audit event: it was written behind the application's back",
                        )
                    )
                continue
            for key, value in spec.initial:
                actual = jsonable(spec.fields[key](row))
                if key not in fields and actual != value and not _agrees_now(spec, object_type, row.pk, key):
                    found.append(
                        Difference(
                            chain,
                            None,
                            None,
                            "",
                            f"{table} row {row.pk}: {key} is {actual!r} but no audit event records a change "
                            f"from {value!r} (the record was changed without the trail)",
                        )
                    )
            for key, (value, event_chain, seq, event_id, action) in fields.items():
                actual = jsonable(spec.fields[key](row))
                if actual != value and not _agrees_now(spec, object_type, row.pk, key):
                    found.append(
                        Difference(
                            event_chain,
                            seq,
                            event_id,
                            action,
                            f"{table} row {row.pk}: {key} is {actual!r} but the latest audit event about it "
                            f"says {value!r} (the record was changed without the trail)",
                        )
                    )
    return found


def _agrees_now(spec: Reconciled, object_type: str, pk: int, key: str) -> bool:
    """A row that moved while verification ran (a case changing state) differs from the events
    read earlier: read both again before calling it a difference."""
    from checklist.audit.canonical import jsonable
    from checklist.models import AuditEvent

    row = spec.model._default_manager.select_related(*spec.related).filter(pk=pk).first()
    latest = (
        AuditEvent.objects.filter(object_type=object_type, object_id=str(pk), after__has_key=key)
        .order_by("-at", "-id")
        .values_list("after", flat=True)
        .first()
    )
    return row is not None and isinstance(latest, dict) and jsonable(spec.fields[key](row)) == latest.get(key)


def id_limits() -> dict[str, int]:
    """The highest id of each reconciled table, read before the events (rows written later are
    checked next time)."""
    from django.db.models import Max

    return {name: spec.model._default_manager.aggregate(top=Max("pk"))["top"] or 0 for name, spec in RECORDS.items()}


TOKEN_UNTRAILED = (
    "API token {token_id} of {user} has no genuine token.created event: it was written into the "  # noqa: S105
    "token table behind the application's back (the API refuses it)"
)


def untrailed_tokens() -> list[Difference]:
    """Every API token row the trail does not vouch for (checklist/audit/tokens.py)."""
    from knox.models import AuthToken

    from checklist.audit.chain import SYSTEM_CHAIN
    from checklist.audit.tokens import token_id, token_trailed

    return [
        Difference(SYSTEM_CHAIN, None, None, "", TOKEN_UNTRAILED.format(token_id=token_id(token), user=token.user))
        for token in AuthToken.objects.select_related("user").order_by("created")
        if not token_trailed(token)
    ]
