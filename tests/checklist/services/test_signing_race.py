"""The signing lock cannot be raced (issue 14, item 3): concurrent signing attempts by one signer
are checked one at a time under the signer's row lock, so no more than three wrong passwords are
ever tried, a right one is never accepted after the lock, and wrong and right passwords on the
same case never deadlock. Real threads, each with its own PostgreSQL connection, released at once."""

from __future__ import annotations

import threading

import pytest

from checklist.models import AuditEvent, Case, PlanVersion, Signature, SigningFailure, User
from checklist.services.signatures import SIGNING_FAILURE_LIMIT
from tests.checklist.api.test_api_concurrency import race
from tests.support.factories import TEST_PASSWORD
from tests.support.workflow import case_schedule, evidence_record, team_create

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
THREADS = 20


@pytest.fixture
def planned():
    team = team_create()
    case = case_schedule(team)
    evidence_record(team, case, sign=False)
    assert PlanVersion.objects.filter(case=case, number=1, signature__isnull=True).exists()
    return team, Case.objects.get(pk=case.pk)


@pytest.fixture
def password_checks(monkeypatch) -> list[int]:
    """Count every password check, from every thread."""
    calls: list[int] = []
    lock = threading.Lock()
    original = User.check_password

    def counted(self: User, raw_password: str | None) -> bool:
        with lock:
            calls.append(self.pk)
        return original(self, raw_password)

    monkeypatch.setattr(User, "check_password", counted)
    return calls


def _url(case: Case) -> str:
    return f"/api/v1/cases/{case.pk}/plans/1/sign/"


def test_twenty_concurrent_wrong_passwords_get_at_most_three_checks(planned, password_checks) -> None:
    team, case = planned
    body = {"username": team.surgeon.username, "password": "wrong-password", "expected_version": case.evidence_version}
    results = race([(team.surgeon, _url(case), body)] * THREADS)
    statuses = sorted(status for status, _ in results)
    assert len(password_checks) <= SIGNING_FAILURE_LIMIT
    assert statuses.count(403) == SIGNING_FAILURE_LIMIT - 1  # the third failure answers "locked"
    assert statuses.count(423) == THREADS - (SIGNING_FAILURE_LIMIT - 1)
    assert SigningFailure.objects.filter(user=team.surgeon).count() == SIGNING_FAILURE_LIMIT
    failed = AuditEvent.objects.filter(case=case, action="signature.failed")
    assert sorted(e.after["consecutive_failures"] for e in failed) == [1, 2, 3]
    assert AuditEvent.objects.filter(action="signature.locked").count() == 1


def test_wrong_and_right_passwords_at_once_never_deadlock_and_never_sign_after_the_lock(
    planned, password_checks
) -> None:
    team, case = planned
    version = case.evidence_version
    wrong = {"username": team.surgeon.username, "password": "wrong-password", "expected_version": version}
    right = {"username": team.surgeon.username, "password": TEST_PASSWORD, "expected_version": version}
    requests = [(team.surgeon, _url(case), wrong if i % 2 else right) for i in range(THREADS)]
    results = race(requests)  # a deadlock or any other server error raises here
    # 201 signed; 400 already signed; 409 the case moved on (signed) since; 403 wrong; 423 locked.
    assert all(status in (201, 400, 403, 409, 423) for status, _ in results), results
    failures = SigningFailure.objects.filter(user=team.surgeon)
    # Every failure is counted and audited, and no more passwords were checked than allowed.
    assert failures.count() == AuditEvent.objects.filter(case=case, action="signature.failed").count()
    assert [s for s, _ in results].count(403) <= failures.count()
    signatures = Signature.objects.filter(case=case)
    assert signatures.count() == [s for s, _ in results].count(201) <= 1
    team.surgeon.refresh_from_db()
    if team.surgeon.signing_locked_at is not None and signatures.exists():
        # A signature and a lock can both exist only if the signature came first.
        assert signatures.get().signed_at < team.surgeon.signing_locked_at
    uncleared = failures.filter(cleared_at__isnull=True).count()
    assert uncleared <= SIGNING_FAILURE_LIMIT
    assert len(password_checks) <= THREADS


def test_a_signature_is_refused_when_the_lock_is_set_before_commit(planned, monkeypatch) -> None:
    """Belt and braces: even a lock written behind the services' back (not through the row lock)
    stops the signature at commit."""
    from checklist.services import signatures
    from core.errors import LockedError

    team, case = planned
    original = signatures._plan_sign_locked

    def lock_meanwhile(**kwargs):
        signature = original(**kwargs)
        with signatures.transaction.atomic():
            User.objects.filter(pk=team.surgeon.pk).update(signing_locked_at=signatures.now())
        return signature

    monkeypatch.setattr(signatures, "_plan_sign_locked", lock_meanwhile)
    with pytest.raises(LockedError):
        signatures.plan_sign(actor=team.surgeon, case=case.pk, plan_number=1, password=TEST_PASSWORD,
                             username=team.surgeon.username)  # fmt: skip
    assert not Signature.objects.filter(case=case).exists()
