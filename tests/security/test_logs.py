"""No patient name or MRN in the logs of a full demo run.

The run: ``manage.py seed_demo`` (ten demo cases in every state, through the services), then a
whole new case over HTTP by the demo team (token API and signed-in tablet pages, with the usual
mishaps: a wrong password at sign-in, a stale write, a consent on the wrong side that stops the
case and its resolution, a 404), the quality workspace (with a search by MRN), a reminder sweep,
the nightly audit verification and the daily digest. Logging goes to a file: the application's
loggers (``checklist``, ``levelverify``, ``config``) and Celery's at DEBUG, everything else
(``django.request`` and ``axes`` included) at INFO. ``django.db.backends`` stays off: at DEBUG it
logs every SQL statement with its parameters, names included; it only logs with DEBUG=True, a
developer's setting that production never has (``check --deploy`` refuses it).

Then the log file, and every e-mail sent, must name no demo patient (family or given name) nor any
MRN; the log must not be empty (the run did log).
"""

from __future__ import annotations

import datetime as dt
import logging
import logging.config
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from checklist import services, tasks
from checklist.management.commands.seed_demo import DEMO_CASES, DEMO_PASSWORD
from checklist.models import Case, Patient, Room, User
from tests.support.api_workflow import ApiTeam, case_url, post
from tests.support.workflow import Team

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

NEW_PATIENT = {"mrn": "MRN-LOG-77231", "family_name": "Quixotesque", "given_name": "Zebulon"}


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "rightlevel.log"
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
        "handlers": {"file": {"class": "logging.FileHandler", "filename": str(path), "formatter": "plain"}},
        "root": {"handlers": ["file"], "level": "INFO"},
        "loggers": {
            **{name: {"level": "DEBUG"} for name in ("checklist", "levelverify", "config", "celery")},
            "django.request": {"level": "INFO"},
            "axes": {"level": "INFO"},
            "django.db.backends": {"level": "WARNING"},
        },
    }
    logging.config.dictConfig(config)
    try:
        yield path
    finally:
        logging.config.dictConfig(settings.LOGGING)


def _demo_team() -> Team:
    names = ["nurse", "surgeon", "anesthesia", "radiographer", "quality", "admin"]
    users = {u.username: u for u in User.objects.filter(username__in=names)}
    return Team(Room.objects.get(name="OR 1"), users["nurse"], users["surgeon"], users["anesthesia"],
                users["radiographer"], users["quality"], users["admin"])  # fmt: skip


