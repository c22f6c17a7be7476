"""Audit verification benchmark (issue: audit trail). Prints rates measured in one run.

On a trail of ~10,000 events in 100 case chains (SQLite, throwaway database):
1. ``audit.verify()`` events per second, against
2. bare ``hashlib.sha256`` over the same canonical bytes, precomputed in memory (the floor: what
   hashing alone costs), and bare HMAC-SHA-256 over them (issue 13's baseline: verify also checks
   each event's MAC and reconciles the records; goal >= 0.3x), and
3. canonical JSON + SHA-256 from in-memory payloads (what verify does per event without the
   database), and
4. a verify loop that instantiates a model per event (the previous implementation's shape), and
5. reading the rows verify reads, through the same cursor, with no check at all (the floor the
   database and its driver set).

``run_nightly`` (bench/run's ``nightly`` section): the nightly incremental verification, 1,000
events after the newest time-stamped seal, against the full verification, at two trail sizes.

Run: .venv/bin/python -m bench.audit_verify [events]
"""

from __future__ import annotations

import hashlib
import hmac
import sys
import time

from bench.common import django_setup, interleaved_rate, print_table

CASES = 100
# The synthetic events name attestations far above any real row's id: the reconciliation compares
# them with no row, as it would on a trail whose records are all consistent, while other sections
# of bench/run (api, walk) create real attestations with low ids in the same database.
SYNTHETIC_ID_BASE = 10**9


def build_trail(total: int) -> None:
    import datetime as dt

    from django.db import transaction
    from django.utils import timezone

    from checklist import audit, services
    from checklist.access import roles
    from checklist.models import Room
    from tests.support.factories import UserFactory

    nurse = UserFactory(username="nurse", roles=[roles.NURSE], full_name="Nora Nurse")
    surgeon = UserFactory(username="surgeon", roles=[roles.SURGEON], full_name="Dr Sam Surgeon")
    room = Room.objects.create(name="OR 1")
    room.staff.add(nurse)
    cases = [
        services.case_schedule(
            actor=nurse,
            mrn=f"MRN{i:06d}",
            family_name="Doe",
            given_name="Jane",
            date_of_birth=dt.date(1960, 5, 1),
            room=room,
            scheduled_start=timezone.now() + dt.timedelta(hours=2),
            surgeon=surgeon,
            procedure="selective_nerve_root_block",
        )
        for i in range(CASES)
    ]
    from checklist.models import AuditEvent

    remaining = total - AuditEvent.objects.count()
    with transaction.atomic():
        for i in range(remaining):
            case = cases[i % CASES]
            audit.append(
                action="step.attested",
                actor=nurse,
                case=case,
                object_type="StepAttestation",
                object_id=SYNTHETIC_ID_BASE + i,
                after={
                    "step": "sign_in.identity_confirmed",
                    "phase": "sign_in",
                    "role": "nurse",
                    "text": "Patient identity, procedure, site and side confirmed with the patient",
                    "evidence_version": i % 7 + 1,
                },
            )


def old_style_verify() -> int:
    """The shape of the previous loop: a model instance per event, hashed through event_hash."""
    from checklist import audit
    from checklist.models import AuditEvent

    n = 0
    for event in AuditEvent.objects.order_by("chain", "seq").iterator(chunk_size=5000):
        assert audit.event_hash(event) == event.event_hash
        n += 1
    return n


