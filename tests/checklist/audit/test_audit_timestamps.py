"""RFC 3161 time-stamps of the audit seals (issue 13 item 4), against the real local TSA that the
test command starts (scripts/tsa_server.py on ``openssl ts``; RIGHTLEVEL_TEST_TSA_URL). Nothing is
skipped: without that TSA these tests fail.

The attacks are made as the database owner who also holds AUDIT_KEY (the test settings' key): they
recompute every hash and MAC the published algorithms define, and still cannot make the TSA's
signature vouch for a rewritten seal, or date a new one in the past."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone
from rfc3161_client import decode_timestamp_response

from checklist import audit, services
from checklist.audit import canonical, timestamps
from checklist.models import (
    AuditChainHead,
    AuditEvent,
    AuditSeal,
    AuditSealTimestamp,
    AuditTimestampStatus,
    AuditVerificationRun,
    Case,
)
from checklist.services.audit_timestamps import audit_timestamps_take
from checklist.services.audit_verification import audit_verification_execute, audit_verification_start
from tests.support.tamper import json_placeholder, sql, unlocked
from tests.support.workflow import Team, case_schedule, evidence_record

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[3]
EVENTS, SEALS, STAMPS = AuditEvent._meta.db_table, AuditSeal._meta.db_table, AuditSealTimestamp._meta.db_table
HEADS = AuditChainHead._meta.db_table
DOWN = "http://127.0.0.1:9/"  # the discard port: nothing listens there


@pytest.fixture
def tsa(settings: Any) -> str:
    """Time-stamping on, with the local TSA the test command started."""
    url = os.environ.get("RIGHTLEVEL_TEST_TSA_URL", "")
    certificate = os.environ.get("RIGHTLEVEL_TEST_TSA_CERTIFICATE", "")
    if not url or not certificate:
        pytest.fail("RIGHTLEVEL_TEST_TSA_URL is not set: run the suite with scripts/test, which starts a local TSA")
    settings.TSA_URL, settings.TSA_CERTIFICATE = url, certificate
    return url


@pytest.fixture
def case(team: Team) -> Case:
    case = case_schedule(team)
    evidence_record(team, case)
    return case


def verify_json(*args: str) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("verify_audit", "--no-progress", "--json", *args, stdout=out, stderr=io.StringIO())
    return int(exited.value.code or 0), json.loads(out.getvalue())


def descriptions(report: dict[str, Any]) -> list[str]:
    return [problem["description"] for problem in report["problems"]]


def seal_command() -> str:
    out = io.StringIO()
    call_command("seal_audit", stdout=out)
    return out.getvalue()


# --- issued and verified ---------------------------------------------------------------------------


def test_a_seal_is_time_stamped_by_the_tsa_and_verified(tsa: str, case: Case) -> None:
    out = seal_command()
    seal = AuditSeal.objects.get()
    assert "Time-stamped seal(s) #1; 0 pending." in out
    stamp = AuditSealTimestamp.objects.get()
    assert (stamp.seal_id, stamp.seal_seq, stamp.seal_hash) == (seal.pk, 1, seal.seal_hash)
    response = decode_timestamp_response(bytes(stamp.token))
    assert response.tst_info.message_imprint.message.hex() == seal.seal_hash  # the imprint is the seal's hash
    assert response.tst_info.gen_time == stamp.gen_time
    assert abs(stamp.gen_time - timezone.now()) < dt.timedelta(minutes=2)
    assert stamp.tsa_certificate_sha256 == timestamps.trust().fingerprint  # type: ignore[union-attr]
    event = AuditEvent.objects.get(action=timestamps.TIMESTAMPED_ACTION)
    assert event.chain == audit.SYSTEM_CHAIN and event.after["seal"] == 1 and event.after["seal_hash"] == seal.seal_hash
    code, report = verify_json()
    assert code == 0, report
    assert report["timestamps"] | {"newest_gen_time": None} == {
        "enabled": True,
        "stamped": 1,
        "valid": 1,
        "pending": 0,
        "newest_seal": 1,
        "newest_gen_time": None,
        "last_error": None,
    }


def test_the_integrity_summary_says_time_stamped_only_when_verified(tsa: str, settings: Any, case: Case) -> None:
    seal_command()
    report = audit.verify()
    assert "1 of 1 time-stamp(s) verified, newest time-stamped seal #1 at" in report.summary()
    settings.TSA_URL = settings.TSA_CERTIFICATE = ""
    off = audit.verify()
    assert off.problems and off.problems[0].message == timestamps.NOT_CONFIGURED  # a token it cannot check
    assert "time-stamped seal #" not in off.summary()


def test_without_tsa_url_verify_says_time_stamping_is_off(case: Case) -> None:
    out = seal_command()
    assert "Not time-stamped: time-stamping is off (TSA_URL is empty)." in out
    assert not AuditSealTimestamp.objects.exists()
    code, report = verify_json()
    assert code == 0
    assert report["timestamps"]["enabled"] is False and report["timestamps"]["valid"] == 0
    assert "time-stamping is off (TSA_URL is empty): no seal is time-stamped" in audit.verify().summary()


def test_a_token_checked_against_another_tsa_certificate_is_rejected(
    tsa: str, settings: Any, case: Case, tmp_path: Path
) -> None:
    seal_command()
    other = subprocess.run(  # another real TSA's key and certificate
        [sys.executable, str(ROOT / "scripts" / "tsa_server.py"), "--dir", str(tmp_path), "--certificates-only"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    settings.TSA_CERTIFICATE = other
    code, report = verify_json()
    assert code == 1
    seal = AuditSeal.objects.get()
    first = report["first_problem"]["description"]
    assert first.startswith(f"seal #1 (id {seal.pk}): time-stamp token invalid ("), first


def test_the_local_tsa_makes_its_certificates_in_a_relative_folder(tmp_path: Path) -> None:
    """The run command starts it with ``--dir var/tsa`` (relative): openssl, run inside that
    folder, must still find its configuration (a clean-clone ``scripts/run`` once failed here)."""
    chain = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "tsa_server.py"), "--dir", "var/tsa", "--certificates-only"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(chain) == tmp_path / "var" / "tsa" / "tsa-chain.pem"
    assert Path(chain).read_text().count("BEGIN CERTIFICATE") == 2


def test_a_token_for_another_hash_is_rejected(tsa: str, case: Case) -> None:
    seal_command()
    seal_command()
    first, second = AuditSealTimestamp.objects.order_by("seal_seq")
    chain = timestamps.trust()
    assert chain is not None
    assert timestamps.token_problem(bytes(first.token), first.seal_hash, chain) is None
    problem = timestamps.token_problem(bytes(first.token), second.seal_hash, chain)
    assert problem is not None and problem.startswith("time-stamp is for a different hash")
    with unlocked([STAMPS]):  # the owner swaps the second seal's token for the first's
        sql(
            f"UPDATE {STAMPS} SET token = %s, seal_hash = %s WHERE id = %s",  # noqa: S608
            [bytes(first.token), second.seal_hash, second.pk],
        )
    code, report = verify_json()
    assert code == 1
    assert f"seal #2 (id {second.seal_id}): {problem}" in descriptions(report)


def test_a_reply_the_tsa_signed_for_another_hash_is_refused_when_stamping(tsa: str, case: Case) -> None:
    seal = audit.seal()
    seal.seal_hash = "ab" * 32  # as if the seal in hand were not the one stored
    with pytest.raises(timestamps.TimestampError, match="does not hash to its stored hash"):
        timestamps.token_request(seal)


@pytest.mark.parametrize("statement", ["UPDATE {table} SET seal_hash = %s", "DELETE FROM {table}"])
def test_time_stamps_are_append_only_for_the_application_role_and_the_owner(
    tsa: str, case: Case, statement: str
) -> None:
    from django.db import DatabaseError, connection, transaction

    from tests.support.tamper import app_role, as_owner

    seal_command()
    params = ["0" * 64] if statement.startswith("UPDATE") else []
    with pytest.raises(DatabaseError) as as_app, transaction.atomic():
        sql(statement.format(table=STAMPS), params)
    if connection.vendor == "postgresql" and app_role():
        assert "permission denied" in str(as_app.value)
    with as_owner(), pytest.raises(DatabaseError) as as_owner_role, transaction.atomic():
        sql(statement.format(table=STAMPS), params)
    assert "append-only" in str(as_owner_role.value)
    assert AuditSealTimestamp.objects.get().seal_hash == AuditSeal.objects.get().seal_hash


def test_a_time_stamp_row_inserted_by_the_application_role_is_named(tsa: str, settings: Any, case: Case) -> None:
    """The application role may INSERT time-stamps; a made-up or copied token does not verify."""
    settings.TSA_URL = DOWN
    seal_command()
    seal_command()
    first, second = AuditSeal.objects.order_by("seq")
    settings.TSA_URL = tsa
    assert audit_timestamps_take(force=True, limit=1).stamped == [1]
    real = AuditSealTimestamp.objects.get()
    AuditSealTimestamp.objects.create(  # a copy of seal #1's genuine token, filed under seal #2
        seal=second,
        seal_seq=2,
        seal_hash=second.seal_hash,
        token=bytes(real.token),
        gen_time=real.gen_time,
        tsa_certificate_sha256=real.tsa_certificate_sha256,
        recorded_at=timezone.now(),
    )
    code, report = verify_json()
    assert code == 1
    assert [d.split(": ", 1)[1][:36] for d in descriptions(report)] == ["time-stamp is for a different hash ("]
    assert report["timestamps"]["valid"] == 1 and report["timestamps"]["newest_seal"] == first.seq


# --- a TSA that is down --------------------------------------------------------------------------------


def test_a_tsa_that_is_down_delays_the_time_stamp_never_the_seal_or_a_clinical_write(
    tsa: str, settings: Any, team: Team, case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.TSA_URL = DOWN
    out = seal_command()
    assert "Not time-stamped yet (1 seal(s) pending, retried by the seal task): the TSA could not be reached" in out
    seal = AuditSeal.objects.get()  # the seal is taken
    assert not AuditSealTimestamp.objects.exists()
    status = AuditTimestampStatus.objects.get()
    assert status.failures == 1 and "could not be reached" in status.last_error
    assert status.next_attempt_at is not None and status.next_attempt_at > timezone.now()

    # A clinical write never calls the TSA (so it never waits for one that is down).
    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a clinical write called the network")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    services.anatomy_record(actor=Case.objects.get(pk=case.pk).surgeon, case=case, thoracic=12, lumbar=5)
    monkeypatch.undo()

    # Pending is said as pending, never as time-stamped; not yet a problem.
    report = audit.verify()
    assert report.ok, report.problems
    assert report.timestamps.pending == 1 and report.timestamps.valid == 0
    assert "no seal is time-stamped yet, 1 seal(s) pending" in report.summary()
    assert report.timestamps.last_error.startswith("the TSA could not be reached")

    # The TSA is back: the beat task waits for the back-off, then stamps the pending seal.
    settings.TSA_URL = tsa
    from checklist.tasks import audit_seal

    waiting = audit_seal.delay().get()
    assert waiting["timestamp_error"] == "waiting to retry" and waiting["timestamps_pending"] == 2
    with time_machine.travel(status.next_attempt_at + dt.timedelta(seconds=1)):
        retried = audit_seal.delay().get()
    assert retried["timestamped"] == [1, 2, 3] or retried["timestamped"][:2] == [1, 2]
    assert AuditSealTimestamp.objects.filter(seal=seal).exists()
    status.refresh_from_db()
    assert status.failures == 0 and status.next_attempt_at is None
    code, report_json = verify_json()
    assert code == 0, report_json


def test_a_seal_left_without_a_time_stamp_too_long_is_named(tsa: str, settings: Any, case: Case) -> None:
    settings.TSA_URL = DOWN
    seal_command()
    seal = AuditSeal.objects.get()
    with time_machine.travel(timezone.now() + dt.timedelta(hours=25)):
        report = audit.verify()
    assert [p.describe() for p in report.problems] == [
        f"seal #1 (id {seal.pk}): " + timestamps.STAMP_MISSING.format(at=canonical._timestamp(seal.at)[:19], hours=24)
    ]


# --- attacks by someone holding the database and AUDIT_KEY ------------------------------------------


def _reseal_everything() -> None:
    """What an attacker holding the database and AUDIT_KEY does after rewriting events: recompute
    every seal in order (heads from the events now there, hash, link, MAC), the system-chain events
    that name each seal's hash, and every hash after them, exactly as the application would have."""
    key = audit.audit_keys()[0]
    prev = audit.GENESIS_HASH
    for seal in AuditSeal.objects.order_by("seq"):
        heads = {}
        for chain, (seq, _) in seal.heads.items():
            event = AuditEvent.objects.filter(chain=chain, seq__lte=seq).order_by("-seq").first()
            if event is not None:
                heads[chain] = [event.seq, event.event_hash]
        seal.heads, seal.prev_hash = heads, prev
        seal.seal_hash = audit.seal_hash(seal)
        seal.mac = audit.seal_mac(seal.seal_hash, key.seal)
        sql(
            f"UPDATE {SEALS} SET heads = {json_placeholder()}, prev_hash = %s, seal_hash = %s, mac = %s WHERE id = %s",  # noqa: S608
            [json.dumps(heads), seal.prev_hash, seal.seal_hash, seal.mac, seal.pk],
        )
        sql(f"UPDATE {STAMPS} SET seal_hash = %s WHERE seal_id = %s", [seal.seal_hash, seal.pk])  # noqa: S608
        naming = AuditEvent.objects.filter(
            chain=audit.SYSTEM_CHAIN, action__in=[audit.SEALED_ACTION, timestamps.TIMESTAMPED_ACTION]
        ).order_by("seq")
        first = None
        for event in naming:
            if event.after.get("seal") == seal.seq:
                after = {**event.after, "seal_hash": seal.seal_hash}
                sql(f"UPDATE {EVENTS} SET after = {json_placeholder()} WHERE id = %s", [json.dumps(after), event.pk])  # noqa: S608
                first = event.seq if first is None else min(first, event.seq)
        if first is not None:
            _rehash_chain(audit.SYSTEM_CHAIN, first)
        prev = seal.seal_hash