def _signed_in(username: str) -> Client:
    client = Client()
    response = client.post("/login/", {"username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 302, response.status_code
    return client


def _whole_case_over_http(team: Team) -> int:
    api = ApiTeam(team)
    today = timezone.localdate().isoformat()
    # A room of its own: every demo room already has a patient in it (one patient per room).
    room, _ = services.room_ensure(
        actor=team.admin, name="OR 9", staff=[team.nurse, team.anesthesia, team.radiographer]
    )
    created = api.nurse.post(
        "/api/v1/cases/",
        {**NEW_PATIENT, "date_of_birth": "1957-06-01", "room": room.name, "surgeon": team.surgeon.username,
         "anesthesia": team.anesthesia.username, "procedure": "selective_nerve_root_block",
         "scheduled_start": (timezone.now() + dt.timedelta(hours=1)).isoformat()},
        format="json",
    )  # fmt: skip
    assert created.status_code == 201, created.content
    case_id = created.json()["id"]
    ok = {200, 201}

    assert post(api.radiographer, case_id, "anatomy/", {"thoracic": 12, "lumbar": 5}).status_code in ok
    plan = post(api.surgeon, case_id, "plans/", {"procedure": "selective_nerve_root_block", "levels": "L2",
                                                 "side": "left"})  # fmt: skip
    assert plan.status_code == 201
    signing = {"username": team.surgeon.username, "password": DEMO_PASSWORD}
    assert post(api.surgeon, case_id, "plans/1/sign/", signing).status_code == 201
    # A consent on the wrong side: the case stops; a corrected consent resolves it (a near miss).
    consent = {"procedure": "selective_nerve_root_block", "levels": "L2", "date_signed": today, "witness": "W. Itness"}
    assert post(api.nurse, case_id, "consent/", {**consent, "side": "right"}).status_code == 201
    assert (
        post(api.nurse, case_id, "marking/", {"region": "lumbar", "side": "left", "marked_by": "surgeon"}).status_code
        in ok
    )
    assert post(api.nurse, case_id, "imaging/", {"modality": "mri", "study_date": today, "levels": "L2",
                                                 "reviewed_by": "surgeon"}).status_code in ok  # fmt: skip
    assert api.nurse.get(case_url(case_id, "status")).json()["verdict"] == "stop"
    assert post(api.nurse, case_id, "consent/", {**consent, "side": "left"}).status_code == 201
    # Mishaps: a stale write (409), invalid input (400), a case that does not exist (404).
    stale = api.nurse.post(case_url(case_id, "in-room/"), {"expected_version": 1}, format="json")
    assert stale.status_code == 409
    assert post(api.nurse, case_id, "marking/", {"region": "nowhere"}).status_code == 400
    assert api.nurse.get(case_url(999_999)).status_code == 404

    assert post(api.nurse, case_id, "in-room/").status_code == 200
    api.attest_phase(case_id, "sign_in")
    # The time-out on the tablet pages, signed in as the demo users.
    for username, role in (("surgeon", "surgeon"), ("anesthesia", "anesthesia"), ("nurse", "nurse")):
        browser = _signed_in(username)
        page = browser.get(f"/cases/{case_id}/")
        assert page.status_code == 200
        # The attest button carries the token of the phase it was shown for (issue 12: no stray taps).
        shown = re.search(r'name="phase" value="time_out">.*?name="shown" value="([^"]+)"', page.content.decode())
        assert shown is not None
        version = Case.objects.get(pk=case_id).evidence_version
        with override_settings(RIGHTLEVEL_ATTEST_GUARD_SECONDS=0):
            response = browser.post(f"/cases/{case_id}/do/attest-phase", {"expected_version": version,
                                    "phase": "time_out", "role": role, "shown": shown.group(1)})  # fmt: skip
        assert response.status_code == 302, response.status_code
    assert post(api.nurse, case_id, "time-out/complete/").status_code == 200
    image = post(api.radiographer, case_id, "localizations/", {"phase": "pre_incision", "reference": "sacrum",
                                                               "count": 4, "label": "L2", "marker_in_place": True,
                                                               "read_by": "surgeon"})  # fmt: skip
    assert image.status_code == 201
    image_id = image.json()["localization"]["id"]
    assert post(api.nurse, case_id, f"localizations/{image_id}/durable-mark/").status_code == 200
    api.attest_phase(case_id, "localization")
    assert post(api.surgeon, case_id, "localization/confirm/", signing).status_code == 201
    assert post(api.nurse, case_id, "treated-levels/", {"levels": "L2"}).status_code == 200
    api.attest_phase(case_id, "sign_out")
    done = post(api.nurse, case_id, "sign-out/complete/")
    assert done.status_code == 200 and done.json()["case"]["state"] == "completed", done.content
    return int(case_id)


def _forbidden() -> re.Pattern[str]:
    words = {NEW_PATIENT["family_name"], NEW_PATIENT["given_name"], NEW_PATIENT["mrn"]}
    for spec in DEMO_CASES:
        words |= {spec.family_name, spec.given_name, spec.mrn}
    words |= set(Patient.objects.values_list("mrn", flat=True))
    return re.compile(r"\b(" + "|".join(re.escape(w) for w in sorted(words)) + r")\b", re.IGNORECASE)


def test_no_patient_name_or_mrn_in_the_logs_of_a_full_demo_run(log_file: Path) -> None:
    with (log_file.parent / "seed_demo.out").open("w") as out:
        call_command("seed_demo", stdout=out)
    team = _demo_team()
    Client().post("/login/", {"username": "nurse", "password": "not-the-password"})  # a failed sign-in
    case_id = _whole_case_over_http(team)

    quality = _signed_in("quality")
    for page in ("/quality/", "/quality/audit/", f"/quality/cases/{case_id}/", "/quality/near-misses/",
                 "/quality/integrity/"):  # fmt: skip
        assert quality.get(page).status_code == 200, page
    assert quality.post("/quality/audit/", {"mrn": NEW_PATIENT["mrn"]}, follow=True).status_code == 200
    assert quality.post("/quality/audit/", {"mrn": "MRN-NOT-THERE-1"}).status_code == 200
    fhir = APIClient()
    fhir.force_authenticate(team.quality)
    assert fhir.get(f"/api/v1/cases/{case_id}/fhir/").status_code == 200

    # Beat's tasks, run eagerly: the reminder sweep two days on (everything falls due), the daily
    # digest, the nightly seal and verification; then the command an operator runs.
    with time_machine.travel(timezone.now() + dt.timedelta(days=2), tick=True):
        tasks.reminders_sweep()
        tasks.quality_daily_digest()
        tasks.reminders_sweep()
    tasks.audit_seal()
    tasks.audit_verify_nightly()
    with pytest.raises(SystemExit) as verified, (log_file.parent / "verify.out").open("w") as out:
        call_command("verify_audit", "--no-progress", stdout=out)
    assert verified.value.code == 0

    for handler in logging.getLogger().handlers:
        handler.flush()
    text = log_file.read_text()
    assert len(text.splitlines()) >= 5, text  # the run did log: a missing log would prove nothing
    assert "Reminder sweep" in text and "django.request" in text, text[-3000:]
    leaks = sorted({m.group(0) for m in _forbidden().finditer(text)})
    assert not leaks, (leaks, [line for line in text.splitlines() if _forbidden().search(line)][:10])

    assert mail.outbox, "the sweep sent reminders by e-mail"
    for message in mail.outbox:
        body = " ".join([message.subject, message.body, *(str(a[0]) for a in getattr(message, "alternatives", []))])
        assert not _forbidden().search(body), (message.subject, _forbidden().findall(body))
