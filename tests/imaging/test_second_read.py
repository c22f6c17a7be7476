"""The independent second read: for high-risk anatomy (or where the template asks) a second
person counts the same image without being shown the first read; the two must agree, or the
level check stops saying what differs; the first result is shown only once the second is saved."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import DatabaseError, transaction
from django.test import Client
from rest_framework.test import APIClient

from checklist import services
from checklist.models import AuditEvent, Case
from imaging import actions
from imaging.models import ImageRead, SecondRead
from imaging.selectors import SECOND_READ_MISMATCH, SECOND_READ_REQUIRED
from tests.imaging.test_reads import post_read, ready_case, receive, taps_from_sacrum_to
from tests.support.workflow import Team

pytestmark = pytest.mark.django_db


@pytest.fixture
def store(settings, tmp_path):
    from imaging.store import LocalImageStore

    settings.IMAGING_STORAGE_DIR = tmp_path / "images"
    return LocalImageStore(settings.IMAGING_STORAGE_DIR)


def client_for(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def codes(case: Case) -> set[str]:
    case.refresh_from_db()
    return {f["code"] for f in case.latest_verdict.findings}


def first_read(team: Team, store, *, lumbar: int = 6, count_to: str = "L2") -> tuple[Case, ImageRead, Any]:
    case = ready_case(team, lumbar=lumbar)
    image, layout = receive(store, case, lumbar=lumbar, marker="L2")
    response = post_read(client_for(team.radiographer), image, taps_from_sacrum_to(layout, count_to))
    assert response.status_code == 201, response.json()
    return case, ImageRead.objects.get(pk=response.json()["read_id"]), layout


def second(user: Any, read: ImageRead, taps: Any, label: str = "L2", reference: str = "sacrum") -> Any:
    body = {"taps": taps, "reference": reference, "label": label}
    return client_for(user).post(f"/api/v1/imaging/reads/{read.pk}/second/", body, format="json")


def test_six_lumbar_vertebrae_need_a_second_read_before_the_level_is_confirmed(team: Team, store) -> None:
    case, _, _ = first_read(team, store)
    assert SECOND_READ_REQUIRED in codes(case) and case.verdict == "incomplete"


def test_the_second_readers_page_and_api_show_neither_the_first_taps_nor_the_count(team: Team, store) -> None:
    case, read, _ = first_read(team, store)
    first_taps = [json.dumps(tap) for tap in read.taps] + [json.dumps(read.taps)]
    api = client_for(team.nurse).get(f"/api/v1/imaging/reads/{read.pk}/second/")
    assert api.status_code == 200
    body = api.json()
    assert body["status"] == "due" and body["first"] is None and body["second"] is None
    raw = api.content.decode()
    assert '"count"' not in raw and '"taps"' not in raw and '"label"' not in raw
    assert not any(tap.replace(" ", "") in raw.replace(" ", "") for tap in first_taps)
    browser = Client()
    browser.force_login(team.nurse)
    page = browser.get(f"/imaging/reads/{read.pk}/second/")
    html = page.content.decode()
    assert page.status_code == 200 and "Second read (blind)" in html
    assert 'id="tap-input" value="[]"' in html and '<strong id="tap-count">0</strong>' in html
    for tap in read.taps:
        assert f"{tap[0]}, {tap[1]}" not in html and f"{tap[0]},{tap[1]}" not in html
    assert "counted" not in html.replace("has counted this image", "")
    # The case page's list of images keeps the first count back while the second read is due.
    case_page = browser.get(f"/cases/{case.pk}/").content.decode()
    assert "independent second read due" in case_page and f"counted: {read.count}" not in case_page


def test_the_case_page_hides_the_first_count_until_the_second_read_is_saved(team: Team, store) -> None:
    case, read, layout = first_read(team, store)
    browser = Client()
    browser.force_login(team.nurse)

    def localization_table() -> str:
        html = browser.get(f"/cases/{case.pk}/").content.decode()
        return html.split('class="loc-table"', 1)[1].split("</table>", 1)[0]

    pending = localization_table()
    assert 'data-testid="count-hidden"' in pending
    assert f"<td>{read.count}</td>" not in pending and "<strong>L2</strong>" not in pending
    finding = next(f for f in Case.objects.get(pk=case.pk).latest_verdict.findings if f["code"] == SECOND_READ_REQUIRED)
    assert str(read.count) not in finding["message"]
    assert second(team.nurse, read, taps_from_sacrum_to(layout, "L2")).status_code == 201
    shown = localization_table()
    assert 'data-testid="count-hidden"' not in shown
    assert f"<td>{read.count}</td>" in shown and "<strong>L2</strong>" in shown


def test_an_agreeing_second_read_clears_the_finding_and_then_shows_both_reads(team: Team, store) -> None:
    case, read, layout = first_read(team, store)
    response = second(team.nurse, read, taps_from_sacrum_to(layout, "L2"))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "done" and body["agrees"] is True and body["differences"] == []
    assert body["first"]["count"] == body["second"]["count"] == 5 and body["first"]["taps"] == read.taps
    assert SECOND_READ_REQUIRED not in codes(case)
    # Six lumbar vertebrae still ask for a second reference; a C2 count that agrees passes.
    services.localization_record(
        actor=team.radiographer,
        case=case,
        phase="pre_incision",
        reference="c2",
        count=19,
        label="L2",
        marker_in_place=True,
        read_by=team.radiographer,
    )
    case.refresh_from_db()
    assert case.verdict == "pass", case.latest_verdict.findings
    event = AuditEvent.objects.get(action=actions.IMAGE_SECOND_READ)
    assert event.case_id == case.pk and event.actor_id == team.nurse.pk
    assert event.after["agrees"] is True and event.after["sop_instance_uid"] == read.image.sop_instance_uid


def test_a_second_read_that_lands_one_level_off_stops_and_says_what_differs(team: Team, store) -> None:
    case, read, layout = first_read(team, store)
    response = second(team.surgeon, read, taps_from_sacrum_to(layout, "L3"), label="L2")
    assert response.status_code == 201 and response.json()["agrees"] is False
    assert response.json()["verdict"] == "stop"
    case.refresh_from_db()
    stop = next(f for f in case.latest_verdict.findings if f["code"] == SECOND_READ_MISMATCH)
    assert stop["severity"] == "stop" and "lands on L2" in stop["message"] and "on L3" in stop["message"]
    assert "named L2" in stop["message"] and stop["action"]


def test_the_two_readers_naming_different_levels_is_a_stop(team: Team, store) -> None:
    case, read, layout = first_read(team, store)
    response = second(team.nurse, read, taps_from_sacrum_to(layout, "L3"), label="L3")
    differences = response.json()["differences"]
    assert response.status_code == 201 and any("the first reader named L2, the second L3" in d for d in differences)
    assert SECOND_READ_MISMATCH in codes(case)


def test_the_first_reader_cannot_read_again_and_an_image_is_read_twice_only_once(team: Team, store) -> None:
    _, read, layout = first_read(team, store)
    same = second(team.radiographer, read, taps_from_sacrum_to(layout, "L2"))
    assert same.status_code == 400 and "someone other than the first reader" in same.json()["errors"]["read_by"][0]
    assert second(team.nurse, read, taps_from_sacrum_to(layout, "L2")).status_code == 201
    again = second(team.surgeon, read, taps_from_sacrum_to(layout, "L2"))
    assert again.status_code == 400 and "already has its second read" in again.json()["errors"]["image"][0]
    assert SecondRead.objects.count() == 1


@pytest.mark.parametrize(
    ("field", "body"),
    [
        ("taps", {"taps": [[1, 1]], "reference": "sacrum", "label": "L2"}),
        ("taps", {"taps": "x", "reference": "sacrum", "label": "L2"}),
        ("label", {"taps": [[1, 1], [2, 2]], "reference": "sacrum", "label": "L9"}),
        ("reference", {"taps": [[1, 1], [2, 2]], "reference": "coccyx", "label": "L2"}),
    ],
    ids=["one-tap", "text", "no-such-level", "no-such-reference"],
)
def test_a_bad_second_read_gets_a_field_reason_and_records_nothing(team: Team, store, field: str, body: Any) -> None:
    _, read, _ = first_read(team, store)
    response = client_for(team.nurse).post(f"/api/v1/imaging/reads/{read.pk}/second/", body, format="json")
    assert response.status_code == 400 and field in response.json()["errors"], response.json()
    assert not SecondRead.objects.exists()


def test_usual_anatomy_needs_no_second_read_but_a_disagreeing_one_still_stops(team: Team, store) -> None:
    case, read, layout = first_read(team, store, lumbar=5)
    case.refresh_from_db()
    assert case.verdict == "pass"
    assert second(team.nurse, read, taps_from_sacrum_to(layout, "L3"), label="L3").status_code == 201
    assert SECOND_READ_MISMATCH in codes(case)


def test_a_stranger_gets_no_second_read_page(team: Team, store, make_user) -> None:
    _, read, _ = first_read(team, store)
    assert (
        client_for(make_user(username="elsewhere")).get(f"/api/v1/imaging/reads/{read.pk}/second/").status_code == 404
    )


def test_the_page_saves_the_second_read_and_then_shows_both(team: Team, store) -> None:
    _, read, layout = first_read(team, store)
    browser = Client()
    browser.force_login(team.nurse)
    url = f"/imaging/reads/{read.pk}/second/"
    bad = browser.post(url, {"taps": "[[1, 1]]", "reference": "sacrum", "label": "L2"})
    assert bad.status_code == 400 and "Tap the reference first" in bad.content.decode()
    response = browser.post(
        url, {"taps": json.dumps(taps_from_sacrum_to(layout, "L2")), "reference": "sacrum", "label": "L2"}
    )
    assert response.status_code == 302
    html = browser.get(url).content.decode()
    assert 'data-testid="second-read-agrees"' in html and 'data-testid="both-reads"' in html


def test_a_second_read_cannot_be_rewritten_or_deleted(team: Team, store) -> None:
    _, read, layout = first_read(team, store)
    assert second(team.nurse, read, taps_from_sacrum_to(layout, "L2")).status_code == 201
    rows = SecondRead.objects.all()
    for action in (lambda: rows.update(count=9), lambda: rows.update(agrees=False), lambda: rows.delete()):
        with pytest.raises(DatabaseError), transaction.atomic():
            action()
