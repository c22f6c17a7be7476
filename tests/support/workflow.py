"""Builders that walk a case through the real services (no shortcuts into the models)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from itertools import count

from django.utils import timezone

from checklist import services
from checklist.access import roles
from checklist.models import Case, Room, User
from checklist.selectors import checklist_status
from checklist.services.identity import ScanOutcome
from tests.support.factories import TEST_PASSWORD, UserFactory

_mrn = count(100000)


@dataclass
class Team:
    room: Room
    nurse: User
    surgeon: User
    anesthesia: User
    radiographer: User
    quality: User
    admin: User

    def by_role(self, role: str) -> User:
        return {
            roles.NURSE: self.nurse,
            roles.SURGEON: self.surgeon,
            roles.ANESTHESIA: self.anesthesia,
            roles.RADIOGRAPHER: self.radiographer,
        }[role]


def team_create(room_name: str = "OR 1", suffix: str = "") -> Team:
    room, _ = Room.objects.get_or_create(name=room_name)
    nurse = UserFactory(username=f"nurse{suffix}", roles=[roles.NURSE], full_name=f"Nurse {suffix}".strip())
    surgeon = UserFactory(username=f"surgeon{suffix}", roles=[roles.SURGEON], full_name=f"Dr Surgeon {suffix}".strip())
    anesthesia = UserFactory(username=f"anesthesia{suffix}", roles=[roles.ANESTHESIA], full_name="Dr Gas")
    radiographer = UserFactory(username=f"radiographer{suffix}", roles=[roles.RADIOGRAPHER], full_name="Ray")
    quality = UserFactory(username=f"quality{suffix}", roles=[roles.QUALITY_OFFICER], full_name="Quinn")
    admin = UserFactory(
        username=f"admin{suffix}", roles=[roles.ADMIN], full_name="Ada", email=f"admin{suffix}@x.invalid"
    )
    room.staff.add(nurse, anesthesia, radiographer)
    return Team(room, nurse, surgeon, anesthesia, radiographer, quality, admin)


def theatre_for(team: Team, name: str) -> Room:
    """A room of its own for one more case of ``team`` (its nurse, anesthesia and radiographer are
    its staff): a room holds one patient at a time, so builders that bring several patients in
    at once give each a theatre."""
    room = Room.objects.create(name=name)
    staff = (team.nurse, team.anesthesia, team.radiographer)
    room.staff.add(*staff)
    for person in staff:
        person.__dict__.pop("room_ids", None)  # read once per user object: read it again
    return room


def case_schedule(team: Team, procedure: str = "selective_nerve_root_block", **kwargs: object) -> Case:
    defaults: dict[str, object] = {
        "mrn": f"MRN{next(_mrn)}",
        "family_name": "Doe",
        "given_name": "Jane",
        "date_of_birth": dt.date(1960, 5, 1),
        "room": team.room,
        "scheduled_start": timezone.now() + dt.timedelta(hours=2),
        "surgeon": team.surgeon,
        "anesthesia": team.anesthesia,
        "procedure": procedure,
    }
    defaults.update(kwargs)
    return services.case_schedule(actor=team.nurse, **defaults)  # type: ignore[arg-type]


def evidence_record(
    team: Team,
    case: Case,
    *,
    levels: str = "L2",
    side: str = "left",
    consent_levels: str | None = None,
    consent_side: str | None = None,
    lumbar: int = 5,
    sign: bool = True,
) -> None:
    """Plan (signed), consent, marking, pre-op imaging and anatomy, all agreeing unless told."""
    services.anatomy_record(actor=team.radiographer, case=case, thoracic=12, lumbar=lumbar)
    plan = services.plan_revise(actor=team.surgeon, case=case, procedure=case.procedure, levels=levels, side=side)
    if sign:
        services.plan_sign(
            actor=team.surgeon,
            case=case,
            plan_number=plan.number,
            password=TEST_PASSWORD,
            username=team.surgeon.username,
        )
    services.consent_record(
        actor=team.nurse,
        case=case,
        procedure=case.procedure,
        levels=consent_levels or levels,
        side=consent_side or side,
        date_signed=timezone.now().date(),
        witness="W. Itness",
    )
    region = "lumbar"
    services.marking_record(actor=team.nurse, case=case, region=region, side=side, marked_by=team.surgeon)
    services.imaging_record(
        actor=team.nurse,
        case=case,
        modality="mri",
        study_date=timezone.now().date(),
        levels=levels,
        reviewed_by=team.surgeon,
    )


def phase_attest(team: Team, case: Case, phase: str) -> int:
    """Attest every applicable step of ``phase`` with the right person for each role."""
    n = 0
    for step in checklist_status(Case.objects.get(pk=case.pk)):
        if step.phase != phase:
            continue
        for role in step.missing_roles:
            if step.scan_role == role:  # the wristband scan is this role's attestation
                wristband_scan(team, case)
            else:
                services.step_attest(actor=team.by_role(role), case=case.pk, step_code=step.code, role=role)
            n += 1
    return n


def wristband_scan(team: Team, case: Case, barcode: str | None = None) -> ScanOutcome:
    """The nurse scans a wristband: by default the MRN barcode of the case's own patient."""
    if barcode is None:
        barcode = Case.objects.select_related("patient").get(pk=case.pk).patient.mrn
    return services.identity_scan_record(actor=team.nurse, case=case.pk, barcode=barcode)


def case_through_time_out(team: Team, case: Case) -> Case:
    services.case_patient_in_room(actor=team.nurse, case=case)
    phase_attest(team, case, "sign_in")
    phase_attest(team, case, "time_out")
    services.time_out_complete(actor=team.nurse, case=case.pk)
    return Case.objects.get(pk=case.pk)


def case_through_localization(team: Team, case: Case, label: str = "L2", count: int = 4) -> Case:
    """Through the time-out, then a level image (counted from the sacrum) marked durable, the
    localization phase attested and the localization confirmed by the surgeon's signature."""
    case = case_through_time_out(team, case)
    localization = services.localization_record(
        actor=team.radiographer,
        case=case,
        phase="pre_incision",
        reference="sacrum",
        count=count,
        label=label,
        marker_in_place=True,
        read_by=team.surgeon,
    )
    services.localization_mark_durable(actor=team.nurse, case=case, localization_id=localization.pk)
    phase_attest(team, case, "localization")
    services.localization_confirm(actor=team.surgeon, case=case, password=TEST_PASSWORD, username=team.surgeon.username)
    return Case.objects.get(pk=case.pk)
