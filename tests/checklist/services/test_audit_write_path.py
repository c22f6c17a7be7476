"""One write path: every change to the record goes through a service that audits it, in the
same transaction.

Two tests hold the line:

* A walk of whole cases through the services (tests/support/workflow.py builders, with a stop and its
  near miss, a plan revision, failed signatures, a signing lock and its unlock, a new room) in
  which every service call is watched: each row of the record created or changed by a call must
  be pointed at by an audit event appended in that call, or be one of the justified derived or
  child rows below. A new model must be classified here before the test passes.
* For each state change: with ``audit.append`` made to fail, the service raises and the
  database is exactly as before — the audit event is written in the same transaction as the
  change, so neither exists without the other.

And every public function of the write path (every module of ``checklist.services`` and
``checklist.reminders``, found by walking the packages, not by reading ``__all__``) is classified:
a state change exported from ``checklist.services`` (so the walk watches it) with its scenario
or its reason for writing no event, or a helper or read with its reason.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.db import models as db_models
from django.utils import timezone
from knox.models import AuthToken

from checklist import audit, services
from checklist.access import roles
from checklist.audit import chain as audit_chain
from checklist.models import AuditEvent, Case, LevelVerdict, NearMiss, ReminderRule, Room, User
from checklist.selectors import checklist_status
from core.errors import ApplicationError
from tests.support.factories import TEST_PASSWORD, UserFactory
from tests.support.workflow import (
    Team,
    case_schedule,
    case_through_time_out,
    evidence_record,
    phase_attest,
    team_create,
)

pytestmark = pytest.mark.django_db

# Models of the checklist app that are not part of the clinical record, and why.
NOT_THE_RECORD: dict[str, str] = {
    "WorkerHeartbeat": "operational telemetry (the worker's pulse every minute); no fact about a case or a person",
    "AuditEvent": "the trail itself: append-only (triggers) and hash-chained",
    "AuditChainHead": "a cache of each chain's last event, rebuilt from and checked against the events by verify",
    "AuditSeal": "written by audit.seal, which appends its own audit.sealed event; triggers and the seal chain",
    "AuditVerificationRun": "a log of verify_audit runs (operational); the seal a run takes is audited",
    "AuditSealTimestamp": "an RFC 3161 token of a seal, appended with its own audit.timestamped event; triggers",
    "AuditTimestampStatus": "the time-stamping queue's retry state (operational); each token stored is audited",
    "ReminderRule": "reminder timing configuration (delivery machinery, not a fact about a case)",
    "Reminder": "the reminder outbox: derived from the case by the service that changed it, in its transaction",
    "Notification": "in-app delivery of a reminder (outbox); adds no fact to the record",
    "Delivery": "an external send (e-mail, webhook) waiting in the outbox; the event that queued it is audited",
    "NotificationPreference": "a user's delivery channels; changes are audited by their own service",
    "IdempotencyKey": "a replay cache of answers to writes sent with an Idempotency-Key; the write is audited",
}

# Models of the record the case walk does not write, and where they are covered instead.
NOT_IN_THE_WALK: dict[str, str] = {
    "User_groups": "role membership is written by user_create/user_ensure: test_user_administration_is_audited",
    "User_user_permissions": "never written by a service (roles are groups)",
}

# Case columns that are bookkeeping derived from other audited facts: the versions devices poll,
# and the pointers to the latest verdict (whose change of outcome is its own level_check.verdict
# event). A change to only these needs an event in the case's chain in the same call.
DERIVED_CASE_FIELDS = {"version", "evidence_version", "verdict", "latest_verdict_id", "open_stop_verdict_id"}
# Columns a signature sets on what it signs; covered by the signature.signed event naming it.
SIGNED_FIELDS = {"PlanVersion": {"signature_id", "signed_at"}, "Localization": {"confirmed_signature_id"}}
# Evidence that is superseded (never edited) when a new record replaces it.
SUPERSEDABLE = {"PlanVersion", "Consent", "SiteMarking", "PreopImaging", "AnatomyRecord", "Localization"}


def record_models() -> list[type[db_models.Model]]:
    """Every model of the checklist app (with its many-to-many tables) that is part of the record."""
    config = apps.get_app_config("checklist")
    return [m for m in config.get_models(include_auto_created=True) if m.__name__ not in NOT_THE_RECORD]


Rows = dict[str, dict[Any, dict[str, Any]]]


def snapshot(models: list[type[db_models.Model]]) -> Rows:
    return {
        m.__name__: {row[m._meta.pk.attname]: row for row in m._base_manager.order_by("pk").values()} for m in models
    }


@dataclass
class Call:
    service: str
    events: list[AuditEvent]

    @functools.cached_property
    def pointers(self) -> set[tuple[str, str]]:
        return {(e.object_type, e.object_id) for e in self.events}

    @functools.cached_property
    def chains(self) -> set[str]:
        return {e.chain for e in self.events}

    def points_at(self, model: str, pk: Any) -> bool:
        return (model, str(pk)) in self.pointers


def justified(model: type[db_models.Model], old: dict[str, Any] | None, new: dict[str, Any], call: Call) -> bool:
    """Whether a created (``old`` None) or changed row is accounted for by the call's events."""
    name = model.__name__
    pk = new[model._meta.pk.attname]
    if call.points_at(name, pk):
        return True
    changed = set(new) if old is None else {k for k in new if new[k] != old[k]}
    if model._meta.auto_created:
        # A many-to-many row (e.g. a case's co-surgeon) is covered by an event on either end.
        ends = [f for f in model._meta.concrete_fields if f.is_relation]
        return any(call.points_at(f.related_model.__name__, new[f.attname]) for f in ends)
    if name == "Case" and old is not None:
        return changed <= DERIVED_CASE_FIELDS and audit.case_chain(pk) in call.chains
    if name == "LevelVerdict" and old is None:
        # A re-run of the level check with the same outcome is not an event of its own; the change
        # that triggered it is, in the same case chain. A changed outcome must be pointed at (above).
        previous = LevelVerdict.objects.filter(case_id=new["case_id"], pk__lt=pk).order_by("-pk").first()
        same = previous is not None and previous.verdict == new["verdict"]
        return same and audit.case_chain(new["case_id"]) in call.chains
    if name == "ChecklistRun" and old is None:
        template = f"{new['template_code']} v{new['template_version']}"
        return any(
            e.action == "case.scheduled"
            and (e.object_type, e.object_id) == ("Case", str(new["case_id"]))
            and (e.after or {}).get("checklist_template") == template
            for e in call.events
        )
    if name in SIGNED_FIELDS and old is not None and changed <= SIGNED_FIELDS[name]:
        return any(
            e.action == "signature.signed" and (e.after or {}).get("subject") == f"{name} {pk}" for e in call.events
        )
    if name in SUPERSEDABLE and old is not None and changed == {"superseded_at"}:
        # The record that replaced it is audited with the old values as ``before``.
        return any(
            e.object_type == name and e.chain == audit.case_chain(new["case_id"]) and e.before is not None
            for e in call.events
        )
    if name == "SigningFailure":
        user = str(new["user_id"])
        if old is None:
            return any(e.action == "signature.failed" and e.object_id == user for e in call.events)
        if changed <= {"cleared_at"}:  # cleared by a good signature or by an administrator's unlock
            return any(
                (e.action == "signature.signed" and str(e.actor_id) == user)
                or (e.action == "signature.unlocked" and (e.object_type, e.object_id) == ("User", user))
                for e in call.events
            )
    return False


