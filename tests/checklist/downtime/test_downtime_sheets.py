"""The downtime kit's sheets: "Print downtime sheets" on the case list gives a PDF with a page per
open case of today in the user's rooms: the target in large type, the patient, the anatomy and
the counts to expect, blank lines for every piece of evidence (never pre-filled from the plan),
each checklist item with initials and time boxes. Printing is audited on each case's trail."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from django.test import Client
from django.utils import timezone
from pypdf import PdfReader

from checklist import services
from checklist.models import AuditEvent, Case
from checklist.services.record_access import EXPORTED
from checklist.templates_catalog import PHASE_LABELS
from tests.support.workflow import Team, case_schedule, evidence_record, team_create

pytestmark = pytest.mark.django_db


def _today(team: Team, **kwargs) -> Case:
    now = timezone.localtime()
    start = min(now + dt.timedelta(minutes=30), now.replace(hour=23, minute=58, second=0, microsecond=0))
    return case_schedule(team, scheduled_start=start, **kwargs)


def _pages(response) -> list[str]:
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert "no-store" in response["Cache-Control"]
    return [re.sub(r"\s+", " ", page.extract_text()) for page in PdfReader(io.BytesIO(response.content)).pages]


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_page_per_open_case_with_the_target_large_and_the_evidence_left_blank(team: Team) -> None:
    six = _today(team, family_name="Sixer", given_name="Ann")
    evidence_record(team, six, levels="L2", side="left", lumbar=6)
    usual = _today(team, family_name="Fiver", given_name="Bob")
    evidence_record(team, usual, levels="L4", side="right")
    cancelled = _today(team, family_name="Gone", given_name="Cal")
    services.case_cancel(actor=team.nurse, case=cancelled, reason="patient unwell")
    tomorrow = case_schedule(team, scheduled_start=timezone.now() + dt.timedelta(days=2), family_name="Later")
    nurse = _client(team.nurse)
    assert "Print downtime sheets" in nurse.get("/cases/").content.decode()
    pages = _pages(nurse.get("/cases/downtime-sheets.pdf"))
    assert len(pages) == 2  # not the cancelled case, not another day's
    first, second = pages if "SIXER" in pages[0] else pages[::-1]
    assert "LEFT L2" in first and "SIXER, Ann" in first and six.patient.mrn in first
    assert "6 lumbar" in first and "High-risk anatomy" in first
    assert "count from two references" in first
    # The counts to expect for this patient: L2 is 5 from the sacrum on a six-lumbar spine.
    assert "Level from the sacrum from C2 from the last rib L2 5 19" in first
    assert "RIGHT L4" in second and "Sixer" not in second
    for phase in PHASE_LABELS.values():
        assert phase in first
    assert "Wristband scanned names this patient, who confirms identity, procedure, site and side" in first
    assert "Initials" in first and "__:__" in first
    # The evidence lines are blank: nothing of the consent or marking is printed for the team.
    assert "Signed consent form ______________" in first
    assert "recorded from downtime paper" in first
    assert tomorrow.patient.family_name.upper() not in " ".join(pages)
    events = AuditEvent.objects.filter(action=EXPORTED, after__export="pdf:downtime_sheet")
    assert sorted(events.values_list("case_id", flat=True)) == sorted([six.pk, usual.pk])
    assert all(e.actor_id == team.nurse.pk and e.after["channel"] == "page" for e in events)


def test_an_unsigned_plan_and_unrecorded_anatomy_say_so_in_bold(team: Team) -> None:
    case = _today(team)
    evidence_record(team, case, sign=False)
    page = _pages(_client(team.nurse).get(f"/cases/{case.pk}/downtime-sheet.pdf"))[0]
    assert "The plan is NOT signed" in page
    bare = _today(team, family_name="Bare")
    page = _pages(_client(team.nurse).get(f"/cases/{bare.pk}/downtime-sheet.pdf"))[0]
    assert "NO SIGNED PLAN" in page or "Anatomy NOT recorded" in page


def test_only_the_theatre_team_prints_and_only_their_own_rooms(team: Team) -> None:
    mine = _today(team, family_name="Mine")
    other_team = team_create(room_name="OR 9", suffix="9")
    theirs = _today(other_team, family_name="Theirs")
    pages = _pages(_client(team.nurse).get("/cases/downtime-sheets.pdf"))
    assert len(pages) == 1 and "MINE" in pages[0]
    assert _client(team.nurse).get(f"/cases/{theirs.pk}/downtime-sheet.pdf").status_code == 404
    quality = _client(team.quality)
    assert quality.get("/cases/downtime-sheets.pdf").status_code == 403
    assert quality.get(f"/cases/{mine.pk}/downtime-sheet.pdf").status_code == 403
    assert "Print downtime sheets" not in quality.get("/cases/").content.decode()
    assert not AuditEvent.objects.filter(action=EXPORTED, actor=team.quality).exists()


def test_no_case_today_is_a_one_page_pdf_that_says_so(team: Team) -> None:
    pages = _pages(_client(team.nurse).get("/cases/downtime-sheets.pdf"))
    assert [page.strip() for page in pages] == ["No open cases today."]
