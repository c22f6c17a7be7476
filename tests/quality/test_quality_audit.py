"""The audit browser (filters, MRN search, keyset pagination), the case timeline, and integrity:
"verify now" as a Celery task with its progress recorded, and a broken chain shown in red with the
first bad event."""

from __future__ import annotations

import datetime as dt
import importlib
import re
from typing import Any

import pytest
from django.db import connection
from django.urls import reverse

from checklist import audit, services
from checklist.audit import verification
from checklist.models import AuditEvent, AuditVerificationRun
from checklist.services import audit_verification
from quality.selectors import CaseFilter, audit_events_browse
from tests.support.quality_workflow import D0, dataset_build
from tests.support.tamper import as_owner, bytes_untied

pytestmark = pytest.mark.django_db

TRIGGERS = importlib.import_module("checklist.migrations.0004_audit_append_only_triggers")
EVENT_ID = re.compile(r'data-event-id="(\d+)"')


@pytest.fixture
def data():
    return dataset_build()


@pytest.fixture
def officer_client(client, data):
    client.force_login(data.one.quality)
    return client


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.content[:500]
    return [int(x) for x in EVENT_ID.findall(response.content.decode())]


def _browse(client, **params: Any) -> list[int]:
    return _ids(client.get(reverse("quality-audit"), params))


# --- filters -------------------------------------------------------------------------------------


def test_no_filter_lists_the_newest_events_first(officer_client, data) -> None:
    ids = _browse(officer_client)
    newest = list(AuditEvent.objects.order_by("-id").values_list("id", flat=True)[:50])
    assert ids == newest


def test_filter_by_action_and_by_user(officer_client, data) -> None:
    ids = _browse(officer_client, action="consent.recorded")
    assert ids and set(AuditEvent.objects.filter(pk__in=ids).values_list("action", flat=True)) == {"consent.recorded"}
    assert len(ids) == AuditEvent.objects.filter(action="consent.recorded").count() == 5  # A, C and D once, B twice
    ids = _browse(officer_client, user=data.two.radiographer.username)
    assert ids
    assert set(AuditEvent.objects.filter(pk__in=ids).values_list("actor_username", flat=True)) == {
        data.two.radiographer.username
    }


def test_filter_by_room_surgeon_procedure_and_mrn(officer_client, data) -> None:
    room_ids = _browse(officer_client, room=data.two.room.pk, action="localization.recorded")
    assert set(AuditEvent.objects.filter(pk__in=room_ids).values_list("case_id", flat=True)) == {data.c.pk, data.d.pk}
    surgeon_ids = _browse(officer_client, surgeon=data.one.surgeon.pk, action="case.scheduled")
    assert set(AuditEvent.objects.filter(pk__in=surgeon_ids).values_list("case_id", flat=True)) == {
        data.a.pk,
        data.b.pk,
        data.e.pk,
    }
    procedure_ids = _browse(officer_client, procedure="vertebral_augmentation")
    assert set(AuditEvent.objects.filter(pk__in=procedure_ids).values_list("case_id", flat=True)) == {data.e.pk}
    mrn_ids = _search_mrn(officer_client, data.c.patient.mrn.lower())  # case-insensitive, exact
    assert set(AuditEvent.objects.filter(pk__in=mrn_ids).values_list("case_id", flat=True)) == {data.c.pk}


def _search_mrn(client, mrn: str, **filters: Any) -> list[int]:
    """Search by MRN as the form does: POST, then follow the 303 to a URL without the MRN."""
    response = client.post(reverse("quality-audit"), {"mrn": mrn, **filters})
    assert response.status_code == 303, response.content[:500]
    location = response["Location"]
    assert mrn.lower() not in location.lower(), location
    page = client.get(location)
    assert mrn.lower() in page.content.decode().lower()  # the MRN box still shows what was searched
    return _ids(page)


