"""E-signatures through the services: re-authentication, the signing lock, who may sign, and a
signature bound to the exact content signed (21 CFR 11.50/11.70/11.200/11.300)."""

from __future__ import annotations

import pytest
from django.core import mail

from checklist import services
from checklist.level_check import plan_content, signature_valid
from checklist.models import (
    AuditEvent,
    Case,
    CaseState,
    Delivery,
    DeliveryChannel,
    DeliveryState,
    NearMiss,
    PlanVersion,
    Signature,
    SigningFailure,
    StepAttestation,
    User,
)
from core.errors import ApplicationError, ForbiddenError, LockedError
from tests.support.factories import TEST_PASSWORD, UserFactory
from tests.support.tamper import unlocked
from tests.support.workflow import case_schedule, case_through_time_out, evidence_record, phase_attest

pytestmark = pytest.mark.django_db


@pytest.fixture
def planned(team) -> tuple[Case, PlanVersion]:
    """A case with every piece of evidence and an unsigned plan version 1."""
    case = case_schedule(team)
    evidence_record(team, case, sign=False)
    return Case.objects.get(pk=case.pk), PlanVersion.objects.get(case=case, number=1)


def _sign(team, case, **kwargs):
    defaults = {"plan_number": 1, "password": TEST_PASSWORD, "username": team.surgeon.username}
    defaults.update(kwargs)
    return services.plan_sign(actor=defaults.pop("actor", team.surgeon), case=case, **defaults)


def _fail(team, case, *, actor=None):
    with pytest.raises(ApplicationError) as caught:
        _sign(team, case, actor=actor or team.surgeon, password="wrong-password")
    return caught.value


# --- meaning, content hash, printed name --------------------------------------------------------


def test_a_plan_signature_records_who_when_meaning_and_the_hash_of_the_content(team, planned) -> None:
    case, plan = planned
    signature = _sign(team, case)
    plan.refresh_from_db()
    assert plan.signature == signature
    assert plan.signed_at == signature.signed_at
    assert signature.printed_name == team.surgeon.full_name
    assert signature.signer_role == "surgeon"
    assert signature.meaning == "approved plan"
    assert (signature.subject_type, signature.subject_id) == ("PlanVersion", plan.pk)
    assert signature.content == plan_content(plan)
    assert signature_valid(signature, plan_content(plan))
    event = AuditEvent.objects.get(case=case, action="signature.signed")
    assert event.after["content_hash"] == signature.content_hash
    assert event.after["printed_name"] == team.surgeon.full_name
    case.refresh_from_db()
    assert case.verdict == "pass"


def test_signing_needs_the_password_again(team, planned) -> None:
    case, _ = planned
    error = _fail(team, case)
    assert error.status_code == 403
    assert "password" in error.errors
    assert not Signature.objects.filter(case=case).exists()


def test_the_first_signing_of_a_session_needs_the_username_too(team, planned) -> None:
    case, _ = planned
    with pytest.raises(ApplicationError) as caught:
        _sign(team, case, username=None, first_in_session=True)
    assert caught.value.errors == {"username": [services.signatures.USERNAME_REQUIRED]}
    with pytest.raises(ApplicationError) as caught:
        _sign(team, case, username="someone-else", first_in_session=True)
    assert "username" in caught.value.errors
    assert not Signature.objects.filter(case=case).exists()
    assert SigningFailure.objects.filter(user=team.surgeon, cleared_at__isnull=True).count() == 2


def test_later_signings_of_a_session_need_only_the_password(team, planned) -> None:
    case, _ = planned
    signature = _sign(team, case, username=None, first_in_session=False)
    assert signature.signer == team.surgeon


def test_a_good_signature_clears_earlier_failures(team, planned) -> None:
    case, _ = planned
    _fail(team, case)
    _fail(team, case)
    _sign(team, case)
    assert not SigningFailure.objects.filter(user=team.surgeon, cleared_at__isnull=True).exists()
    assert SigningFailure.objects.filter(user=team.surgeon).count() == 2  # kept, marked cleared


# --- failed attempts and the lock (11.300) --------------------------------------------------------


