"""Create the demo users (one per role, plus a second surgeon and a second nurse), three rooms and a
day of demo L2 cases in every state of the workflow.

Everything clinical is written through the services, as the people who would do it, so every row
is in the audit trail and ``manage.py verify_audit`` passes. Idempotent: run again on the same day
it changes nothing (today's demo cases are found by their DEMO- MRNs); on a later day it adds that
day's cases and leaves the earlier days' alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from checklist import audit, services
from checklist.access import roles
from checklist.level_check import anatomy_of, current_evidence
from checklist.models import AuditEvent, Case, NearMiss, Room, User
from checklist.periodic_tasks import periodic_tasks_sync
from checklist.selectors import checklist_status
from checklist.services import roles_sync, user_ensure
from core.local_time import local_day_bounds
from levelverify.check import STRUCTURE_BY_PROCEDURE
from levelverify.spine import Structure, parse_unit, unit_to_count

DEMO_PASSWORD = "rightlevel-demo"  # noqa: S105 - documented demo password
PRODUCTION_REFUSED = (
    "seed_demo refuses to run under production settings: it creates accounts with the published demo "
    "password and resets existing accounts with demo names to it."
)
MRN_PREFIX = "DEMO-"
ROOMS = ("OR 1", "OR 2", "OR 3", "OR 4")
DUE_SOON_MINUTES = 20

DEMO_USERS: tuple[dict[str, Any], ...] = (
    {"username": "nurse", "full_name": "Nora Nurse, RN", "role_names": [roles.NURSE, roles.CHARGE_NURSE]},
    {"username": "surgeon", "full_name": "Dr. Sam Surgeon", "role_names": [roles.SURGEON]},
    {"username": "anesthesia", "full_name": "Dr. Ana Anesthesia", "role_names": [roles.ANESTHESIA]},
    {"username": "radiographer", "full_name": "Ray Radiographer", "role_names": [roles.RADIOGRAPHER]},
    {"username": "quality", "full_name": "Quinn Quality", "role_names": [roles.QUALITY_OFFICER]},
    {
        "username": "admin",
        "full_name": "Ada Admin",
        "role_names": [roles.ADMIN],
        "is_staff": True,
        "is_superuser": True,
    },
    {"username": "surgeon2", "full_name": "Dr. Lee Second", "role_names": [roles.SURGEON]},
    {"username": "nurse2", "full_name": "Nico Second, RN", "role_names": [roles.NURSE]},
)
# Who works in which room: the nurse, anesthesia and radiographer cover all four, nurse2 only OR 3.
# (One patient per room at a time: the four cases under way are in four rooms.)
ROOM_STAFF: dict[str, tuple[str, ...]] = {
    "OR 1": ("nurse", "anesthesia", "radiographer"),
    "OR 2": ("nurse", "anesthesia", "radiographer"),
    "OR 3": ("nurse", "nurse2", "anesthesia", "radiographer"),
    "OR 4": ("nurse", "anesthesia", "radiographer"),
}


@dataclass(frozen=True)
class DemoCase:
    """One demo case: where and when, what, for whom, and how far the workflow has gone."""

    mrn: str
    family_name: str
    given_name: str
    date_of_birth: dt.date
    room: str
    start: str  # "HH:MM" local time, or "due-soon"
    procedure: str
    levels: str
    side: str
    surgeon: str
    scenario: str
    note: str
    lumbar: int = 5


# Fictional patients (obviously so) and the day's list. L2 procedures from the domain table.
DEMO_CASES: tuple[DemoCase, ...] = (
    DemoCase(
        "DEMO-0001", "Example", "Alice", dt.date(1956, 3, 14), "OR 1", "07:30",
        "selective_nerve_root_block", "L2", "left", "surgeon", "completed",
        "Completed: localized, confirmed, signed out",
    ),
    DemoCase(
        "DEMO-0002", "Sample", "Bob", dt.date(1961, 7, 2), "OR 1", "09:00",
        "interlaminar_epidural_injection", "L1-L2", "midline", "surgeon", "time_out_ready",
        "Patient in room, sign-in done: ready for the time-out",
    ),
    DemoCase(
        "DEMO-0003", "Placeholder", "Carol", dt.date(1948, 11, 23), "OR 1", "11:00",
        "vertebral_augmentation", "L2", "bilateral", "surgeon", "ready",
        "All evidence agrees, plan signed",
    ),
    DemoCase(
        "DEMO-0004", "Fakename", "Dave", dt.date(1970, 1, 9), "OR 1", "13:30",
        "fusion", "L1-L3", "bilateral", "surgeon", "consent_missing",
        "Waiting for the consent",
    ),
    DemoCase(
        "DEMO-0005", "Testcase", "Erin", dt.date(1966, 5, 30), "OR 2", "07:30",
        "discectomy", "L2-L3", "left", "surgeon2", "consent_near_miss",
        "Consent said RIGHT: stopped, corrected (near miss); sign-in under way",
    ),
    DemoCase(
        "DEMO-0006", "Mockley", "Frank", dt.date(1959, 9, 17), "OR 4", "10:00",
        "decompression", "L2-L3", "bilateral", "surgeon2", "second_reference",
        "Six lumbar vertebrae: counted from the sacrum only, needs a second reference",
        lumbar=6,
    ),
    DemoCase(
        "DEMO-0007", "Notreal", "Grace", dt.date(1974, 4, 4), "OR 2", "14:00",
        "transforaminal_epidural_injection", "L2", "right", "surgeon2", "scheduled",
        "Scheduled: nothing recorded yet",
    ),
    DemoCase(
        "DEMO-0008", "Pretend", "Heidi", dt.date(1952, 12, 1), "OR 3", "08:00",
        "transforaminal_epidural_injection", "L2", "right", "surgeon", "sign_out",
        "Level confirmed: waiting for sign-out",
    ),
    DemoCase(
        "DEMO-0009", "Fiction", "Ivan", dt.date(1968, 8, 19), "OR 3", "due-soon",
        "selective_nerve_root_block", "L2", "left", "surgeon", "unsigned",
        "Starts soon and the plan is NOT signed",
    ),
    DemoCase(
        "DEMO-0010", "Madeup", "Judy", dt.date(1963, 2, 27), "OR 3", "16:00",
        "interlaminar_epidural_injection", "L2-L3", "midline", "surgeon2", "plan_only",
        "Plan signed; consent, marking and imaging to come",
    ),
)  # fmt: skip


class Command(BaseCommand):
    help = (
        "Create demo users for every role (password 'rightlevel-demo'), rooms OR 1-4 and today's demo L2 "
        "cases, all through the services. Idempotent: a second run on the same day changes nothing."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.RIGHTLEVEL_PRODUCTION:
            raise CommandError(PRODUCTION_REFUSED)
        roles_sync()
        periodic_tasks_sync()
        users: dict[str, User] = {}
        for user_spec in DEMO_USERS:
            user, created = user_ensure(
                password=DEMO_PASSWORD, email=f"{user_spec['username']}@demo.rightlevel.invalid", **user_spec
            )
            users[user.username] = user
            verb = "created" if created else "kept"
            self.stdout.write(f"  {verb} {user.username:<13} {user.role_label:<16} {user.full_name}")
        self.stdout.write(self.style.SUCCESS(f"Demo users ready; password for all: {DEMO_PASSWORD}"))

        with audit.audit_context(request_id=f"seed_demo-{timezone.localdate().isoformat()}", client="seed_demo"):
            rooms = self._rooms(users)
            today = timezone.localdate()
            existing = demo_cases_on(today)
            if existing.exists():
                self.stdout.write(f"Demo cases for {today:%A %d %B %Y} already exist: nothing added.")
            else:
                with transaction.atomic():
                    builder = CaseBuilder(users=users, rooms=rooms)
                    for spec in DEMO_CASES:
                        builder.build(spec, day=today)
                self.stdout.write(self.style.SUCCESS(f"Added {len(DEMO_CASES)} demo cases for {today:%A %d %B %Y}."))
        self._summary(today)
        self._notes()

    def _rooms(self, users: dict[str, User]) -> dict[str, Room]:
        rooms: dict[str, Room] = {}
        for name in ROOMS:
            room, _ = services.room_ensure(actor=users["admin"], name=name, staff=[users[u] for u in ROOM_STAFF[name]])
            rooms[name] = room
        return rooms

    def _summary(self, day: dt.date) -> None:
        cases = list(demo_cases_on(day).select_related("room", "patient"))
        headers = ("Room", "Time", "Case", "Procedure", "Target", "State", "Verdict", "Notes")
        rows = [headers]
        for case in cases:
            plan = current_evidence(case).plan
            target = f"{plan.side} {plan.levels}" if plan else "(no plan)"
            if plan and plan.signature_id is None:
                target += " (unsigned)"
            blocking = sorted(
                {f["code"] for f in (case.latest_verdict.findings if case.latest_verdict else [])} - {"CONUS_PROXIMITY"}
            )
            # The scenario's note describes the case as seeded; once someone has worked on it, say so
            # instead, and let the state, verdict and findings columns say what it is now.
            notes = SCENARIO_NOTES.get(case.patient.mrn, "")
            if _changed_since_seeding(case):
                notes = "(changed since seeding)"
            near_misses = NearMiss.objects.filter(case=case).count()
            if near_misses:
                notes += f" [{near_misses} near miss]"
            if case.verdict != "pass" and blocking:
                notes += f" [{', '.join(blocking[:3])}{'…' if len(blocking) > 3 else ''}]"
            rows.append(
                (
                    case.room.name,
                    timezone.localtime(case.scheduled_start).strftime("%H:%M"),
                    f"#{case.pk} {case.patient.mrn}",
                    case.get_procedure_display(),
                    target,
                    case.get_state_display(),
                    case.verdict.upper(),
                    notes,
                )
            )
        widths = [max(len(str(row[i])) for row in rows) for i in range(len(headers) - 1)]
        self.stdout.write("")
        self.stdout.write(f"Demo cases for {day:%A %d %B %Y} ({timezone.get_current_timezone_name()}):")
        for index, row in enumerate(rows):
            line = "  ".join(str(value).ljust(widths[i]) for i, value in enumerate(row[:-1]))
            self.stdout.write(f"  {line}  {row[-1]}")
            if index == 0:
                self.stdout.write("  " + "-" * (sum(widths) + 2 * len(widths) + 20))
        due = [
            c
            for c in cases
            if c.patient.mrn == DUE_SOON_MRN
            and c.scheduled_start > timezone.now()
            and (plan := current_evidence(c).plan) is not None
            and plan.signature_id is None
        ]
        if due:
            start = timezone.localtime(due[0].scheduled_start)
            self.stdout.write(
                self.style.WARNING(
                    f"Due soon: case #{due[0].pk} in {due[0].room.name} starts at {start:%H:%M} and its plan is "
                    f"unsigned (surgeon: {due[0].surgeon.full_name})."
                )
            )

    def _notes(self) -> None:
        self.stdout.write("")
        self.stdout.write("Object-level permissions to try:")
        self.stdout.write("  surgeon2 (Dr. Lee Second) signs only his own cases (OR 2, and OR 3 at 16:00);")
        self.stdout.write("           Dr. Sam Surgeon cannot sign or revise those plans, and the reverse.")
        self.stdout.write("  nurse2   (Nico Second, RN) works in OR 3 only: OR 1 and OR 2 cases are refused.")
        self.stdout.write("  quality  reads every case and the near misses but changes nothing; admin never attests.")


SCENARIO_NOTES: dict[str, str] = {spec.mrn: spec.note for spec in DEMO_CASES}


def _changed_since_seeding(case: Case) -> bool:
    """Has a person (not seed_demo, not the reminder sweep) recorded anything on the case?"""
    return AuditEvent.objects.filter(case=case, actor__isnull=False).exclude(client="seed_demo").exists()


DUE_SOON_MRN = next(spec.mrn for spec in DEMO_CASES if spec.start == "due-soon")


def demo_cases_on(day: dt.date) -> Any:
    """The demo cases scheduled on ``day`` (local time)."""
    start, end = local_day_bounds(day)
    return Case.objects.filter(
        patient__mrn__startswith=MRN_PREFIX, scheduled_start__gte=start, scheduled_start__lt=end
    ).order_by("room__name", "scheduled_start", "id")


def due_soon_start(now: dt.datetime) -> dt.datetime:
    """About DUE_SOON_MINUTES from now, on a five-minute mark, and still today."""
    local = timezone.localtime(now)
    target = local + dt.timedelta(minutes=DUE_SOON_MINUTES)
    target = target.replace(second=0, microsecond=0) + dt.timedelta(minutes=-target.minute % 5)
    last = timezone.make_aware(dt.datetime.combine(local.date(), dt.time(23, 59)))
    return min(target, last)


class CaseBuilder:
    """Walks one demo case through the services as the people who would do each step."""

    def __init__(self, *, users: dict[str, User], rooms: dict[str, Room]) -> None:
        self.users = users
        self.rooms = rooms
        self.scenarios: dict[str, Callable[[Case, DemoCase], None]] = {
            "scheduled": lambda case, spec: None,
            "plan_only": self._plan_only,
            "unsigned": self._unsigned,
            "consent_missing": self._consent_missing,
            "ready": self._ready,
            "consent_near_miss": self._consent_near_miss,
            "time_out_ready": self._time_out_ready,
            "second_reference": self._second_reference,
            "sign_out": self._sign_out,
            "completed": self._completed,
        }

    # --- people -----------------------------------------------------------------------------------

    def nurse(self, case: Case) -> User:
        return self.users["nurse2"] if case.room.name == "OR 3" else self.users["nurse"]

    def by_role(self, case: Case, role: str) -> User:
        return {
            roles.SURGEON: case.surgeon,
            roles.ANESTHESIA: self.users["anesthesia"],
            roles.NURSE: self.nurse(case),
            roles.RADIOGRAPHER: self.users["radiographer"],
        }[role]

    # --- building blocks ----------------------------------------------------------------------------

    def build(self, spec: DemoCase, *, day: dt.date) -> Case:
        if spec.start == "due-soon":
            start = due_soon_start(timezone.now())
        else:
            hour, minute = (int(part) for part in spec.start.split(":"))
            start = timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)))
        case = services.case_schedule(
            actor=self.users["admin"],
            mrn=spec.mrn,
            family_name=spec.family_name,
            given_name=spec.given_name,
            date_of_birth=spec.date_of_birth,
            room=self.rooms[spec.room],
            scheduled_start=start,
            surgeon=self.users[spec.surgeon],
            anesthesia=self.users["anesthesia"],
            procedure=spec.procedure,
        )
        self.scenarios[spec.scenario](case, spec)
        return case

    def anatomy(self, case: Case, spec: DemoCase) -> None:
        services.anatomy_record(actor=self.users["radiographer"], case=case, thoracic=12, lumbar=spec.lumbar)

    def plan(self, case: Case, spec: DemoCase, *, sign: bool = True) -> None:
        plan = services.plan_revise(
            actor=case.surgeon,
            case=case,
            procedure=spec.procedure,
            levels=spec.levels,
            side=spec.side,
            approach="Fluoroscopy-guided" if spec.procedure in _INJECTIONS else "Posterior",
        )
        if sign:
            services.plan_sign(
                actor=case.surgeon,
                case=case,
                plan_number=plan.number,
                password=DEMO_PASSWORD,
                username=case.surgeon.username,
                first_in_session=True,
            )

    def consent(self, case: Case, spec: DemoCase, *, side: str | None = None) -> None:
        services.consent_record(
            actor=self.nurse(case),
            case=case,
            procedure=spec.procedure,
            levels=spec.levels,
            side=side or spec.side,
            date_signed=timezone.localdate() - dt.timedelta(days=7),
            witness="Wendy Witness (clinic nurse)",
        )

    def marking(self, case: Case, spec: DemoCase) -> None:
        services.marking_record(actor=case.surgeon, case=case, region="lumbar", side=spec.side, marked_by=case.surgeon)

    def imaging(self, case: Case, spec: DemoCase) -> None:
        services.imaging_record(
            actor=self.users["radiographer"],
            case=case,
            modality="mri",
            study_date=timezone.localdate() - dt.timedelta(days=21),
            levels=spec.levels,
            reviewed_by=case.surgeon,
        )

    def evidence(self, case: Case, spec: DemoCase, *, sign: bool = True, consent: bool = True) -> None:
        self.anatomy(case, spec)
        self.plan(case, spec, sign=sign)
        if consent:
            self.consent(case, spec)
        self.marking(case, spec)
        self.imaging(case, spec)

    def attest(self, case: Case, phase: str, *, limit: int | None = None) -> None:
        done = 0
        for step in checklist_status(Case.objects.get(pk=case.pk)):
            if step.phase != phase:
                continue
            for role in step.missing_roles:
                if limit is not None and done >= limit:
                    return
                if step.scan_role == role:  # the nurse's attestation is the wristband scan
                    services.identity_scan_record(
                        actor=self.by_role(case, role), case=case.pk, barcode=case.patient.mrn
                    )
                else:
                    services.step_attest(actor=self.by_role(case, role), case=case.pk, step_code=step.code, role=role)
                done += 1

    def through_sign_in(self, case: Case) -> None:
        services.case_patient_in_room(actor=self.nurse(case), case=case)
        self.attest(case, "sign_in")

    def through_time_out(self, case: Case) -> None:
        self.through_sign_in(case)
        self.attest(case, "time_out")
        services.time_out_complete(actor=self.nurse(case), case=case.pk)

    def localize(self, case: Case, spec: DemoCase, reference: str, *, durable: bool = False) -> None:
        evidence = current_evidence(Case.objects.get(pk=case.pk))
        assert evidence.plan is not None
        anatomy = anatomy_of(evidence.anatomy)
        structure: Structure = "segment" if STRUCTURE_BY_PROCEDURE[spec.procedure] == "segment" else "vertebra"
        label = evidence.plan.levels.split(", ")[-1]
        count = unit_to_count(reference, parse_unit(label, structure, anatomy), anatomy)
        assert count is not None
        localization = services.localization_record(
            actor=self.users["radiographer"],
            case=case,
            phase="pre_incision",
            reference=reference,
            count=count,
            label=label,
            marker_in_place=True,
            read_by=case.surgeon,
        )
        if durable:
            services.localization_mark_durable(actor=case.surgeon, case=case, localization_id=localization.pk)

    def through_localization(self, case: Case, spec: DemoCase) -> None:
        self.evidence(case, spec)
        self.through_time_out(case)
        self.localize(case, spec, "sacrum", durable=True)
        self.attest(case, "localization")
        services.localization_confirm(
            actor=case.surgeon, case=case, password=DEMO_PASSWORD, username=case.surgeon.username
        )

    # --- scenarios ------------------------------------------------------------------------------------

    def _plan_only(self, case: Case, spec: DemoCase) -> None:
        self.anatomy(case, spec)
        self.plan(case, spec)

    def _unsigned(self, case: Case, spec: DemoCase) -> None:
        self.evidence(case, spec, sign=False)

    def _consent_missing(self, case: Case, spec: DemoCase) -> None:
        self.evidence(case, spec, consent=False)

    def _ready(self, case: Case, spec: DemoCase) -> None:
        self.evidence(case, spec)

    def _consent_near_miss(self, case: Case, spec: DemoCase) -> None:
        wrong = {"left": "right", "right": "left"}.get(spec.side, "left")
        self.anatomy(case, spec)
        self.plan(case, spec)
        self.consent(case, spec, side=wrong)  # stop: CONSENT_MISMATCH
        self.marking(case, spec)
        self.imaging(case, spec)
        self.consent(case, spec)  # the corrected consent resolves it: a near miss
        services.case_patient_in_room(actor=self.nurse(case), case=case)
        self.attest(case, "sign_in", limit=3)

    def _time_out_ready(self, case: Case, spec: DemoCase) -> None:
        self.evidence(case, spec)
        self.through_sign_in(case)

    def _second_reference(self, case: Case, spec: DemoCase) -> None:
        self.evidence(case, spec)
        self.through_time_out(case)
        self.localize(case, spec, "sacrum")  # agrees, but variant anatomy needs a second landmark

    def _sign_out(self, case: Case, spec: DemoCase) -> None:
        self.through_localization(case, spec)

    def _completed(self, case: Case, spec: DemoCase) -> None:
        self.through_localization(case, spec)
        services.treated_levels_record(actor=self.nurse(case), case=case, levels=spec.levels)
        self.attest(case, "sign_out")
        services.sign_out_complete(actor=self.nurse(case), case=case.pk)


_INJECTIONS = frozenset(
    {"selective_nerve_root_block", "transforaminal_epidural_injection", "interlaminar_epidural_injection"}
)