@dataclass
class WritePathRecorder:
    """Wraps each service of ``checklist.services``; checks every row each outermost call writes."""

    models: list[type[db_models.Model]]
    violations: list[str] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)
    calls: int = 0
    _depth: int = 0
    _last: Rows | None = None

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in services.__all__:
            monkeypatch.setattr(services, name, self._wrap(name, getattr(services, name)))

    def _wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def watched(*args: Any, **kwargs: Any) -> Any:
            if self._depth:
                return fn(*args, **kwargs)
            before = snapshot(self.models)
            if self._last is not None and before != self._last:
                self.violations.append(f"rows changed outside any service call (before {name})")
            last_event = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
            self._depth += 1
            try:
                return fn(*args, **kwargs)
            finally:
                self._depth -= 1
                self.calls += 1
                after = snapshot(self.models)
                self._last = after
                call = Call(name, list(AuditEvent.objects.filter(pk__gt=last_event).order_by("pk")))
                self._check(call, before, after)

        return watched

    def _check(self, call: Call, before: Rows, after: Rows) -> None:
        for model in self.models:
            old_rows, new_rows = before[model.__name__], after[model.__name__]
            for pk in old_rows.keys() - new_rows.keys():
                self.violations.append(f"{call.service}: deleted {model.__name__} {pk}")
            for pk, new in new_rows.items():
                old = old_rows.get(pk)
                if old == new:
                    continue
                self.touched.add(model.__name__)
                if not justified(model, old, new, call):
                    what = "created" if old is None else f"changed {sorted(k for k in new if new[k] != old[k])}"
                    self.violations.append(
                        f"{call.service}: {model.__name__} {pk} {what} with no audit event for it "
                        f"(events in this call: {[e.action for e in call.events]})"
                    )