def _rehash_chain(chain: str, from_seq: int) -> None:
    """Recompute the hash, link and MAC of every event of ``chain`` from ``from_seq`` on, and its head."""
    key = audit.audit_keys()[0]
    prev = AuditEvent.objects.get(chain=chain, seq=from_seq - 1).event_hash if from_seq > 1 else audit.GENESIS_HASH
    last = None
    for event in AuditEvent.objects.filter(chain=chain, seq__gte=from_seq).order_by("seq"):
        event.prev_hash = prev
        event.event_hash = audit.event_hash(event)
        mac = audit.event_mac(event.event_hash, key.event)
        sql(
            f"UPDATE {EVENTS} SET prev_hash = %s, event_hash = %s, mac = %s WHERE id = %s",  # noqa: S608
            [event.prev_hash, event.event_hash, mac, event.pk],
        )
        prev, last = event.event_hash, event
    if last is not None:
        sql(f"UPDATE {HEADS} SET last_seq = %s, last_hash = %s WHERE chain = %s", [last.seq, prev, chain])  # noqa: S608


def test_deleting_the_last_event_of_a_chain_after_a_time_stamped_seal_is_named(tsa: str, case: Case) -> None:
    seal_command()
    chain = audit.case_chain(case.pk)
    last = AuditEvent.objects.filter(chain=chain).order_by("-seq").first()
    assert last is not None
    with unlocked([EVENTS, SEALS, STAMPS]):
        sql(f"DELETE FROM {EVENTS} WHERE id = %s", [last.pk])  # noqa: S608
        _rehash_chain(chain, last.seq)  # nothing after it: winds the head back
        sql(f"UPDATE {HEADS} SET last_seq = %s, last_hash = %s WHERE chain = %s",  # noqa: S608
            [last.seq - 1, last.prev_hash, chain])  # fmt: skip
        _reseal_everything()  # the seal now records the shorter chain, with a valid MAC
    code, report = verify_json()
    assert code == 1
    seal = AuditSeal.objects.get()
    assert report["first_problem"]["description"].startswith(
        f"seal #1 (id {seal.pk}): time-stamp is for a different hash"
    ), report["first_problem"]
    assert report["problem_count"] == 1  # every hash and MAC the attacker could recompute checks out