def best_rate(fn, n: int, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return n / best


def measure(repeat: int = 5) -> tuple[int, int, dict[str, float]]:
    """(events, chains, events per second of each way) on the trail in the database now."""
    from checklist import audit
    from checklist.audit import canonical, verification
    from checklist.models import AuditEvent

    rows = list(AuditEvent.objects.order_by("chain", "seq").values_list(*audit.HASHED_FIELDS))
    payloads = [canonical._payload(row) for row in rows]
    blobs = [audit.canonical_json(p) for p in payloads]
    n = len(rows)
    report = audit.verify()
    assert report.ok and report.events == n, report.problems[:3]

    def sha_only() -> None:
        for blob in blobs:
            hashlib.sha256(blob).hexdigest()

    key = audit.audit_keys()[0].event

    def hmac_only() -> None:
        for blob in blobs:
            hmac.digest(key, blob, "sha256").hex()

    def canonical_and_sha() -> None:
        for payload in payloads:
            hashlib.sha256(audit.canonical_json(payload)).hexdigest()

    tied = verification._bytes_tied(verification.VerifyReport())

    def read_rows() -> None:
        if tied:  # what verify reads when the stored bytes are tied to the columns (PostgreSQL)
            chunks = verification._binary_chunks([verification._tied_rows()], 5000)
        else:
            chunks = verification.raw_chunks([verification.event_rows()], 5000)
        for _ in chunks:
            pass

    def verify_from_columns() -> None:
        """verify() rebuilding every event from its columns, as without the stored bytes."""
        original = verification._bytes_tied
        verification._bytes_tied = lambda report: False  # type: ignore[assignment]
        try:
            assert audit.verify().ok
        finally:
            verification._bytes_tied = original  # type: ignore[assignment]

    # verify and its baselines in alternating rounds (median of each), so the host's drift hits
    # them alike: the ratios are what this measures.
    rates = {
        name: rate * n
        for name, rate in interleaved_rate(
            {
                "verify()": audit.verify,
                "HMAC-SHA-256 over canonical bytes": hmac_only,
                "sha256 over canonical bytes": sha_only,
                "reading the rows verify reads, no checks": read_rows,
                "verify() from the columns": verify_from_columns,
            },
            number=1,
            rounds=max(repeat, 3),
        ).items()
    }
    rates |= {
        # The same function with the cyclic garbage collector left running (what it paused gains).
        "verify(), collector running": best_rate(audit.verify.__wrapped__, n, repeat),  # type: ignore[attr-defined]
        "canonical JSON + sha256": best_rate(canonical_and_sha, n, repeat),
        "model-per-event verify loop": best_rate(old_style_verify, n, repeat),
    }
    return n, report.chains, rates


def run_live(total: int = 30_000) -> list[tuple[str, str, str, str]]:
    """bench/suite.py: the same figures on the suite's PostgreSQL database, trail grown to ``total``."""
    build_trail(total)
    n, chains, rates = measure(repeat=3)
    base = rates["sha256 over canonical bytes"]
    ratio = rates["verify()"] / base
    hmac_ratio = rates["verify()"] / rates["HMAC-SHA-256 over canonical bytes"]
    read = rates["reading the rows verify reads, no checks"]
    return [
        (f"verify_audit, {n:,} events in {chains} chains", f"{rates['verify()']:,.0f} events/s", "", ""),
        ("sha256 over the same canonical bytes", f"{base:,.0f} events/s", "", ""),
        ("  canonical JSON + sha256 (no database)", f"{rates['canonical JSON + sha256']:,.0f} events/s",
         f"{rates['canonical JSON + sha256'] / base:.3f}", "(the floor of re-serialising)"),
        ("verify / sha256", "", f"{ratio:.3f}", ">= 0.5 " + ("OK" if ratio >= 0.5 else "MISSED")),
        ("HMAC-SHA-256 over the same canonical bytes", f"{rates['HMAC-SHA-256 over canonical bytes']:,.0f} events/s",
         "", ""),
        ("verify / HMAC-SHA-256", "", f"{hmac_ratio:.3f}", ">= 0.3 " + ("OK" if hmac_ratio >= 0.3 else "MISSED")),
        ("  verify with the garbage collector running", f"{rates['verify(), collector running']:,.0f} events/s",
         f"{rates['verify(), collector running'] / rates['HMAC-SHA-256 over canonical bytes']:.3f}",
         "(what pausing it gains, vs HMAC)"),
        ("  reading the same rows alone (no checks)", f"{read:,.0f} events/s",
         f"{read / rates['HMAC-SHA-256 over canonical bytes']:.3f}", "(the floor of the database, vs HMAC)"),
        ("  verify rebuilding every event from its columns", f"{rates['verify() from the columns']:,.0f} events/s",
         f"{rates['verify() from the columns'] / rates['HMAC-SHA-256 over canonical bytes']:.3f}",
         "(without the stored bytes, vs HMAC)"),
    ]  # fmt: skip


def _grow(total: int) -> None:
    """Append ``step.attested`` events round-robin over the existing cases until ``total``."""
    from django.db import transaction

    from checklist import audit
    from checklist.models import AuditEvent, Case, User

    nurse = User.objects.get(username="nurse")
    cases = list(Case.objects.order_by("id")[:CASES])
    remaining = total - AuditEvent.objects.count()
    for start in range(0, max(remaining, 0), 2000):
        with transaction.atomic():
            for i in range(start, min(start + 2000, remaining)):
                audit.append(action="step.attested", actor=nurse, case=cases[i % len(cases)],
                             object_type="StepAttestation", object_id=SYNTHETIC_ID_BASE + i,
                             after={"step": "sign_in.identity_confirmed", "phase": "sign_in", "role": "nurse",
                                    "evidence_version": i % 7 + 1})  # fmt: skip


def _seconds(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def nightly_point(trail: int, since: int) -> tuple[int, int, float, float]:
    """Grow the trail to ``trail`` events, seal and time-stamp it (the TSA at TSA_URL), append
    ``since`` more, then time the full verification and the nightly incremental one from that
    seal. Returns (events, events the incremental run read, full seconds, incremental seconds):
    it reads the events since the seal and each chain's sealed head."""
    from checklist import audit
    from checklist.models import AuditEvent
    from checklist.services.audit_timestamps import audit_timestamps_take

    _grow(trail)
    seal = audit.seal()
    stamped = audit_timestamps_take(force=True)
    assert seal.seq in stamped.stamped, f"seal #{seal.seq} not time-stamped: {stamped.error or stamped.skipped}"
    before = AuditEvent.objects.count()
    _grow(before + since)
    n = AuditEvent.objects.count()
    report = audit.verify(since_seal=seal.seq)
    assert report.ok, report.problems[:3]
    full = audit.verify()
    assert full.ok, full.problems[:3]
    incremental = _seconds(lambda: audit.verify(since_seal=seal.seq), repeat=5)
    return n, report.events, _seconds(audit.verify), incremental


def run_nightly(trails: tuple[int, int] = (30_000, 60_000), since: int = 1_000) -> list[tuple[str, str, str, str]]:
    """bench/suite.py: the nightly (incremental) verification against the full one at two trail
    sizes, ``since`` events after the newest time-stamped seal each time; ratios in the same run."""
    from django.conf import settings

    if not settings.TSA_URL:
        raise SystemExit("TSA_URL is not set: bench/run starts a local TSA")
    if not __import__("checklist.models", fromlist=["Case"]).Case.objects.exists():
        build_trail(10_000)
    small = nightly_point(trails[0], since)
    large = nightly_point(trails[1], since)
    rows = []
    for n, read, full, incremental in (small, large):
        rows.append((f"full verify_audit, trail of {n:,} events", f"{full * 1000:,.0f} ms", "", ""))
        rows.append((f"  nightly incremental, {since:,} events since the stamped seal ({read:,} read)",
                     f"{incremental * 1000:,.0f} ms", f"{incremental / full:.3f}", "(of the full run)"))  # fmt: skip
    growth = large[0] / small[0]
    full_growth = large[2] / small[2]
    rows.append((f"trail x{growth:.2f}: full verification cost", "", f"x{full_growth:.2f}", "(grows with the trail)"))
    incremental_growth = large[3] / small[3]
    verdict = "OK" if incremental_growth <= 1.3 else "MISSED"
    rows.append(("  nightly incremental cost", "", f"x{incremental_growth:.2f}", f"<= 1.3 {verdict} (events since)"))
    return rows


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    django_setup()
    build_trail(total)
    n, chains, rates = measure()
    base = rates["sha256 over canonical bytes"]
    print_table(
        f"audit verify on SQLite: {n} events in {chains} chains",
        [(name, f"{rate:,.0f} events/s", f"{rate / base:.3f}", "") for name, rate in rates.items()],
    )
    print(f"\nverify() is {rates['verify()'] / rates['model-per-event verify loop']:.2f}x the model-per-event loop")


if __name__ == "__main__":
    main()