# --- the walk ------------------------------------------------------------------------------------


def _localize(team: Team, case: Case) -> Any:
    return services.localization_record(
        actor=team.radiographer,
        case=case,
        phase="pre_incision",
        reference="sacrum",
        count=4,
        label="L2",
        marker_in_place=True,
        read_by=team.surgeon,
    )


def _wrong_signature(team: Team, case: Case) -> None:
    plan = case.plan_versions.order_by("-number").first()
    assert plan is not None
    with pytest.raises(ApplicationError):
        services.plan_sign(
            actor=team.surgeon, case=case, plan_number=plan.number, password="wrong", username=team.surgeon.username
        )


def walk_cases(team: Team, co_surgeon: User) -> None:
    """Two cases through everything the services can record."""
    room, _ = services.room_ensure(
        actor=team.admin, name="OR 7", staff=[team.nurse, team.anesthesia, team.radiographer]
    )
    # Case 1: a consent that disagrees (stop), resolved (near miss); a revised plan, a failed then a
    # good signature; superseded evidence; then sign-in to sign-out.
    case = case_schedule(team, room=room, co_surgeons=[co_surgeon])
    evidence_record(team, case, consent_side="right")
    services.consent_record(
        actor=team.nurse,
        case=case,
        procedure=case.procedure,
        levels="L2",
        side="left",
        date_signed=timezone.now().date(),
        witness="W. Itness",
    )
    services.plan_revise(actor=team.surgeon, case=case, procedure=case.procedure, levels="L2", side="left", notes="v2")
    _wrong_signature(team, case)
    services.plan_sign(
        actor=team.surgeon, case=case, plan_number=2, password=TEST_PASSWORD, username=team.surgeon.username
    )
    services.marking_record(actor=team.nurse, case=case, region="lumbar", side="left", marked_by=team.surgeon)
    services.anatomy_record(actor=team.radiographer, case=case, thoracic=12, lumbar=5)
    case = case_through_time_out(team, case)
    localization = _localize(team, case)
    services.localization_mark_durable(actor=team.nurse, case=case, localization_id=localization.pk)
    phase_attest(team, case, "localization")
    services.localization_confirm(actor=team.surgeon, case=case, password=TEST_PASSWORD, username=team.surgeon.username)
    services.treated_levels_record(actor=team.nurse, case=case, levels="L2")
    phase_attest(team, case, "sign_out")
    services.sign_out_complete(actor=team.nurse, case=case.pk)

    # Case 2: the plan is revised after the level was imaged (attestations voided, images
    # withdrawn); three failed signatures lock signing; an administrator unlocks it.
    second = case_schedule(team)
    evidence_record(team, second)
    second = case_through_time_out(team, second)
    _localize(team, second)
    services.plan_revise(actor=team.surgeon, case=second, procedure=second.procedure, levels="L3", side="left")
    for _ in range(3):
        _wrong_signature(team, second)
    assert User.objects.get(pk=team.surgeon.pk).signing_locked_at is not None
    services.signing_unlock(actor=team.admin, user=team.surgeon, reason="Checked with the surgeon by phone.")

    # Case 3 (in the room case 1 left): a level other than the plan's is treated; the surgeon's
    # signed statement records the wrong-level event, and the case is signed out as such.
    third = _wrong_level_treated(team, room=room)
    services.adverse_event_record(
        actor=team.surgeon, case=third, statement="L3 was treated, not L2.", password=TEST_PASSWORD, username="surgeon"
    )
    phase_attest(team, third, "sign_out")
    services.sign_out_complete(actor=team.nurse, case=third.pk)


def _wrong_level_treated(team: Team, **kwargs: Any) -> Case:
    case = _confirmed(team, **kwargs)
    services.treated_levels_record(actor=team.nurse, case=case, levels="L3")
    return case


def test_every_write_of_a_whole_case_is_audited_in_the_call_that_made_it(monkeypatch) -> None:
    team = team_create()
    co_surgeon = UserFactory(username="cosurgeon", roles=[roles.SURGEON], full_name="Dr Co")
    recorder = WritePathRecorder(record_models())
    recorder.install(monkeypatch)

    walk_cases(team, co_surgeon)

    assert recorder.calls > 40
    assert not recorder.violations, "writes that bypass the audit:\n" + "\n".join(recorder.violations)
    # Every model of the record was exercised, so a new model cannot slip past unclassified.
    names = {m.__name__ for m in record_models()}
    missing = names - recorder.touched - set(NOT_IN_THE_WALK)
    assert not missing, f"not written by the walk: {sorted(missing)}; extend walk_cases or classify them above"
    assert audit.verify().ok