def test_an_mrn_never_travels_in_a_url(officer_client, data) -> None:
    mrn = data.c.patient.mrn
    response = officer_client.post(reverse("quality-audit"), {"mrn": mrn, "action": "consent.recorded", "after": "3"})
    assert response.status_code == 303
    assert response["Location"] == f"{reverse('quality-audit')}?action=consent.recorded&patient={data.c.patient_id}"
    ids = _ids(officer_client.get(response["Location"]))
    assert ids and set(AuditEvent.objects.filter(pk__in=ids).values_list("case_id", "action").distinct()) == {
        (data.c.pk, "consent.recorded")
    }
    # The pager's links keep the patient's id, never the MRN.
    page = officer_client.get(response["Location"]).content.decode()
    assert "?mrn=" not in page and f"mrn={mrn}" not in page
    # An MRN typed into a URL by hand is taken out of it.
    legacy = officer_client.get(reverse("quality-audit"), {"mrn": mrn})
    assert legacy.status_code == 303 and mrn not in legacy["Location"]
    assert legacy["Location"].endswith(f"?patient={data.c.patient_id}")
    # An unknown MRN: a clear message on the form, no events, nothing in the URL.
    unknown = officer_client.post(reverse("quality-audit"), {"mrn": "NO-SUCH-MRN"})
    assert unknown.status_code == 200
    assert "No patient has this MRN." in unknown.content.decode()
    assert _ids(unknown) == []
    # The search form posts with a CSRF token.
    form = officer_client.get(reverse("quality-audit")).content.decode()
    assert 'method="post"' in form and "csrfmiddlewaretoken" in form


def test_filter_by_date(officer_client, data) -> None:
    ids = _browse(officer_client, date_to="2026-03-08")
    assert ids
    events = AuditEvent.objects.filter(pk__in=ids)
    assert all(e.at < D0 for e in events)
    assert {e.case_id for e in events} <= {data.b.pk, None}
    assert len(ids) == min(50, AuditEvent.objects.filter(at__lt=D0).count())
    # After the dataset's last day there is only the officer's own sign-in (today).
    later = _browse(officer_client, date_from="2026-03-10")
    assert [e.action for e in AuditEvent.objects.filter(pk__in=later)] == ["access.signed_in"]


@pytest.mark.parametrize(
    "params",
    [
        {"date_from": "31/12/2026"},
        {"room": "nowhere"},
        {"action": "x'; DROP TABLE checklist_audit_event; --"},
        {"before": "abc"},
        {"after": "-5"},
        {"before": "10", "after": "5"},
    ],
)
def test_bad_input_is_a_400_with_the_form_error(officer_client, params) -> None:
    response = officer_client.get(reverse("quality-audit"), params)
    assert response.status_code == 400


# --- keyset pagination -----------------------------------------------------------------------------


def test_keyset_pages_cover_every_event_once_in_order_both_ways(data) -> None:
    everything = list(AuditEvent.objects.order_by("-id").values_list("id", flat=True))
    assert len(everything) > 40
    where = CaseFilter()
    pages, cursor = [], None
    while True:
        page = audit_events_browse(where=where, before=cursor, limit=7)
        pages.append([e.pk for e in page.events])
        if page.older is None:
            break
        cursor = page.older
    assert [pk for page in pages for pk in page] == everything
    assert all(len(page) == 7 for page in pages[:-1])
    # Back again with the "newer" cursors: the same pages, in reverse.
    back, page = [], audit_events_browse(where=where, before=pages[-2][-1], limit=7)
    while True:
        back.append([e.pk for e in page.events])
        if page.newer is None:
            break
        page = audit_events_browse(where=where, after=page.newer, limit=7)
    assert back == pages[::-1]


def test_pages_stay_put_while_events_are_appended(officer_client, data) -> None:
    first = officer_client.get(reverse("quality-audit"))
    older = re.search(r'href="(\?[^"]*before=\d+[^"]*)"', first.content.decode()).group(1).replace("&amp;", "&")
    second_before = _ids(officer_client.get(reverse("quality-audit") + older))
    services.anatomy_record(actor=data.two.radiographer, case=data.f, thoracic=12, lumbar=5)  # new events on top
    assert _ids(officer_client.get(reverse("quality-audit") + older)) == second_before
    assert _ids(first)[0] < AuditEvent.objects.order_by("-id").first().pk