def test_deleting_the_last_event_without_touching_the_seal_is_named_too(tsa: str, case: Case) -> None:
    seal_command()
    chain = audit.case_chain(case.pk)
    last = AuditEvent.objects.filter(chain=chain).order_by("-seq").first()
    assert last is not None
    with unlocked([EVENTS]):
        sql(f"DELETE FROM {EVENTS} WHERE id = %s", [last.pk])  # noqa: S608
        sql(f"UPDATE {HEADS} SET last_seq = %s, last_hash = %s WHERE chain = %s",  # noqa: S608
            [last.seq - 1, last.prev_hash, chain])  # fmt: skip
    code, report = verify_json()
    assert code == 1
    assert (
        f"chain {chain}, event #{last.seq}: sealed event #{last.seq} is missing"
        in report["first_problem"]["description"]
    )


def test_rewriting_an_old_event_and_recomputing_every_hash_mac_and_seal_is_named(
    tsa: str, team: Team, case: Case
) -> None:
    seal_command()
    services.anatomy_record(actor=Case.objects.get(pk=case.pk).surgeon, case=case, thoracic=12, lumbar=5)
    seal_command()
    chain = audit.case_chain(case.pk)
    old = AuditEvent.objects.filter(chain=chain).order_by("seq")[1]
    with unlocked([EVENTS, SEALS, STAMPS]):
        sql(f"UPDATE {EVENTS} SET reason = %s WHERE id = %s", ["rewritten", old.pk])  # noqa: S608
        _rehash_chain(chain, old.seq)
        _reseal_everything()
    code, report = verify_json()
    assert code == 1
    stamped = [d for d in descriptions(report) if "time-stamp is for a different hash" in d]
    assert [d.split(":")[0] for d in stamped] == [
        f"seal #{s.seq} (id {s.pk})" for s in AuditSeal.objects.order_by("seq")
    ]