def test_user_administration_is_audited(monkeypatch) -> None:
    team = team_create()
    recorder = WritePathRecorder(record_models())
    recorder.install(monkeypatch)
    services.user_create(username="newnurse", full_name="New Nurse", password=TEST_PASSWORD, role_names=["nurse"])
    services.user_ensure(
        username=team.quality.username,
        full_name="Quinn Q. Quality",
        password=TEST_PASSWORD,
        role_names=[roles.QUALITY_OFFICER, roles.NURSE],
    )
    assert not recorder.violations, "\n".join(recorder.violations)


def test_the_recorder_catches_a_write_that_bypasses_the_audit(monkeypatch) -> None:
    """The walk's checker is not vacuous: a service that writes without an event is reported."""
    team = team_create()
    case = case_schedule(team)
    recorder = WritePathRecorder(record_models())

    def sneaky(*, case: Case) -> None:
        Case.objects.filter(pk=case.pk).update(treated_levels="L5")

    monkeypatch.setattr(services, "__all__", [*services.__all__, "sneaky"], raising=True)
    monkeypatch.setattr(services, "sneaky", sneaky, raising=False)
    recorder.install(monkeypatch)
    services.sneaky(case=case)  # type: ignore[attr-defined]
    assert recorder.violations == [
        f"sneaky: Case {case.pk} changed ['treated_levels'] with no audit event for it (events in this call: [])"
    ]


# --- each service writes its event in the same transaction -----------------------------------------


class AuditRefused(Exception):
    """Raised by the patched ``audit.append``."""


def database_state() -> dict[str, list[tuple[Any, ...]]]:
    return {m._meta.label: list(m._base_manager.order_by("pk").values_list()) for m in apps.get_models(True)}


def _ready(team: Team, **kwargs: Any) -> Case:
    case = case_schedule(team, **kwargs)
    evidence_record(team, case)
    return case


def _in_room(team: Team) -> Case:
    case = _ready(team)
    services.case_patient_in_room(actor=team.nurse, case=case)
    return case


def _after_time_out(team: Team, **kwargs: Any) -> Case:
    return case_through_time_out(team, _ready(team, **kwargs))


def _durable(team: Team, **kwargs: Any) -> Case:
    case = _after_time_out(team, **kwargs)
    localization = _localize(team, case)
    services.localization_mark_durable(actor=team.nurse, case=case, localization_id=localization.pk)
    return case


def _confirmed(team: Team, **kwargs: Any) -> Case:
    case = _durable(team, **kwargs)
    phase_attest(team, case, "localization")
    services.localization_confirm(actor=team.surgeon, case=case, password=TEST_PASSWORD, username="surgeon")
    return case


def _first_open_step(case: Case, phase: str) -> tuple[str, str]:
    steps = checklist_status(Case.objects.get(pk=case.pk))
    for step in steps:
        if step.phase == phase:
            ticked = [role for role in step.missing_roles if role != step.scan_role]  # a scan is no tick
            if ticked:
                return step.code, ticked[0]
    raise AssertionError(f"no step of {phase} waits for a tick")


def _sc_step_attest(team: Team) -> Callable[[], Any]:
    case = _in_room(team)
    code, role = _first_open_step(case, "sign_in")
    return lambda: services.step_attest(actor=team.by_role(role), case=case.pk, step_code=code, role=role)


def _sc_time_out_complete(team: Team) -> Callable[[], Any]:
    case = _in_room(team)
    phase_attest(team, case, "sign_in")
    phase_attest(team, case, "time_out")
    return lambda: services.time_out_complete(actor=team.nurse, case=case.pk)


def _sc_plan_sign(team: Team, password: str = TEST_PASSWORD) -> Callable[[], Any]:
    case = case_schedule(team)
    plan = services.plan_revise(actor=team.surgeon, case=case, procedure=case.procedure, levels="L2", side="left")
    return lambda: services.plan_sign(
        actor=team.surgeon, case=case, plan_number=plan.number, password=password, username="surgeon"
    )


def _sc_localization_mark_durable(team: Team) -> Callable[[], Any]:
    case = _after_time_out(team)
    localization = _localize(team, case)
    return lambda: services.localization_mark_durable(actor=team.nurse, case=case, localization_id=localization.pk)


def _sc_localization_confirm(team: Team) -> Callable[[], Any]:
    case = _durable(team)
    phase_attest(team, case, "localization")
    return lambda: services.localization_confirm(
        actor=team.surgeon, case=case, password=TEST_PASSWORD, username="surgeon"
    )