def test_the_view_walks_every_page_through_its_links(officer_client, data) -> None:
    url, seen = reverse("quality-audit") + "?action=step.attested", []
    for _ in range(20):
        response = officer_client.get(url)
        seen.extend(_ids(response))
        match = re.search(r'href="(\?[^"]*before=\d+[^"]*)" rel="next"', response.content.decode())
        if not match:
            break
        url = reverse("quality-audit") + match.group(1).replace("&amp;", "&")
    expected = list(AuditEvent.objects.filter(action="step.attested").order_by("-id").values_list("id", flat=True))
    assert len(expected) > 50
    assert seen == expected


# --- the case timeline -------------------------------------------------------------------------


def test_the_case_timeline_shows_who_when_what_changed_and_signature_meanings(officer_client, data) -> None:
    response = officer_client.get(reverse("quality-case", args=[data.a.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    events = list(AuditEvent.objects.filter(case=data.a).order_by("seq"))
    for event in events:
        assert f'id="event-{event.pk}"' in html
    assert "Signature meaning: <strong>approved plan</strong>" in html
    assert "Signature meaning: <strong>confirmed level</strong>" in html
    assert data.one.surgeon.full_name in html and "(surgeon)" in html
    # A state change shows from -> to.
    assert re.search(r"<del>scheduled</del> <span aria-label=\"changed to\">→</span> <ins>sign_in</ins>", html)
    head = audit.case_chain(data.a.pk)
    assert AuditEvent.objects.filter(chain=head).order_by("-seq").first().event_hash in html


# --- integrity: verify now ---------------------------------------------------------------------------


def test_verify_now_runs_the_task_records_progress_and_seals(
    officer_client, data, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    # Small steps, so a few dozen events give several progress writes.
    monkeypatch.setattr(verification, "PROGRESS_EVERY", 5)
    monkeypatch.setattr(audit_verification, "PROGRESS_WRITE_EVERY", 10)
    seen: list[int] = []
    original = audit.verify

    def spying_verify(*, progress=None, **kwargs):
        def spy(n: int) -> None:
            progress(n)
            seen.append(AuditVerificationRun.objects.get().checked_events)

        return original(progress=spy, **kwargs)

    monkeypatch.setattr(audit, "verify", spying_verify)
    with django_capture_on_commit_callbacks(execute=True):
        response = officer_client.post(reverse("quality-verify"))
    assert response.status_code == 302
    run = AuditVerificationRun.objects.get()
    assert run.requested_by == data.one.quality
    assert run.ok is True and run.problems_count == 0 and run.first_problem == ""
    assert run.finished_at is not None and run.seal is not None
    # Everything but the seal's and the result's own events, appended after the check.
    assert run.checked_events == run.total_events == AuditEvent.objects.count() - 2
    # Progress was written to the run while it went on, every ten events (reported every five).
    assert seen[:4] == [0, 10, 10, 20]
    assert seen == sorted(seen) and seen[-1] >= run.checked_events - 10
    assert AuditEvent.objects.filter(action="audit.verification_requested", actor=data.one.quality).exists()
    assert AuditEvent.objects.get(action="audit.verified").after["ok"] is True
    status = officer_client.get(reverse("quality-run-status", args=[run.pk])).json()
    assert status["state"] == "ok" and status["checked_events"] == run.checked_events
    page = officer_client.get(reverse("quality-integrity")).content.decode()
    assert "Intact" in page and f"<td>#{run.seal.seq}</td>" in page
    dashboard = officer_client.get(reverse("quality-dashboard")).content.decode()
    assert "q-state-ok" in dashboard and "Intact" in dashboard


def test_a_second_verify_now_while_one_runs_shows_the_running_one(officer_client, data) -> None:
    queued: list[int] = []
    run, started = audit_verification.audit_verification_start(actor=data.one.quality, enqueue=queued.append)
    assert started
    again, started_again = audit_verification.audit_verification_start(actor=data.one.quality, enqueue=queued.append)
    assert (again.pk, started_again) == (run.pk, False)
    status = officer_client.get(reverse("quality-run-status", args=[run.pk])).json()
    assert status["state"] == "running"
    page = officer_client.get(reverse("quality-integrity")).content.decode()
    assert "Running" in page and 'data-state="running"' in page and "js/quality.js" in page


def test_a_run_that_cannot_be_queued_says_so_instead_of_failing(
    officer_client, data, django_capture_on_commit_callbacks
) -> None:
    def broker_down(run_id: int) -> None:
        raise ConnectionError("broker unreachable")

    with django_capture_on_commit_callbacks(execute=True):
        run, _ = audit_verification.audit_verification_start(actor=data.one.quality, enqueue=broker_down)
    run.refresh_from_db()
    assert run.ok is None and run.finished_at is not None
    assert "could not be queued" in run.first_problem
    assert officer_client.get(reverse("quality-run-status", args=[run.pk])).json()["state"] == "unfinished"


class _RawEditor:
    connection = connection

    def execute(self, sql: str, params: Any = None) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def test_a_tampered_event_shows_red_with_the_first_bad_event(
    officer_client, data, django_capture_on_commit_callbacks
) -> None:
    victim = AuditEvent.objects.filter(case=data.c, action="localization.recorded").order_by("seq").first()
    # An attacker with a SQL prompt: drop the append-only triggers, rewrite a value, restore them
    # (all inside the test's transaction, so it is rolled back with it).
    # On PostgreSQL they also drop the constraint that holds each event to its stored hashed bytes,
    # and clear the edited event's bytes (``bytes_untied``), or the database refuses the edit.
    with as_owner():  # the application's own role may not drop triggers or UPDATE audit rows
        TRIGGERS.drop_triggers(None, _RawEditor())
        try:
            with bytes_untied(), connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {AuditEvent._meta.db_table} SET reason = %s WHERE id = %s",  # noqa: S608 - our table name
                    ["quietly corrected", victim.pk],
                )
        finally:
            TRIGGERS.create_triggers(None, _RawEditor())
    with django_capture_on_commit_callbacks(execute=True):
        officer_client.post(reverse("quality-verify"))
    run = AuditVerificationRun.objects.get()
    assert run.ok is False and run.problems_count >= 1
    assert run.first_problem.startswith(f"chain case-{data.c.pk}, event #{victim.seq} (id {victim.pk}")
    assert "content altered" in run.first_problem
    page = officer_client.get(reverse("quality-integrity")).content.decode()
    assert "q-state-broken" in page and 'role="alert"' in page and "BROKEN" in page
    assert f'data-testid="first-problem">chain case-{data.c.pk}, event #{victim.seq}' in page
    assert reverse("quality-case", args=[data.c.pk]) + f"#event-{victim.pk}" in page
    dashboard = officer_client.get(reverse("quality-dashboard")).content.decode()
    assert "q-state-broken" in dashboard and "BROKEN" in dashboard
    assert officer_client.get(reverse("quality-run-status", args=[run.pk])).json()["state"] == "broken"


def test_an_unknown_run_is_404(officer_client) -> None:
    assert officer_client.get(reverse("quality-run-status", args=[999999])).status_code == 404


def test_a_stale_run_is_shown_as_unfinished(officer_client, data) -> None:
    run, _ = audit_verification.audit_verification_start(actor=data.one.quality, enqueue=lambda run_id: None)
    AuditVerificationRun.objects.filter(pk=run.pk).update(started_at=run.started_at - dt.timedelta(hours=3))
    assert officer_client.get(reverse("quality-run-status", args=[run.pk])).json()["state"] == "unfinished"
    # ...and does not block a new run.
    _, started = audit_verification.audit_verification_start(actor=data.one.quality, enqueue=lambda run_id: None)
    assert started