def test_three_failures_in_a_row_lock_signing_notify_admins_and_are_audited(
    team, planned, django_capture_on_commit_callbacks
) -> None:
    case, _ = planned
    first = _fail(team, case)
    second = _fail(team, case)
    assert first.status_code == second.status_code == 403
    assert mail.outbox == []
    with django_capture_on_commit_callbacks(execute=False) as callbacks, pytest.raises(LockedError) as caught:
        _sign(team, case, password="wrong-again")
    # The administrators' e-mail is queued in the outbox with the lock, never sent by the request;
    # a worker sends it once the lock is committed.
    assert mail.outbox == []
    queued = Delivery.objects.get(channel=DeliveryChannel.EMAIL, key__startswith="signing-locked:")
    assert queued.state == DeliveryState.PENDING and team.admin.email in queued.to
    for callback in callbacks:
        callback()
    queued.refresh_from_db()
    assert queued.state == DeliveryState.SENT
    assert caught.value.status_code == 423
    team.surgeon.refresh_from_db()
    assert team.surgeon.signing_locked_at is not None

    # The failures and the lock survive the refusals that followed them.
    assert SigningFailure.objects.filter(user=team.surgeon, case=case, cleared_at__isnull=True).count() == 3
    failed = AuditEvent.objects.filter(case=case, action="signature.failed").order_by("seq")
    assert [e.after["consecutive_failures"] for e in failed] == [1, 2, 3]
    assert all(e.actor_id == team.surgeon.pk for e in failed)
    assert AuditEvent.objects.filter(case=case, action="signature.locked").count() == 1

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert team.admin.email in message.to
    assert team.surgeon.username in message.body

    # Even the right password is refused while locked, and nothing more is counted.
    with pytest.raises(LockedError):
        _sign(team, case)
    assert SigningFailure.objects.filter(user=team.surgeon, cleared_at__isnull=True).count() == 3
    assert not Signature.objects.filter(case=case).exists()


def test_the_lock_also_blocks_confirming_a_level(team) -> None:
    case = case_schedule(team)
    evidence_record(team, case)
    for _ in range(3):
        with pytest.raises(ApplicationError):
            services.localization_confirm(actor=team.surgeon, case=case, password="nope", username="surgeon")
    with pytest.raises(LockedError):
        services.localization_confirm(actor=team.surgeon, case=case, password=TEST_PASSWORD, username="surgeon")


def test_only_an_admin_unlocks_signing_and_must_say_why(team, planned) -> None:
    case, _ = planned
    for _ in range(3):
        with pytest.raises(ApplicationError):
            _sign(team, case, password="wrong")
    with pytest.raises(ForbiddenError):
        services.signing_unlock(actor=team.quality, user=team.surgeon, reason="looks fine")
    with pytest.raises(ForbiddenError):
        services.signing_unlock(actor=team.surgeon, user=team.surgeon, reason="it was me")
    with pytest.raises(ApplicationError) as caught:
        services.signing_unlock(actor=team.admin, user=team.surgeon, reason="   ")
    assert "reason" in caught.value.errors

    services.signing_unlock(actor=team.admin, user=team.surgeon, reason="Called Dr Surgeon; mistyped password.")
    team.surgeon.refresh_from_db()
    assert team.surgeon.signing_locked_at is None
    event = AuditEvent.objects.get(action="signature.unlocked", object_id=str(team.surgeon.pk), actor=team.admin)
    assert event.actor_id == team.admin.pk
    assert event.reason == "Called Dr Surgeon; mistyped password."
    assert event.object_id == str(team.surgeon.pk)
    # The counter starts again from zero: one more failure does not re-lock.
    _fail(team, case)
    team.surgeon.refresh_from_db()
    assert team.surgeon.signing_locked_at is None
    _sign(team, case)


# --- who may sign -----------------------------------------------------------------------------------


def test_only_the_cases_surgeon_or_a_designated_co_surgeon_signs(team, make_user) -> None:
    other = UserFactory(username="other-surgeon", roles=["surgeon"], full_name="Dr Other")
    co = UserFactory(username="co-surgeon", roles=["surgeon"], full_name="Dr Co")
    case = case_schedule(team, co_surgeons=[co])
    evidence_record(team, case, sign=False)
    with pytest.raises(ForbiddenError):
        _sign(team, case, actor=other, username=other.username)
    for actor in (team.nurse, team.anesthesia, team.radiographer, team.quality, team.admin):
        with pytest.raises(ForbiddenError):
            _sign(team, case, actor=actor, username=actor.username)
    # No failed attempt is counted for someone who may not sign at all.
    assert not SigningFailure.objects.filter(case=case).exists()
    signature = _sign(team, case, actor=co, username=co.username)
    assert signature.printed_name == "Dr Co"


def test_only_the_latest_plan_version_can_be_signed_and_only_once(team, planned) -> None:
    case, _ = planned
    services.plan_revise(actor=team.surgeon, case=case, procedure=case.procedure, levels="L2", side="left", notes="v2")
    with pytest.raises(ApplicationError, match="replaced by version 2"):
        _sign(team, case, plan_number=1)
    _sign(team, case, plan_number=2)
    with pytest.raises(ApplicationError, match="already signed"):
        _sign(team, case, plan_number=2, first_in_session=False)
    with pytest.raises(ApplicationError, match="no plan version 7"):
        _sign(team, case, plan_number=7, first_in_session=False)


# --- bound to the content: alteration, immutability, re-signing --------------------------------------