def _sc_sign_out_complete(team: Team) -> Callable[[], Any]:
    case = _confirmed(team)
    services.treated_levels_record(actor=team.nurse, case=case, levels="L2")
    phase_attest(team, case, "sign_out")
    return lambda: services.sign_out_complete(actor=team.nurse, case=case.pk)


def _sc_signing_unlock(team: Team) -> Callable[[], Any]:
    case = case_schedule(team)
    services.plan_revise(actor=team.surgeon, case=case, procedure=case.procedure, levels="L2", side="left")
    for _ in range(3):
        _wrong_signature(team, case)
    return lambda: services.signing_unlock(actor=team.admin, user=team.surgeon, reason="Checked by phone.")


def _sc_evidence(service: str, **kwargs: Any) -> Callable[[Team], Callable[[], Any]]:
    def scenario(team: Team) -> Callable[[], Any]:
        case = case_schedule(team)
        actor = team.radiographer if service == "anatomy_record" else team.nurse
        extra = {"marked_by": team.surgeon} if service == "marking_record" else {}
        extra.update({"reviewed_by": team.surgeon} if service == "imaging_record" else {})
        return lambda: getattr(services, service)(actor=actor, case=case, **kwargs, **extra)

    return scenario


def _sc_near_miss_annotate(team: Team) -> Callable[[], Any]:
    case = case_schedule(team)
    evidence_record(team, case, consent_side="right")
    services.consent_record(
        actor=team.nurse, case=case, procedure=case.procedure, levels="L2", side="left",
        date_signed=timezone.now().date(), witness="W. Itness",
    )  # fmt: skip
    miss = NearMiss.objects.get(case=case)
    return lambda: services.near_miss_annotate(actor=team.quality, near_miss=miss, learning_note="Counted twice.")


def _sc_phase_attest_mine(team: Team) -> Callable[[], Any]:
    case = _in_room(team)
    return lambda: services.phase_attest_mine(actor=team.nurse, case=case.pk, phase="sign_in", role=roles.NURSE)


def _sc_steps_back_enter(team: Team) -> Callable[[], Any]:
    from checklist.services.downtime import PaperEntry

    case = _in_room(team)
    step = next(
        s for s in checklist_status(Case.objects.get(pk=case.pk)) if s.phase == "sign_in" and roles.NURSE in s.roles
    )
    entry = PaperEntry(step_code=step.code, role=roles.NURSE, attested_by=team.nurse, paper_time=timezone.now())
    return lambda: services.steps_back_enter(actor=team.nurse, case=case.pk, entries=[entry])


def _sc_password_admin_set(team: Team) -> Callable[[], Any]:
    surgeon = User.objects.get(pk=team.surgeon.pk)
    surgeon.set_password("a-new-password-for-the-surgeon")
    return lambda: services.user_password_admin_set(actor=team.admin, user=surgeon)


def _sc_password_change_own(team: Team) -> Callable[[], Any]:
    nurse = User.objects.get(pk=team.nurse.pk)
    nurse.set_password("the-nurse-chose-this-one")
    return lambda: services.user_password_change_own(actor=nurse)


def _token(team: Team) -> AuthToken:
    token, _ = services.token_create(actor=team.nurse, user=team.nurse)
    return token


def _sc_tokens_expired_purge(team: Team) -> Callable[[], Any]:
    token = _token(team)
    AuthToken.objects.filter(digest=token.digest).update(expiry=timezone.now() - timedelta(minutes=1))
    return lambda: services.tokens_expired_purge()


def _sc_user_admin_save(team: Team) -> Callable[[], Any]:
    nurse = User.objects.get(pk=team.nurse.pk)
    nurse.full_name = "Nora N. Nurse"
    return lambda: services.user_admin_save(actor=team.admin, user=nurse, password_changed=False)


def _sc_reminder_rule_change(team: Team) -> Callable[[], Any]:
    rule = ReminderRule.objects.order_by("pk").first()
    assert rule is not None
    rule.offset_minutes += 5
    return lambda: services.reminder_rule_change(actor=team.admin, rule=rule, changed=["offset_minutes"])


TODAY = timezone.localdate

