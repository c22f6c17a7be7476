"""Verifying the trail: every chain, every seal, every time-stamp, and the clinical rows against it."""

from __future__ import annotations

import functools
import gc
import hashlib
import hmac
import importlib
import json
import logging
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from django.db import DatabaseError, connections, transaction
from django.db.models import BooleanField, CharField, ExpressionWrapper, Func, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from checklist.audit import reconcile, timestamps
from checklist.audit.canonical import (
    GENESIS_HASH,
    HASHED_FIELDS,
    OPTIONAL_HASHED_FIELDS,
    _timestamp,
    event_canonical,
    json_text,
    seal_hash,
)
from checklist.audit.chain import SCHEMA, SEALED_ACTION, SEALS, SYSTEM_CHAIN, case_chain, chain_sort_key
from checklist.audit.keys import audit_keys, seal_keys, seal_mac
from checklist.models import AuditChainHead, AuditEvent, AuditSeal, Case


@dataclass
class Problem:
    """One thing wrong with the trail. ``seq`` and ``event_id`` name the event where it shows
    (None when the event is gone); ``action`` is that event's action when it is still there."""

    chain: str
    seq: int | None
    event_id: int | None
    message: str
    action: str = ""

    def describe(self) -> str:
        if self.chain == SCHEMA:
            return f"the database: {self.message}"
        if self.chain == SEALS:
            where = f"seal #{self.seq}" + (f" (id {self.event_id})" if self.event_id is not None else "")
        else:
            where = f"chain {self.chain}" + (f", event #{self.seq}" if self.seq is not None else "")
            details = [f"id {self.event_id}"] if self.event_id is not None else []
            if self.action:
                details.append(f"action {self.action}")
            where += f" ({', '.join(details)})" if details else ""
        return f"{where}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "chain": self.chain,
            "seq": self.seq,
            "event_id": self.event_id,
            "action": self.action or None,
            "message": self.message,
            "description": self.describe(),
        }


@dataclass
class TimestampSummary:
    """What ``verify`` found about the seals' RFC 3161 time-stamps."""

    enabled: bool = False  # TSA_URL is set
    stamped: int = 0  # tokens checked (valid or not)
    valid: int = 0  # tokens that verified against the TSA certificate for their seal's hash
    pending: int = 0  # seals that still wait for a token
    newest_seq: int | None = None  # the newest seal whose token verified
    newest_gen_time: datetime | None = None
    last_error: str = ""

    def describe(self) -> str:
        if not self.enabled and not self.stamped:
            return "time-stamping is off (TSA_URL is empty): no seal is time-stamped"
        parts = [f"{self.valid} of {self.stamped} time-stamp(s) verified"]
        if self.newest_seq is not None and self.newest_gen_time is not None:
            parts.append(f"newest time-stamped seal #{self.newest_seq} at {_timestamp(self.newest_gen_time)[:19]}Z")
        else:
            parts.append("no seal is time-stamped yet")
        if self.enabled:
            parts.append(f"{self.pending} seal(s) pending")
        else:
            parts.append("time-stamping is now off (TSA_URL is empty)")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "stamped": self.stamped,
            "valid": self.valid,
            "pending": self.pending,
            "newest_seal": self.newest_seq,
            "newest_gen_time": _timestamp(self.newest_gen_time) if self.newest_gen_time else None,
            "last_error": self.last_error or None,
        }


@dataclass
class VerifyReport:
    events: int = 0
    chains: int = 0
    seals: int = 0
    problems: list[Problem] = field(default_factory=list)
    timestamps: TimestampSummary = field(default_factory=TimestampSummary)
    # "full", or "incremental from seal #n": events before the chain heads that time-stamped seal
    # recorded were verified by an earlier run and are not read again.
    scope: str = "full"
    start_seal: int | None = None
    # "hashes": each event's MAC checked over its stored hash, which the database's constraint ties
    # to its stored bytes and columns; "columns": each event rebuilt from its columns and hashed here.
    read: str = "columns"

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def summary(self) -> str:
        scope = "" if self.start_seal is None else f" (incremental: events since seal #{self.start_seal})"
        if self.ok:
            return (
                f"Audit trail intact{scope}: {self.events} events in {self.chains} chains, {self.seals} seals "
                f"verified. Time-stamps: {self.timestamps.describe()}."
            )
        return (
            f"Audit trail BROKEN{scope}: {len(self.problems)} problem(s) in {self.events} events, "
            f"{self.chains} chains, {self.seals} seals. Time-stamps: {self.timestamps.describe()}."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "chains": self.chains,
            "seals": self.seals,
            "problem_count": len(self.problems),
            "first_problem": self.first_problem.to_dict() if self.first_problem else None,
            "problems": [p.to_dict() for p in self.problems],
            "timestamps": self.timestamps.to_dict(),
            "scope": self.scope,
            "start_seal": self.start_seal,
            "read": self.read,
        }


logger = logging.getLogger(__name__)