def test_a_plan_altered_after_signing_shows_an_invalid_signature_and_stops(team) -> None:
    case = case_schedule(team)
    evidence_record(team, case)
    plan = PlanVersion.objects.get(case=case, number=1)
    assert Case.objects.get(pk=case.pk).verdict == "pass"

    with unlocked([PlanVersion._meta.db_table]):  # as the owner, past the append-only trigger
        PlanVersion.objects.filter(pk=plan.pk).update(notes="tampered with in the database")
    plan.refresh_from_db()
    assert not signature_valid(plan.signature, plan_content(plan))

    # The next recomputation of the level check (any write) sees it.
    services.anatomy_record(actor=team.radiographer, case=case, thoracic=12, lumbar=5)
    case.refresh_from_db()
    assert case.verdict == "stop"
    codes = {f["code"] for f in case.latest_verdict.findings if f["severity"] == "stop"}
    assert codes == {"PLAN_SIGNATURE_INVALID"}

    # The way past it is a new plan version, signed again.
    services.plan_revise(actor=team.surgeon, case=case, procedure=case.procedure, levels="L2", side="left")
    case.refresh_from_db()
    assert case.verdict == "incomplete"
    assert "PLAN_NOT_SIGNED" in {f["code"] for f in case.latest_verdict.findings}
    _sign(team, case, plan_number=2)
    case.refresh_from_db()
    assert case.verdict == "pass"
    near_miss = NearMiss.objects.get(case=case)
    assert near_miss.kind == "signature"
    assert near_miss.codes == ["PLAN_SIGNATURE_INVALID"]


def test_a_signed_plan_is_never_edited_a_revision_is_a_new_version(team) -> None:
    case = case_schedule(team)
    evidence_record(team, case)
    v1 = PlanVersion.objects.get(case=case, number=1)
    signed_content = dict(v1.signature.content)
    v2 = services.plan_revise(
        actor=team.surgeon, case=case, procedure=case.procedure, levels="L2", side="left", approach="posterior"
    )
    assert v2.number == 2 and v2.signature is None
    v1.refresh_from_db()
    assert v1.superseded_at is not None
    assert v1.signature is not None and signature_valid(v1.signature, plan_content(v1))
    assert plan_content(v1) == signed_content
    assert list(PlanVersion.objects.filter(case=case).values_list("number", flat=True)) == [1, 2]
    event = AuditEvent.objects.get(case=case, action="plan.revised")
    assert event.before["version"] == 1 and event.before["signed"] is True
    assert event.after["version"] == 2 and event.after["signed"] is False
    case.refresh_from_db()
    assert case.verdict == "incomplete"
    assert "PLAN_NOT_SIGNED" in {f["code"] for f in case.latest_verdict.findings}


def test_revising_the_plan_voids_attestations_confirmations_and_localizations(team) -> None:
    case = case_schedule(team)
    evidence_record(team, case)
    case = case_through_time_out(team, case)
    loc = services.localization_record(
        actor=team.radiographer,
        case=case,
        phase="pre_incision",
        reference="sacrum",
        count=4,
        label="L2",
        marker_in_place=True,
        read_by=team.surgeon,
    )
    phase_attest(team, case, "localization")
    services.localization_confirm(actor=team.surgeon, case=case, password=TEST_PASSWORD, username="surgeon")
    case.refresh_from_db()
    assert case.state == CaseState.SIGN_OUT

    services.plan_revise(actor=team.surgeon, case=case, procedure=case.procedure, levels="L2", side="left")
    case.refresh_from_db()
    assert case.time_out_completed_at is None
    assert case.localization_passed_at is None
    # Every step that relied on the plan is voided, the sign-in's consent and marking checks too.
    assert case.state == CaseState.SIGN_IN
    loc.refresh_from_db()
    assert loc.superseded_at is not None  # withdrawn: re-image and confirm again
    live = StepAttestation.objects.filter(run__case=case, voided_at__isnull=True)
    assert not live.filter(phase__in=["time_out", "localization"], step_code__in=_plan_dependent_steps(case)).exists()
    assert not live.filter(phase="localization").exists()
    assert AuditEvent.objects.filter(case=case, action="localization.withdrawn").count() == 1
    # The old confirmation stays on record, bound to the old images.
    assert Signature.objects.filter(case=case, meaning="confirmed level").count() == 1

    # The case has to be re-signed and the time-out done again before anything else.
    with pytest.raises(ApplicationError, match="Complete the time-out"):
        services.localization_record(
            actor=team.radiographer,
            case=case,
            phase="pre_incision",
            reference="sacrum",
            count=4,
            label="L2",
            marker_in_place=True,
            read_by=team.surgeon,
        )
    _sign(team, case, plan_number=2, first_in_session=False)
    phase_attest(team, case, "sign_in")
    phase_attest(team, case, "time_out")
    services.time_out_complete(actor=team.nurse, case=case.pk)
    assert Case.objects.get(pk=case.pk).state == CaseState.LOCALIZATION


def _plan_dependent_steps(case: Case) -> list[str]:
    from checklist.selectors import checklist_template

    return [s.code for s in checklist_template(case).steps if "plan_signed" in s.evidence]


def test_signing_an_unknown_user_is_refused_before_anything_is_counted(team, planned) -> None:
    case, _ = planned
    nobody = User.objects.create(username="norole", full_name="No Role")
    with pytest.raises(ForbiddenError):
        _sign(team, case, actor=nobody, username="norole")
    assert not SigningFailure.objects.filter(case=case).exists()