SCENARIOS: dict[str, Callable[[Team], Callable[[], Any]]] = {
    "room_ensure": lambda team: lambda: services.room_ensure(actor=team.admin, name="OR 9", staff=[team.nurse]),
    "case_schedule": lambda team: lambda: case_schedule(team),
    "case_patient_in_room": lambda team: (
        lambda case: lambda: services.case_patient_in_room(actor=team.nurse, case=case)
    )(_ready(team)),
    "anatomy_record": _sc_evidence("anatomy_record", thoracic=12, lumbar=5),
    "plan_revise": lambda team: (
        lambda case: (
            lambda: services.plan_revise(
                actor=team.surgeon, case=case, procedure=case.procedure, levels="L2", side="left"
            )
        )
    )(case_schedule(team)),
    "plan_sign": _sc_plan_sign,
    "plan_sign[wrong password]": lambda team: _sc_plan_sign(team, password="wrong"),
    "consent_record": lambda team: _sc_evidence(
        "consent_record",
        procedure="selective_nerve_root_block",
        levels="L2",
        side="left",
        date_signed=TODAY(),
        witness="W",
    )(team),
    "marking_record": _sc_evidence("marking_record", region="lumbar", side="left"),
    "imaging_record": _sc_evidence("imaging_record", modality="mri", study_date=TODAY(), levels="L2"),
    "step_attest": _sc_step_attest,
    "patient_gsrn_record": lambda team: (
        lambda case: (
            lambda: services.patient_gsrn_record(actor=team.nurse, mrn=case.patient.mrn, gsrn="735005385000000011")
        )
    )(_ready(team)),
    "identity_scan_record": lambda team: (
        lambda case: lambda: services.identity_scan_record(actor=team.nurse, case=case.pk, barcode=case.patient.mrn)
    )(_in_room(team)),
    "time_out_complete": _sc_time_out_complete,
    "localization_record": lambda team: (lambda case: lambda: _localize(team, case))(_after_time_out(team)),
    "offline_verdict_reconcile": lambda team: (
        lambda case: lambda: services.offline_verdict_reconcile(actor=team.nurse, case=case.pk, tablet_verdict="pass")
    )(_after_time_out(team)),
    "localization_mark_durable": _sc_localization_mark_durable,
    "localization_confirm": _sc_localization_confirm,
    "treated_levels_record": lambda team: (
        lambda case: lambda: services.treated_levels_record(actor=team.nurse, case=case, levels="L2")
    )(_after_time_out(team)),
    "sign_out_complete": _sc_sign_out_complete,
    "adverse_event_record": lambda team: (
        lambda case: (
            lambda: services.adverse_event_record(
                actor=team.surgeon, case=case, statement="L3 was treated.", password=TEST_PASSWORD, username="surgeon"
            )
        )
    )(_wrong_level_treated(team)),
    "signing_unlock": _sc_signing_unlock,
    "user_create": lambda team: (
        lambda: services.user_create(
            username="newnurse", full_name="New Nurse", password=TEST_PASSWORD, role_names=[roles.NURSE]
        )
    ),
    "near_miss_annotate": _sc_near_miss_annotate,
    "user_admin_save": _sc_user_admin_save,
    "room_admin_save": lambda team: (
        lambda: services.room_admin_save(actor=team.admin, room=Room(name="OR 5"), staff=[team.nurse])
    ),
    "reminder_rule_change": _sc_reminder_rule_change,
    "case_reschedule": lambda team: (
        lambda case: (
            lambda: services.case_reschedule(
                actor=team.admin, case=case, scheduled_start=case.scheduled_start + timedelta(hours=2)
            )
        )
    )(case_schedule(team)),
    "case_cancel": lambda team: (
        lambda case: lambda: services.case_cancel(actor=team.admin, case=case, reason="cancelled by the EHR")
    )(case_schedule(team)),
    "patient_update": lambda team: (
        lambda case: (
            lambda: services.patient_update(
                actor=team.admin,
                mrn=case.patient.mrn,
                family_name="Newname",
                given_name="Pat",
                date_of_birth=case.patient.date_of_birth,
            )
        )
    )(case_schedule(team)),
    "patient_merge": lambda team: (
        lambda case: (
            lambda: services.patient_merge(
                actor=team.admin,
                prior_mrn=case.patient.mrn,
                mrn="MRN-SURVIVING",
                family_name="Kept",
                given_name="Pat",
                date_of_birth=case.patient.date_of_birth,
            )
        )
    )(case_schedule(team)),
    "phase_attest_mine": _sc_phase_attest_mine,
    "steps_back_enter": _sc_steps_back_enter,
    "notification_preference_set": lambda team: (
        lambda: services.notification_preference_set(actor=team.nurse, email=True, webhook=False)
    ),
    "user_password_admin_set": _sc_password_admin_set,
    "user_password_change_own": _sc_password_change_own,
    "token_create": lambda team: lambda: services.token_create(actor=team.nurse, user=team.nurse),
    "token_revoke": lambda team: (
        lambda token: lambda: services.token_revoke(actor=team.nurse, token=token, reason="logout")
    )(_token(team)),
    "tokens_revoke_all": lambda team: (
        lambda token: lambda: services.tokens_revoke_all(actor=team.admin, user=team.nurse, reason="password set")
    )(_token(team)),
    "tokens_expired_purge": _sc_tokens_expired_purge,
    "access_case_open": lambda team: (
        lambda case: lambda: services.access_case_open(actor=team.nurse, case=case, channel="page")
    )(case_schedule(team)),
    "access_export": lambda team: lambda: services.access_export(actor=team.quality, export="csv", channel="quality"),
    "access_downtime_sheets": lambda team: (
        lambda case: lambda: services.access_downtime_sheets(actor=team.nurse, cases=[case])
    )(case_schedule(team)),
    "access_sign_in": lambda team: lambda: services.access_sign_in(user=team.nurse, channel="page"),
    "access_sign_in_fail": lambda team: lambda: services.access_sign_in_fail(username="nobody", channel="page"),
    "access_sign_out": lambda team: lambda: services.access_sign_out(user=team.nurse, channel="page"),
    "audit_verification_start": lambda team: (
        lambda: services.audit_verification_start(actor=team.quality, enqueue=lambda run_id: None)
    ),
    "audit_seal_and_stamp": lambda team: lambda: services.audit_seal_and_stamp(),
    "user_ensure": lambda team: (
        lambda: services.user_ensure(
            username=team.quality.username,
            full_name="Quinn Q. Quality",
            password=TEST_PASSWORD,
            role_names=[roles.QUALITY_OFFICER, roles.NURSE],
        )
    ),
}