def test_deleting_the_time_stamps_too_is_named_once_they_are_due(tsa: str, case: Case) -> None:
    seal_command()
    seal = AuditSeal.objects.get()
    with unlocked([STAMPS]):
        sql(f"DELETE FROM {STAMPS}")  # noqa: S608
    assert audit.verify().ok  # within the allowed delay a seal may still be pending
    with time_machine.travel(timezone.now() + dt.timedelta(hours=25)):
        report = audit.verify()
    assert report.problems[0].describe().startswith(f"seal #1 (id {seal.pk}): taken at ")


def test_a_rewritten_trail_stamped_again_now_cannot_claim_its_old_dates(tsa: str, team: Team) -> None:
    """The attacker rewrites a trail from two days ago, re-seals it and asks the real TSA for new
    tokens: the TSA dates them now, two days after the seals say they were taken."""
    with time_machine.travel(timezone.now() - dt.timedelta(days=2)):
        case = case_schedule(team)
        seal = audit.seal()
    with unlocked([EVENTS, SEALS]):
        sql(f"UPDATE {EVENTS} SET reason = %s WHERE case_id = %s AND seq = 1", ["rewritten", case.pk])  # noqa: S608
        _rehash_chain(audit.case_chain(case.pk), 1)
        _reseal_everything()
    assert audit_timestamps_take(force=True).stamped == [1]
    report = audit.verify()
    assert len(report.problems) == 1, report.problems
    problem = report.problems[0]
    assert (problem.chain, problem.seq, problem.event_id) == (audit.SEALS, 1, seal.pk)
    # genTime has whole seconds (the TSA's accuracy is one second)
    assert re.match(r"time-stamped (1 day, 23:59:\d\d|2 days, 0:00:\d\d) after it was taken", problem.message)
    assert "after it was taken (more than 24 h)" in problem.message