PROGRESS_EVERY = 1000

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _collector_paused(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``function`` with the cyclic garbage collector paused, then restore it.

    Verification allocates a few tuples and strings for every event and frees them itself; the
    collector, which those allocations keep triggering, has nothing to collect there (about 5% of
    the time on PostgreSQL, bench/run verify). Reference counting still frees everything. The
    switch is process-wide: a verify running in another thread at the same time may find it off
    and leave it to the first to turn back on, which costs speed, never correctness.
    """

    @functools.wraps(function)
    def paused(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        collecting = gc.isenabled()
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            if collecting:
                gc.enable()

    return paused


@_collector_paused
def verify(
    *,
    progress: Callable[[int], None] | None = None,
    chunk_size: int = 5000,
    reconcile_records: bool = True,
    since_seal: int | None = None,
    from_columns: bool | None = None,
) -> VerifyReport:
    """Recompute every chain and seal; report every problem, the first broken event first.

    Safe while the application keeps appending, without a lock or a long transaction: the seals,
    the chain heads and the list of cases are read before the events, so every event they
    promise must be there; events appended later only make the trail longer. ``progress`` is
    called with the number of events checked since its last call. ``reconcile_records`` also
    compares every clinical row with what its latest audit event says (checklist/audit/reconcile.py).

    ``since_seal`` (incremental, the nightly run): the number of a time-stamped seal an earlier
    intact run covered. The seal chain and every time-stamp are still checked in full; each chain
    is read from the head the seals up to that one recorded (that event's hash must still be the
    sealed one, which the token pins), so the cost grows with the events since, not the trail.
    Events before those heads are not read again, and the records are not reconciled: the full
    run does both (docs/audit.md, "Incremental verification").

    ``from_columns``: rebuild every event's canonical JSON from its columns and hash it here,
    trusting no constraint of the database (``verify_audit --from-columns``; the default for the
    incremental run, so each event is rebuilt from its columns by the first nightly run after it
    is written). Otherwise, on PostgreSQL, while migration 0022's constraint is in force, each
    event's MAC is checked over its stored hash, which the database holds to its stored bytes and
    columns (docs/audit.md, "How verify reads the events").
    """
    report = VerifyReport()
    seal_hashes: dict[int, str] = {}
    seal_rows: list[tuple[int, int, datetime, str]] = []
    starts: dict[str, int] = {}  # incremental: chain -> the sequence number it is read from
    sealed = _verify_seals(report, seal_hashes, seal_rows=seal_rows, starts=starts, since_seal=since_seal)
    if since_seal is not None:
        report.scope, report.start_seal, reconcile_records = f"incremental from seal #{since_seal}", since_seal, False
        sealed = {(c, seq): h for (c, seq), h in sealed.items() if seq >= starts.get(c, 0)}
    _verify_timestamps(report, seal_rows, since_seal=since_seal)
    seals_announced: set[int] = set()
    heads = list(AuditChainHead.objects.exclude(last_seq=0).values_list("chain", "last_seq", "last_hash"))
    case_ids = set(Case.objects.values_list("id", flat=True))
    record_limits = reconcile.id_limits() if reconcile_records else None
    collector = reconcile.Collector()
    collect = collector.add if reconcile_records else None

    problems = report.problems
    hashes: dict[tuple[str, int], str] = {}  # sealed and head positions -> the hash found there
    chain_ends: dict[str, int] = {}
    walk = _Walk(
        problems=problems, starts=starts, sealed=sealed, wanted=set(sealed) | {(c, seq) for c, seq, _ in heads},
        hashes=hashes, chain_ends=chain_ends, seal_hashes=seal_hashes, announced=seals_announced, progress=progress,
    )  # fmt: skip
    first = len(problems)
    if from_columns is None:
        from_columns = since_seal is not None
    report.read = "columns" if from_columns else "hashes"
    if not from_columns and _bytes_tied(report):
        queryset = _tied_rows()
        querysets = [queryset] if since_seal is None else _incremental(queryset, starts, heads)
        report.events = _walk_tied(_binary_chunks(querysets, chunk_size), walk)
        if record_limits is not None:
            reconcile.recorded_from_database(collector, limits=record_limits, ends=chain_ends)
    else:
        queryset = event_rows()
        querysets = [queryset] if since_seal is None else _incremental(queryset, starts, heads)
        report.read = "columns"
        postgresql = connections[queryset.db].vendor == "postgresql"
        report.events = _walk_columns(raw_chunks(querysets, chunk_size), walk, collect, postgresql=postgresql)
    # Each chain's problems in event order (the events without stored bytes were checked after the walk).
    problems[first:] = sorted(problems[first:], key=lambda problem: (chain_sort_key(problem.chain), problem.seq or 0))
    report.chains = len(chain_ends)

    for (sealed_chain, seq), _ in sorted(sealed.items(), key=lambda item: (chain_sort_key(item[0][0]), item[0][1])):
        if (sealed_chain, seq) not in hashes:
            end = chain_ends.get(sealed_chain)
            what = "deleted" if end is None else f"truncated (it now ends at event #{end})"
            problems.append(
                Problem(
                    sealed_chain, seq, None, f"sealed event #{seq} is missing: the chain was {what} after it was sealed"
                )
            )
    for head_chain, last_seq, last_hash in heads:
        found = hashes.get((head_chain, last_seq))
        if found is None:
            problems.append(
                Problem(head_chain, last_seq, None, f"the chain head says event #{last_seq} exists; it is missing")
            )
        elif found != last_hash:
            problems.append(
                Problem(head_chain, last_seq, None, f"event #{last_seq} differs from the chain head's hash")
            )
    for seal_seq in sorted(set(seal_hashes) - seals_announced):
        if since_seal is not None and seal_seq < since_seal:
            continue  # announced before the start point, verified by an earlier run
        problems.append(
            Problem(
                SYSTEM_CHAIN,
                None,
                None,
                f"the {SEALED_ACTION} event of seal #{seal_seq} is missing: the system chain was truncated",
            )
        )
    for case_id in sorted(case_ids):
        if case_chain(case_id) not in chain_ends:
            problems.append(Problem(case_chain(case_id), None, None, f"case {case_id} has no audit trail at all"))

    if record_limits is not None:
        for difference in [*reconcile.differences(collector, limits=record_limits), *reconcile.untrailed_tokens()]:
            problems.append(
                Problem(difference.chain, difference.seq, difference.event_id, difference.message, difference.action)
            )

    problems.sort(key=lambda problem: chain_sort_key(problem.chain))  # stable: event order kept per chain
    return report


@dataclass(slots=True)
class _Walk:
    """What walking the events fills in, shared by both ways of reading them."""

    problems: list[Problem]
    starts: dict[str, int]  # incremental: chain -> the sequence number it is read from
    sealed: dict[tuple[str, int], str]  # (chain, seq) -> the hash the seals vouch for
    wanted: set[tuple[str, int]]  # the sealed positions and the chain heads
    hashes: dict[tuple[str, int], str]  # wanted positions -> the hash found there
    chain_ends: dict[str, int]  # chain -> the last sequence number read
    seal_hashes: dict[int, str]
    announced: set[int]  # the seals whose audit.sealed event was read
    progress: Callable[[int], None] | None


def _walk_columns(
    chunks: Iterator[list[tuple[Any, ...]]], walk: _Walk, collect: Callable[..., None] | None, *, postgresql: bool
) -> int:
    """Check every event from its columns: rebuild its canonical JSON, hash it, check the MAC, the
    link and the sequence (SQLite, or PostgreSQL without the constraint that ties the stored bytes
    to the columns). Returns the number of events read."""
    problems, starts, sealed, wanted, hashes = walk.problems, walk.starts, walk.sealed, walk.wanted, walk.hashes
    chain_ends, seal_hashes, seals_announced, progress = (
        walk.chain_ends,
        walk.seal_hashes,
        walk.announced,
        walk.progress,
    )
    chain = ""
    expected_seq = 1
    prev = GENESIS_HASH
    events = 0
    pending = 0
    sha256 = hashlib.sha256
    hmac_digest, compare = hmac.digest, hmac.compare_digest
    canonical = event_canonical
    json_seen: dict[Any, tuple[Any, str]] = {None: (None, "null")}
    event_keys = {key.key_id: key.event for key in audit_keys()}
    formatted_at = str if postgresql else _stored_timestamp
    for rows in chunks:
        for row in rows:
            (event_id, event_chain, seq, at, case_id, actor_id, username, name, role, action, object_type, object_id,
             before, after, reason, request_id, client, prev_hash, stored, mac, mac_key_id, acted_at) = row  # fmt: skip
            # Raw rows: the JSON columns as the database's text, the time as the driver gives it.
            # Each distinct text is decoded and re-encoded once (many events say the same thing).
            decoded = json_seen.get(before)
            if decoded is None:
                decoded = _json_decoded(before, json_seen)
            before, before_json = decoded
            decoded = json_seen.get(after)
            if decoded is None:
                decoded = _json_decoded(after, json_seen)
            after, after_json = decoded
            values = (event_chain, seq, at, case_id, actor_id, username, name, role, action, object_type, object_id,
                      before, after, reason, request_id, client, prev_hash)  # fmt: skip
            if event_chain != chain:
                chain, expected_seq, prev = event_chain, 1, GENESIS_HASH
                if chain in starts:  # incremental: from the sealed head, whose hash its seal pins
                    expected_seq, prev = starts[chain], prev_hash
            events += 1
            if progress is not None:
                pending += 1
                if pending == PROGRESS_EVERY:
                    progress(pending)
                    pending = 0
            if event_chain != (SYSTEM_CHAIN if case_id is None else f"case-{case_id}"):
                problems.append(Problem(chain, seq, event_id, f"filed in the wrong chain (case id {case_id})", action))
            if seq != expected_seq:
                problems.append(Problem(chain, seq, event_id, _sequence_broken(seq, expected_seq), action))
            if prev_hash != prev:
                problems.append(Problem(chain, seq, event_id, LINK_BROKEN, action))
            recomputed = sha256(
                canonical(
                    values,
                    formatted_at(at),
                    before_json=before_json,
                    after_json=after_json,
                    acted_at=None if acted_at is None else formatted_at(acted_at),
                )
            ).hexdigest()
            if recomputed != stored:
                problems.append(Problem(chain, seq, event_id, _content_altered(stored, recomputed), action))
            if not mac:
                problems.append(Problem(chain, seq, event_id, EVENT_UNKEYED, action))
            else:
                mac_key = event_keys.get(mac_key_id)
                if mac_key is None:
                    problems.append(Problem(chain, seq, event_id, EVENT_KEY_UNKNOWN.format(key_id=mac_key_id), action))
                elif not compare(hmac_digest(mac_key, stored.encode("ascii"), "sha256").hex(), mac):
                    problems.append(Problem(chain, seq, event_id, EVENT_MAC_INVALID, action))
            if collect is not None:
                collect(object_type, object_id, after, chain, seq, event_id, action)
            if action == SEALED_ACTION and chain == SYSTEM_CHAIN:
                _check_seal_event(problems, seq, after, event_id, seal_hashes, seals_announced)
            if (chain, seq) in wanted:
                hashes[(chain, seq)] = stored
                if sealed.get((chain, seq), stored) != stored:
                    problems.append(Problem(chain, seq, event_id, SEALED_HASH_DIFFERS, action))
            expected_seq = seq + 1
            prev = stored
            chain_ends[chain] = seq
    if progress is not None and pending:
        progress(pending)
    return events


def _sequence_broken(seq: int, expected_seq: int) -> str:
    if seq > expected_seq:
        return f"sequence broken: event #{expected_seq} is missing"
    return f"sequence broken: a duplicate or reordered event (expected #{expected_seq})"


def _content_altered(stored: str, recomputed: str) -> str:
    return f"content altered: stored hash {stored[:12]}… but the content hashes to {recomputed[:12]}…"


SEALED_HASH_DIFFERS = "hash differs from the one recorded in a seal"


INCREMENTAL_BATCH = 500


def event_rows() -> Any:
    """The events as ``verify`` reads them (with ``raw_chunks``): id, the hashed fields, the hash,
    the MAC and its key id, then the fields hashed only when present (``acted_at``), in chain order.
    On PostgreSQL the times come as their canonical text, formatted by the database, so no row
    needs a datetime."""
    fields: list[Any] = ["id", *HASHED_FIELDS, "event_hash", "mac", "mac_key_id", *OPTIONAL_HASHED_FIELDS]
    if connections[AuditEvent.objects.db].vendor == "postgresql":
        fields[fields.index("at")] = CanonicalTime("at")
        fields[fields.index("acted_at")] = CanonicalTime("acted_at")
    return AuditEvent.objects.order_by("chain", "seq").values_list(*fields)


def _incremental(queryset: Any, starts: dict[str, int], heads: list[tuple[str, int, str]]) -> list[Any]:
    """Incremental verification's events, as querysets read one after the other: grouped by chain
    and in order within each, every chain a seal up to the start recorded from its sealed head on,
    and every chain no such seal recorded (those the chain heads list) in full. Batched so that no
    query names too many chains."""
    querysets = []
    sealed_chains = sorted(starts)
    for start in range(0, len(sealed_chains), INCREMENTAL_BATCH):
        condition = Q()
        for chain in sealed_chains[start : start + INCREMENTAL_BATCH]:
            condition |= Q(chain=chain, seq__gte=starts[chain])
        querysets.append(queryset.filter(condition))
    new_chains = sorted({chain for chain, _, _ in heads} - set(starts))
    for start in range(0, len(new_chains), INCREMENTAL_BATCH):
        querysets.append(queryset.filter(chain__in=new_chains[start : start + INCREMENTAL_BATCH]))
    return querysets


def raw_chunks(querysets: list[Any], chunk_size: int) -> Iterator[list[tuple[Any, ...]]]:
    """The querysets' rows as the database driver returns them, ``chunk_size`` at a time, through
    a server-side cursor on PostgreSQL (as ``QuerySet.iterator`` does) but without Django's
    per-row converters: ``verify`` converts the three columns that need it itself."""
    for queryset in querysets:
        sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
        with connections[queryset.db].chunked_cursor() as cursor:
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(chunk_size):
                yield rows


# -- The stored hashed bytes (migration 0022) ------------------------------------------------------

_TIE = "checklist.migrations.0022_issue13_event_canonical_bytes"

TIE_MISSING = (
    "the CHECK constraint {name}, which ties each event's stored hashed bytes to its columns, is missing "
    "(dropped by the owner): every event was checked from its columns instead"
)
TIE_NOT_VALIDATED = (
    "the CHECK constraint {name} is NOT VALID (added back without checking the rows already there): "
    "every event was checked from its columns instead"
)
TIE_ALTERED = (
    "the CHECK constraint {name} is not the one migration 0022 defines (altered): every event was "
    "checked from its columns instead"
)


class _Editor:
    """What migration 0022's ``constraint_add`` needs from a schema editor."""

    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor

    def execute(self, statement: str, params: Any = None) -> None:
        self.cursor.execute(statement, params)


def _bytes_tied(report: VerifyReport) -> bool:
    """Whether each event's stored bytes may stand for its columns: on PostgreSQL, when migration
    0022's CHECK constraint is in force on the events table: present, validated (every row was
    checked when it was added, and every row written since), and defined exactly as the migration
    defines it (its definition, printed by this server, equals the one it prints for the same
    constraint added to a scratch copy of the table). Anything else is named, and the events are
    then checked from their columns. One query of the catalogue, once per run."""
    connection = connections[AuditEvent.objects.db]
    if connection.vendor != "postgresql":
        return False
    tie = importlib.import_module(_TIE)
    table = AuditEvent._meta.db_table
    definition = (
        "SELECT c.convalidated, pg_catalog.pg_get_constraintdef(c.oid) FROM pg_catalog.pg_constraint c "
        "WHERE c.conrelid OPERATOR(pg_catalog.=) %s::pg_catalog.regclass "
        "AND c.conname OPERATOR(pg_catalog.=) %s AND c.contype OPERATOR(pg_catalog.=) 'c'"
    )
    with connection.cursor() as cursor:
        cursor.execute(definition, [table, tie.CONSTRAINT])
        found = cursor.fetchone()
        if found is None:
            report.problems.append(Problem(SCHEMA, None, None, TIE_MISSING.format(name=tie.CONSTRAINT)))
            return False
        try:
            with transaction.atomic(using=connection.alias):
                scratch = "rightlevel_verify_tie"
                cursor.execute(f"CREATE TEMPORARY TABLE {scratch} (LIKE {table}) ON COMMIT DROP")
                tie.constraint_add(_Editor(cursor), scratch, valid=False)
                cursor.execute(definition, [f"pg_temp.{scratch}", tie.CONSTRAINT])
                expected = cursor.fetchone()
                transaction.set_rollback(True, using=connection.alias)
        except DatabaseError as exc:  # no TEMPORARY privilege: fall back, as safe as before
            logger.warning("verify_audit could not compare the tie constraint (%s): checking from the columns", exc)
            return False
    validated, actual = found
    if actual.removesuffix(" NOT VALID") != expected[1].removesuffix(" NOT VALID"):
        report.problems.append(Problem(SCHEMA, None, None, TIE_ALTERED.format(name=tie.CONSTRAINT)))
        return False
    if not validated:
        report.problems.append(Problem(SCHEMA, None, None, TIE_NOT_VALIDATED.format(name=tie.CONSTRAINT)))
        return False
    return True


def _tied_rows() -> Any:
    """The events as ``_walk_tied`` reads them: id, chain, seq, case id, previous hash, hash, MAC
    and its key id, action, and whether the event has no stored bytes (then it is checked from its
    columns). Not the bytes themselves: the constraint makes each hash their SHA-256."""
    return AuditEvent.objects.order_by("chain", "seq").values_list(
        "id", "chain", "seq", "case_id", "prev_hash", "event_hash", "mac", "mac_key_id", "action",
        ExpressionWrapper(Q(canonical__isnull=True), output_field=BooleanField()),
    )  # fmt: skip


def _binary_chunks(querysets: list[Any], chunk_size: int) -> Iterator[list[tuple[Any, ...]]]:
    """Like ``raw_chunks``, in PostgreSQL's binary format (the bytes arrive as bytes, not as hex
    text, and numbers need no parsing)."""
    for queryset in querysets:
        connection = connections[queryset.db]
        connection.ensure_connection()
        sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
        name = f"rightlevel_verify_{secrets.token_hex(6)}"
        withhold = connection.get_autocommit()  # as Django's own server-side cursors do
        with connection.connection.cursor(name=name, binary=True, withhold=withhold) as cursor:
            cursor.itersize = chunk_size
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(chunk_size):
                yield rows


def _mac_state(key: bytes) -> Any:
    """An HMAC-SHA-256 with ``key`` already absorbed: ``copy()`` it for each message, which saves
    hashing the two key blocks again for every event (``hmac.digest`` does)."""
    try:
        from _hashlib import hmac_new  # OpenSSL's HMAC, as the hmac module itself uses it
    except ImportError:  # pragma: no cover - CPython without OpenSSL
        return hmac.new(key, digestmod=hashlib.sha256)
    return hmac_new(key, digestmod="sha256")


_NO_SEQS: frozenset[int] = frozenset()


def _chain_case(chain: str) -> Any:
    """The case id an event of ``chain`` must carry (None on the system chain)."""
    if chain == SYSTEM_CHAIN:
        return None
    if chain.startswith("case-") and chain[5:].isdigit() and str(int(chain[5:])) == chain[5:]:
        return int(chain[5:])
    return _NOT_A_CASE


_NOT_A_CASE = object()  # a chain no case's events belong to: any case id there is misfiled


def _walk_tied(chunks: Iterator[list[tuple[Any, ...]]], walk: _Walk) -> int:
    """Check every event whose stored bytes the constraint ties to its columns and its hash: the
    MAC over that hash (which only the holder of ``AUDIT_KEY`` can make), the link to the previous
    event and the sequence, as ``_walk_columns`` does, without rebuilding the canonical JSON: the
    database refuses any row whose hash is not the SHA-256 of its bytes, or whose bytes say other
    than its columns. An event without bytes is checked from its columns after the walk
    (``_check_unhashed``). Returns the number of events read."""
    problems, starts, sealed, hashes = walk.problems, walk.starts, walk.sealed, walk.hashes
    chain_ends, progress = walk.chain_ends, walk.progress
    wanted_by_chain: dict[str, set[int]] = {}
    for wanted_chain, wanted_seq in walk.wanted:
        wanted_by_chain.setdefault(wanted_chain, set()).add(wanted_seq)
    states = {key.key_id: _mac_state(key.event) for key in audit_keys()}
    compare = hmac.compare_digest
    unhashed: list[int] = []
    seal_events: list[int] = []
    chain = ""
    chain_case: Any = _NOT_A_CASE
    wanted_here: set[int] | frozenset[int] = _NO_SEQS
    expected_seq = 1
    prev = GENESIS_HASH
    events = 0
    pending = 0
    for rows in chunks:
        for event_id, event_chain, seq, case_id, prev_hash, stored, mac, mac_key_id, action, no_bytes in rows:
            if event_chain != chain:
                chain, expected_seq, prev = event_chain, 1, GENESIS_HASH
                if chain in starts:  # incremental: from the sealed head, whose hash its seal pins
                    expected_seq, prev = starts[chain], prev_hash
                chain_case = _chain_case(chain)
                wanted_here = wanted_by_chain.get(chain, _NO_SEQS)
            events += 1
            if progress is not None:
                pending += 1
                if pending == PROGRESS_EVERY:
                    progress(pending)
                    pending = 0
            if case_id != chain_case:
                problems.append(Problem(chain, seq, event_id, f"filed in the wrong chain (case id {case_id})", action))
            if seq != expected_seq:
                problems.append(Problem(chain, seq, event_id, _sequence_broken(seq, expected_seq), action))
            if prev_hash != prev:
                problems.append(Problem(chain, seq, event_id, LINK_BROKEN, action))
            if no_bytes:
                unhashed.append(event_id)  # its content, MAC and seal: from its columns, below
            else:
                if not mac:
                    problems.append(Problem(chain, seq, event_id, EVENT_UNKEYED, action))
                else:
                    state = states.get(mac_key_id)
                    if state is None:
                        problems.append(
                            Problem(chain, seq, event_id, EVENT_KEY_UNKNOWN.format(key_id=mac_key_id), action)
                        )
                    else:
                        state = state.copy()
                        state.update(stored.encode("ascii"))
                        if not compare(state.hexdigest(), mac):
                            problems.append(Problem(chain, seq, event_id, EVENT_MAC_INVALID, action))
                if action == SEALED_ACTION and chain == SYSTEM_CHAIN:
                    seal_events.append(event_id)
            if seq in wanted_here:
                hashes[(chain, seq)] = stored
                if sealed.get((chain, seq), stored) != stored:
                    problems.append(Problem(chain, seq, event_id, SEALED_HASH_DIFFERS, action))
            expected_seq = seq + 1
            prev = stored
            chain_ends[chain] = seq
    if progress is not None and pending:
        progress(pending)
    for start in range(0, len(seal_events), INCREMENTAL_BATCH):
        batch = seal_events[start : start + INCREMENTAL_BATCH]
        for event_id, seq, after in AuditEvent.objects.filter(id__in=batch).values_list("id", "seq", "after"):
            _check_seal_event(problems, seq, after, event_id, walk.seal_hashes, walk.announced)
    _check_unhashed(unhashed, walk)
    return events


def _check_unhashed(event_ids: list[int], walk: _Walk) -> None:
    """The events without stored bytes (rewritten before the bytes were kept, or written into the
    table behind the application's back), each checked from its columns as ``_walk_columns`` does:
    its content against its hash, its MAC, and, for a seal's event, the seal it names. Their links
    and sequence numbers were checked in the walk."""
    event_keys = {key.key_id: key.event for key in audit_keys()}
    json_seen: dict[Any, tuple[Any, str]] = {None: (None, "null")}
    problems = walk.problems
    for start in range(0, len(event_ids), INCREMENTAL_BATCH):
        batch = event_ids[start : start + INCREMENTAL_BATCH]
        for rows in raw_chunks([event_rows().filter(id__in=batch)], INCREMENTAL_BATCH):
            for row in rows:
                (event_id, chain, seq, at, case_id, actor_id, username, name, role, action, object_type,
                 object_id, before, after, reason, request_id, client, prev_hash, stored, mac, mac_key_id,
                 acted_at) = row  # fmt: skip
                before, before_json = _json_decoded(before, json_seen)
                after, after_json = _json_decoded(after, json_seen)
                values = (chain, seq, at, case_id, actor_id, username, name, role, action, object_type, object_id,
                          before, after, reason, request_id, client, prev_hash)  # fmt: skip
                recomputed = hashlib.sha256(
                    event_canonical(
                        values, str(at), before_json=before_json, after_json=after_json,
                        acted_at=None if acted_at is None else str(acted_at),
                    )
                ).hexdigest()  # fmt: skip
                if recomputed != stored:
                    problems.append(Problem(chain, seq, event_id, _content_altered(stored, recomputed), action))
                if not mac:
                    problems.append(Problem(chain, seq, event_id, EVENT_UNKEYED, action))
                elif (mac_key := event_keys.get(mac_key_id)) is None:
                    problems.append(Problem(chain, seq, event_id, EVENT_KEY_UNKNOWN.format(key_id=mac_key_id), action))
                elif not hmac.compare_digest(hmac.digest(mac_key, stored.encode("ascii"), "sha256").hex(), mac):
                    problems.append(Problem(chain, seq, event_id, EVENT_MAC_INVALID, action))
                if action == SEALED_ACTION and chain == SYSTEM_CHAIN:
                    _check_seal_event(problems, seq, after, event_id, walk.seal_hashes, walk.announced)


class CanonicalTime(Func):
    """A ``timestamptz`` as ``canonical._timestamp`` writes it (ISO 8601, UTC, microseconds), on
    PostgreSQL. Exact: the column holds microseconds. A time Python cannot represent (infinity, a
    year before 1 or after 9999, which ``YYYY`` would print like an ordinary one: 2026 BC as 2026)
    gives NULL, a text no event hashed, so it reads as altered."""

    # Every function, operator and type is named in pg_catalog, with its argument types: whoever
    # can create objects in another schema (or change a role's search_path) cannot slip in a
    # to_char that prints the time an event was hashed with instead of the time it now holds.
    template = (
        "CASE WHEN pg_catalog.date_part('year'::pg_catalog.text, "
        "pg_catalog.timezone('UTC'::pg_catalog.text, %(expressions)s)) "
        "OPERATOR(pg_catalog.>=) 1::pg_catalog.float8 "
        "AND pg_catalog.date_part('year'::pg_catalog.text, "
        "pg_catalog.timezone('UTC'::pg_catalog.text, %(expressions)s)) "
        "OPERATOR(pg_catalog.<=) 9999::pg_catalog.float8 "
        "THEN pg_catalog.to_char(pg_catalog.timezone('UTC'::pg_catalog.text, %(expressions)s), "
        '\'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"\'::pg_catalog.text) END'
    )
    output_field = CharField()


def _json_column(value: Any) -> Any:
    """A JSON column's value from its raw text, as ``JSONField.from_db_value`` reads it."""
    if value is None or not isinstance(value, str | bytes):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


JSON_SEEN_LIMIT = 20_000


def _json_decoded(raw: Any, seen: dict[Any, tuple[Any, str]]) -> tuple[Any, str]:
    """A JSON column's raw text decoded and its canonical text, remembered in ``seen`` (up to
    ``JSON_SEEN_LIMIT`` texts): the same text always decodes to the same value."""
    value = _json_column(raw)
    decoded = (value, json_text(value))
    if len(seen) < JSON_SEEN_LIMIT:
        seen[raw] = decoded  # raw column values are text, numbers or None: hashable
    return decoded


def _stored_timestamp(value: Any) -> str:
    """The canonical time of a raw ``at`` on databases that store it as text (SQLite: naive UTC)."""
    if isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is None:
            return value
        value = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return _timestamp(value)


LINK_BROKEN = "link to the previous event broken (an event was removed, inserted or reordered)"


def _verify_timestamps(
    report: VerifyReport, seal_rows: list[tuple[int, int, datetime, str]], *, since_seal: int | None = None
) -> None:
    """Check every seal's RFC 3161 token against the TSA certificate and the seal's hash, and that
    every seal that should be time-stamped by now is (checklist/audit/timestamps.py). Incremental runs
    check the seals from ``since_seal`` on: its token pins the (fully checked) seal chain before it."""
    from checklist.models import AuditSealTimestamp, AuditTimestampStatus

    summary = report.timestamps
    summary.enabled = timestamps.enabled()
    status = AuditTimestampStatus.objects.filter(pk=1).first()
    summary.last_error = status.last_error if status is not None and status.failures else ""
    by_seal = {seq: (pk, at, seal_hash_hex) for seq, pk, at, seal_hash_hex in seal_rows}
    rows = AuditSealTimestamp.objects.order_by("seal_seq")
    if since_seal is not None:
        rows = rows.filter(seal_seq__gte=since_seal)
        seal_rows = [row for row in seal_rows if row[0] >= since_seal]
    stamps = list(rows.values_list("id", "seal_id", "seal_seq", "seal_hash", "token", "gen_time"))
    chain = None
    if stamps:
        try:
            chain = timestamps.trust()
        except (OSError, ValueError) as exc:
            report.problems.append(Problem(SEALS, stamps[-1][2], None, f"TSA_CERTIFICATE unreadable ({exc})"))
            return
        if chain is None:
            report.problems.append(Problem(SEALS, stamps[-1][2], None, timestamps.NOT_CONFIGURED))
            return
    within = timestamps.stamp_within()
    stamped: set[int] = set()
    for _, seal_id, seal_seq, stamped_hash, token, gen_time in stamps:
        summary.stamped += 1
        stamped.add(seal_seq)
        seal = by_seal.get(seal_seq)
        if seal is None or seal[0] != seal_id:
            report.problems.append(
                Problem(SEALS, seal_seq, seal_id, "is time-stamped but missing (a time-stamped seal was deleted)")
            )
            continue
        assert chain is not None
        problem = timestamps.token_problem(token, seal[2], chain)
        if problem is None and stamped_hash != seal[2]:
            problem = "the time-stamp row names another hash than the seal (rewritten)"
        if problem is None and timestamps.token_gen_time(token) != gen_time:
            problem = "the time-stamp row's time differs from the token's genTime (rewritten)"
        if problem is not None:
            report.problems.append(Problem(SEALS, seal_seq, seal_id, problem))
            continue
        summary.valid += 1
        summary.newest_seq, summary.newest_gen_time = seal_seq, gen_time
        if gen_time - seal[1] > within:
            delay = str(gen_time - seal[1]).split(".")[0]
            report.problems.append(
                Problem(SEALS, seal_seq, seal_id, timestamps.STAMP_LATE.format(delay=delay, hours=within / HOUR))
            )
        elif gen_time < seal[1] - timestamps.CLOCK_SKEW:
            report.problems.append(
                Problem(
                    SEALS,
                    seal_seq,
                    seal_id,
                    timestamps.STAMP_EARLY.format(gen_time=_timestamp(gen_time), at=_timestamp(seal[1])),
                )
            )
    if not summary.enabled:
        return
    since = timestamps.required_from()
    overdue = timezone.now() - within
    for seq, pk, at, _ in seal_rows:
        if seq in stamped or (since is not None and at < since):
            continue
        summary.pending += 1
        if at < overdue:
            report.problems.append(
                Problem(SEALS, seq, pk, timestamps.STAMP_MISSING.format(at=_timestamp(at)[:19], hours=within / HOUR))
            )
    if summary.newest_gen_time is not None and summary.newest_gen_time < overdue:
        report.problems.append(
            Problem(
                SEALS,
                summary.newest_seq,
                None,
                timestamps.NOTHING_STAMPED_SINCE.format(
                    gen_time=_timestamp(summary.newest_gen_time)[:19], seq=summary.newest_seq
                ),
            )
        )


HOUR = timedelta(hours=1)


def _check_seal_event(
    problems: list[Problem],
    seq: int,
    after: Any,
    event_id: int,
    seal_hashes: dict[int, str],
    announced: set[int],
) -> None:
    """Each seal writes an event to the system chain naming it; the two must agree."""
    try:
        seal_seq, recorded = int(after["seal"]), str(after["seal_hash"])
    except (TypeError, KeyError, ValueError):
        problems.append(Problem(SYSTEM_CHAIN, seq, event_id, "does not name the seal it records", SEALED_ACTION))
        return
    announced.add(seal_seq)
    if seal_seq not in seal_hashes:
        problems.append(
            Problem(SYSTEM_CHAIN, seq, event_id, f"records seal #{seal_seq}, which is missing", SEALED_ACTION)
        )
    elif seal_hashes[seal_seq] != recorded:
        problems.append(
            Problem(SYSTEM_CHAIN, seq, event_id, f"records a different hash for seal #{seal_seq}", SEALED_ACTION)
        )


EVENT_UNKEYED = (
    "carries no MAC: written without the server's audit key (a row inserted directly into the "
    "database, or an event from before keyed events)"
)


EVENT_MAC_INVALID = "event MAC invalid: the event was written or rewritten without the server's audit key"


EVENT_KEY_UNKNOWN = (
    "keyed with key {key_id}, which this server does not hold (was AUDIT_KEY changed without "
    "keeping the old one in AUDIT_KEY_FALLBACKS?)"
)


SEAL_MAC_INVALID = "seal MAC invalid: the seal was written or rewritten without the server's key"


SEAL_KEY_UNKNOWN = (
    "signed with key {key_id}, which this server does not hold (was AUDIT_KEY changed without "
    "keeping the old one in AUDIT_KEY_FALLBACKS?)"
)


SEAL_UNKEYED = (
    "carries no MAC and no keyed seal follows it (a seal taken before keyed seals, or a MAC "
    "removed): take a new seal with manage.py seal_audit"
)


def _verify_seals(
    report: VerifyReport,
    seal_hashes: dict[int, str],
    *,
    seal_rows: list[tuple[int, int, datetime, str]] | None = None,
    starts: dict[str, int] | None = None,
    since_seal: int | None = None,
) -> dict[tuple[str, int], str]:
    """Check the seal chain; return every (chain, seq) -> hash the seals vouch for, and fill
    ``seal_hashes`` (seal seq -> seal hash), ``seal_rows`` (seq, id, time, hash of each seal) and
    ``starts`` (per chain, the newest head the seals up to ``since_seal`` recorded)."""
    sealed: dict[tuple[str, int], str] = {}
    prev = GENESIS_HASH
    expected = 1
    keys = seal_keys()
    unkeyed: AuditSeal | None = None  # the newest seal without a MAC, until a keyed seal follows it
    for seal in AuditSeal.objects.order_by("seq").iterator():
        report.seals += 1
        seal_hashes[seal.seq] = seal.seal_hash
        if seal_rows is not None:
            seal_rows.append((seal.seq, seal.pk, seal.at, seal.seal_hash))
        if seal.seq != expected:
            report.problems.append(Problem(SEALS, seal.seq, seal.pk, f"seal #{expected} is missing"))
        if seal.prev_hash != prev:
            report.problems.append(Problem(SEALS, seal.seq, seal.pk, "link to the previous seal broken"))
        if seal_hash(seal) != seal.seal_hash:
            report.problems.append(Problem(SEALS, seal.seq, seal.pk, "seal content altered"))
        if not seal.mac:
            unkeyed = seal
        else:
            unkeyed = None
            mac_key = keys.get(seal.mac_key_id)
            if mac_key is None:
                report.problems.append(
                    Problem(SEALS, seal.seq, seal.pk, SEAL_KEY_UNKNOWN.format(key_id=seal.mac_key_id))
                )
            elif not hmac.compare_digest(seal_mac(seal.seal_hash, mac_key), seal.mac):
                report.problems.append(Problem(SEALS, seal.seq, seal.pk, SEAL_MAC_INVALID))
        heads = seal.heads if isinstance(seal.heads, dict) else {}
        for chain, point in heads.items():
            try:
                key, head_hash = (chain, int(point[0])), str(point[1])
            except (TypeError, ValueError, IndexError):
                report.problems.append(Problem(SEALS, seal.seq, seal.pk, f"unreadable head for chain {chain}"))
                continue
            if starts is not None and since_seal is not None and seal.seq <= since_seal:
                starts[chain] = max(starts.get(chain, 0), key[1])
            if sealed.setdefault(key, head_hash) != head_hash:
                report.problems.append(
                    Problem(
                        SEALS,
                        seal.seq,
                        seal.pk,
                        f"records a different hash for chain {chain} event #{key[1]} than an earlier seal",
                    )
                )
        prev = seal.seal_hash
        expected = seal.seq + 1
    if unkeyed is not None:
        report.problems.append(Problem(SEALS, unkeyed.seq, unkeyed.pk, SEAL_UNKEYED))
    return sealed