# State changes exported by checklist.services that write no audit event of their own (or cannot
# be all-or-nothing), and why.
NOT_AUDITED: dict[str, str] = {
    "heartbeat_record": "operational telemetry (WorkerHeartbeat), written every minute",
    "idempotency_key_claim": "claims an Idempotency-Key in the request's transaction; the write it guards is audited",
    "idempotency_key_complete": "stores the answer to replay, in the transaction of the audited write",
    "idempotency_key_release": "forgets a key whose answer is not kept; the write (if any) is audited",
    "idempotency_keys_expired_purge": "deletes replay records past their retention (operational)",
    "roles_sync": "derives the role groups' permissions from code after every migrate; the code is the record",
    "verdict_record": "a helper run inside the transaction of the service that changed the evidence",
    "notification_mark_read": "delivery state of in-app notifications; their reminder's delivery is audited",
    "reminder_rules_sync": "derives the reminder rules from code after every migrate; an admin change is audited there",
    "reminders_resync_open_cases": "re-derives the pending reminders (the outbox) after an audited rule change",
    "system_reminder_create": "queues a reminder in the outbox; what it reports is audited by its caller",
    "daily_digest_create": "queues the quality digest in the outbox; it reports audited facts",
    "deliveries_send": "sends the outbox; attempts and retries are the outbox rows' own state",
    "audit_verification_report_send": "queues the nightly result in the outbox; the run is audited (audit.verified)",
    "audit_verification_execute": (
        "commits its progress as it goes, by design (a long run shows progress); its result is audited "
        "(audit.verified or audit.verification_failed) and so is the seal it takes"
    ),
    "audit_verification_nightly": "audit_verification_start then audit_verification_execute (both classified)",
    "audit_timestamps_take": (
        "needs a TSA: tests/checklist/audit/test_audit_timestamps.py shows each stored token audited "
        "(audit.timestamped) in its own transaction"
    ),
    "reminders_sweep": (
        "claims due reminders batch by batch, each batch its own transaction; each delivery appends "
        "reminder.sent in the transaction that marks it sent (tests/checklist/reminders)"
    ),
}