# --- incremental nightly verification ----------------------------------------------------------------


def _nightly(incremental: bool = True) -> AuditVerificationRun:
    run, created = audit_verification_start(actor=None, enqueue=lambda run_id: None)
    assert created
    return audit_verification_execute(run_id=run.pk, incremental=incremental)


def test_the_nightly_run_is_incremental_from_the_newest_time_stamped_seal_an_intact_run_covered(
    tsa: str, team: Team, case: Case
) -> None:
    first = _nightly()
    assert (first.ok, first.scope, first.start_seal) == (True, "full", None)  # nothing to start from yet
    assert first.anchor_seal is None  # no seal was time-stamped before it started
    seal_command()
    second = _nightly()
    assert second.scope == "full" and second.anchor_seal is not None
    other = case_schedule(team)
    services.anatomy_record(actor=Case.objects.get(pk=case.pk).surgeon, case=case, thoracic=12, lumbar=5)
    third = _nightly()
    assert third.ok, third.first_problem
    assert (third.scope, third.start_seal) == ("incremental", second.anchor_seal)
    report = audit.verify(since_seal=second.anchor_seal.seq)
    assert report.ok, report.problems
    after = AuditEvent.objects.filter(chain=audit.case_chain(other.pk)).count()
    assert report.events < AuditEvent.objects.count()
    assert report.events >= after  # the new chain in full
    assert report.scope == f"incremental from seal #{second.anchor_seal.seq}"