# Public functions of the write path that are not state changes of their own, and why. Entry
# points call only the exported state changes (and the reads listed here).
HELPERS: dict[str, str] = {
    "attestation_void": "voids one attestation with its step.voided event, inside the transaction of the "
    "evidence change or wristband scan that voids it",
    "signing_password_require_own": "re-authentication check inside a signing service",
    "signing_run": "the one signing flow (re-authentication, failures, lock) inside each signing service",
    "signature_create": "writes the signature row and its MAC inside the calling signing service",
    "audit_timestamp_status": "read: the time-stamping queue's state (get_or_create of its one row)",
    "seals_pending": "read: seals waiting for a time-stamp",
    "audit_verification_running": "read: the run in progress",
    "incremental_start": "read: where an incremental run may start",
    "reminder_inputs": "read: the case fields the reminder rules depend on",
    "case_lock": "locks the case row inside the calling service's transaction",
    "case_state_summary": "read: the case's version and state for a 409 answer",
    "case_touch": "bumps the case's version inside the calling service's transaction",
    "now": "the clock",
    "rule_error": "builds an ApplicationError",
    "case_state_commit": "saves the case's state inside the calling service's transaction (audits its change)",
    "case_state_recompute": "derives the case's state inside the calling service's transaction",
    "phase_shown_check": "refuses an attestation from a control shown before the phase opened",
    "localization_pass_check": "refuses a confirmation the checklist does not allow yet",
    "step_attest_locked": "the attestation rules and write inside step_attest and steps_back_enter",
    "paper_time_check": "refuses a downtime paper time in the future or before the case's day",
    "canonical_levels": "parses a levels string through the engine",
    "delivery_enqueue": "writes an outbox row inside the calling service's transaction",
    "deliveries_kick": "queues the delivery tasks (from on_commit or a task)",
    "deliveries_due": "read: deliveries due now",
    "message_id": "derives an e-mail Message-ID",
    "webhook_secret": "reads the webhook secret from settings",
    "webhook_signature": "computes a webhook signature",
    "webhook_verify": "checks a webhook signature (for receivers)",
    "webhook_post": "sends one webhook (called by deliveries_send)",
    "condition_holds": "read: whether a reminder rule's condition holds for a case",
    "recipients_for": "read: who a reminder goes to",
    "reminders_sync": "writes and cancels a case's reminders inside the calling service's transaction",
}


def write_path_functions() -> dict[str, str]:
    """Every public function defined in a module of checklist.services or checklist.reminders."""
    import checklist.reminders
    import checklist.services

    found: dict[str, str] = {}
    for package in (checklist.services, checklist.reminders):
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."):
            module = importlib.import_module(info.name)
            for name, value in vars(module).items():
                if inspect.isfunction(value) and value.__module__ == module.__name__ and not name.startswith("_"):
                    assert name not in found, f"{name} is defined twice: {found[name]} and {module.__name__}"
                    found[name] = module.__name__
    return found


def test_every_function_of_the_write_path_is_classified() -> None:
    functions = write_path_functions()
    assert len(functions) > 60
    state_changes = {name.split("[")[0] for name in SCENARIOS} | set(NOT_AUDITED)
    unclassified = set(functions) - state_changes - set(HELPERS)
    assert not unclassified, f"classify (a scenario, a reason, or a helper): {sorted(unclassified)}"
    assert not state_changes & set(HELPERS), "a function is both a state change and a helper"
    stale = (state_changes | set(HELPERS)) - set(functions)
    assert not stale, f"classified but gone: {sorted(stale)}"
    assert set(services.__all__) == state_changes, (
        "checklist.services exports exactly the state changes (the walk watches what it exports): "
        f"missing {sorted(state_changes - set(services.__all__))}, "
        f"extra {sorted(set(services.__all__) - state_changes)}"
    )


def test_entry_points_write_only_through_the_exported_services() -> None:
    """Views, APIs, the admin, tasks, commands and the quality app import from the write path's
    modules only the exported state changes and the helpers that are reads."""
    functions = write_path_functions()
    allowed = set(services.__all__) | {name for name, why in HELPERS.items() if why.startswith("read")}
    allowed.add("deliveries_kick")  # the reminder sweep task queues the delivery tasks it finds due
    root = Path(__file__).resolve().parents[3]
    offences = []
    for path in [*sorted((root / "checklist").rglob("*.py")), *sorted((root / "quality").rglob("*.py"))]:
        relative = path.relative_to(root).as_posix()
        if relative.startswith(("checklist/services/", "checklist/reminders/", "checklist/migrations/")):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                ("checklist.services.", "checklist.reminders.")
            ):
                offences += [
                    f"{relative}:{node.lineno} {alias.name}"
                    for alias in node.names
                    if alias.name in functions and alias.name not in allowed
                ]
    assert offences == [], "entry points calling write-path helpers directly: " + ", ".join(offences)


@pytest.mark.parametrize(
    "name",
    list(SCENARIOS),
)
def test_a_service_changes_nothing_unless_its_audit_event_is_written(name: str, monkeypatch) -> None:
    team = team_create()
    call = SCENARIOS[name](team)
    before = database_state()
    refused: list[str] = []

    def refuse(**kwargs: Any) -> None:
        refused.append(kwargs["action"])
        raise AuditRefused(kwargs["action"])

    monkeypatch.setattr(audit, "append", refuse)
    monkeypatch.setattr(audit_chain, "append", refuse)  # what sealing calls
    with pytest.raises(AuditRefused):
        call()
    assert refused
    assert database_state() == before, f"{name} left changes behind when its audit event failed"