def test_incremental_verification_names_a_deleted_sealed_head_and_misses_an_edit_before_it(
    tsa: str, team: Team, case: Case
) -> None:
    """What it detects, and what only the full run does (docs/audit.md, Incremental verification)."""
    seal_command()
    anchor = AuditSeal.objects.get()
    chain = audit.case_chain(case.pk)
    head_seq = anchor.heads[chain][0]
    early = AuditEvent.objects.get(chain=chain, seq=1)
    with unlocked([EVENTS]):
        sql(f"UPDATE {EVENTS} SET reason = %s WHERE id = %s", ["edited", early.pk])  # noqa: S608
    incremental = audit.verify(since_seal=anchor.seq)
    assert incremental.ok  # event #1 is before the sealed head: not read again
    full = audit.verify()
    assert full.problems[0].describe().startswith(f"chain {chain}, event #1 (id {early.pk}")
    last = AuditEvent.objects.get(chain=chain, seq=head_seq)
    with unlocked([EVENTS]):
        sql(f"DELETE FROM {EVENTS} WHERE id = %s", [last.pk])  # noqa: S608
    incremental = audit.verify(since_seal=anchor.seq)
    assert f"chain {chain}, event #{head_seq}: sealed event #{head_seq} is missing" in [
        p.describe().split(": the chain")[0] for p in incremental.problems
    ]
    with unlocked([STAMPS]):  # the start seal's own token is always checked
        sql(f"UPDATE {STAMPS} SET token = %s", [b"not a token"])  # noqa: S608
    incremental = audit.verify(since_seal=anchor.seq)
    assert any(p.message.startswith("time-stamp token unreadable") for p in incremental.problems)


def test_verify_audit_incremental_option_says_what_it_did(tsa: str, case: Case) -> None:
    code, report = verify_json("--incremental")
    assert code == 0 and report["scope"] == "full" and report["start_seal"] is None
    seal_command()
    _nightly(incremental=False)
    code, report = verify_json("--incremental")
    assert code == 0, report
    assert report["scope"] == "incremental from seal #1" and report["start_seal"] == 1


def test_the_seal_message_hashes_to_the_seal_hash(case: Case) -> None:
    seal = audit.seal()
    assert hashlib.sha256(timestamps.seal_message(seal)).hexdigest() == seal.seal_hash


# --- the integrity page ------------------------------------------------------------------------------


@pytest.fixture
def officer_client(client: Any) -> Any:
    from checklist.access import roles
    from tests.support.factories import UserFactory

    client.force_login(UserFactory(username="officer-ts", roles=[roles.QUALITY_OFFICER], full_name="Quinn Quality"))
    return client


def _integrity(client: Any) -> str:
    from django.urls import reverse

    response = client.get(reverse("quality-integrity"))
    assert response.status_code == 200, response
    return " ".join(response.content.decode().split())  # the words, whatever the template's layout


def test_the_integrity_page_shows_time_stamping_honestly(
    tsa: str, settings: Any, officer_client: Any, case: Case
) -> None:
    settings.TSA_URL = DOWN
    seal_command()
    page = _integrity(officer_client)
    assert "1 seal waiting for a time-stamp (oldest: #1" in page
    assert 'data-testid="timestamping-error"' in page and "could not be reached" in page
    assert "Newest time-stamp stored" not in page
    settings.TSA_URL = tsa
    audit_timestamps_take(force=True)
    page = _integrity(officer_client)
    assert "Newest time-stamp stored: seal #1" in page and "not verified yet" in page
    assert "No seal is waiting for a time-stamp." in page and 'data-testid="timestamping-error"' not in page
    run = _nightly(incremental=False)
    page = _integrity(officer_client)
    # The run checked seal #1's token; the seal it took afterwards (#2) is stamped, not yet verified.
    assert "Newest time-stamp stored: seal #2" in page and "not verified yet" in page
    assert f"Newest verified time-stamp: seal #1, by run {run.pk}" in page
    second = _nightly(incremental=False)
    page = _integrity(officer_client)
    assert "Newest time-stamp stored: seal #3" in page and "not verified yet" in page
    assert f"Newest verified time-stamp: seal #2, by run {second.pk}" in page
    settings.TSA_URL = ""
    page = _integrity(officer_client)
    assert 'data-testid="timestamping-off"' in page and "Time-stamping is <strong>off</strong>" in page
