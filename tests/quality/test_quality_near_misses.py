"""The near-miss register: every resolved stop with what disagreed, who caught it and how long it took,
and the quality officer's learning note (audited, quality officers only, non-punitive)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from checklist import audit
from checklist.models import AuditEvent, NearMiss
from checklist.services.near_misses import near_miss_annotate
from core.errors import ApplicationError, ConflictError, ForbiddenError
from quality.selectors import HIDDEN_NAME
from tests.support.quality_workflow import RANGE, dataset_build

pytestmark = pytest.mark.django_db


@pytest.fixture
def data():
    return dataset_build()


@pytest.fixture
def officer_client(client, data):
    client.force_login(data.one.quality)
    return client


def test_the_register_lists_every_resolved_stop_with_what_disagreed_and_who_caught_it(officer_client, data) -> None:
    response = officer_client.get(reverse("quality-near-misses"), RANGE)
    assert response.status_code == 200
    html = response.content.decode()
    for miss in NearMiss.objects.select_related("caught_by", "resolved_by"):
        assert f'id="near-miss-{miss.pk}"' in html
        for finding in miss.findings:
            assert finding["message"].replace("'", "&#x27;").replace('"', "&quot;") in html
    count = NearMiss.objects.get(case=data.c)
    assert count.caught_by == data.two.radiographer
    assert f"by {data.two.radiographer.full_name} (radiographer)" in html
    assert 'data-testid="minutes">12.0 min' in html  # B: consent corrected 12 minutes later
    assert 'data-testid="minutes">6.0 min' in html
    assert 'data-testid="minutes">3.0 min' in html


def test_filters_and_hidden_names(officer_client, data) -> None:
    html = officer_client.get(reverse("quality-near-misses"), {**RANGE, "kind": "count"}).content.decode()
    assert html.count('class="card" id="near-miss-') == 1
    html = officer_client.get(reverse("quality-near-misses"), {**RANGE, "room": data.one.room.pk}).content.decode()
    assert html.count('class="card" id="near-miss-') == 1
    hidden = officer_client.get(reverse("quality-near-misses"), {**RANGE, "hide_names": "1"}).content.decode()
    register = hidden[hidden.index('data-testid="register"') :]
    for user in (data.one.nurse, data.two.radiographer, data.one.surgeon, data.two.surgeon):
        assert user.full_name not in register
    assert f"by {HIDDEN_NAME} (radiographer)" in register
    assert officer_client.get(reverse("quality-near-misses"), {"kind": "blame"}).status_code == 400
    assert officer_client.get(reverse("quality-near-misses"), {"before": "x"}).status_code == 400


def test_a_quality_officer_writes_a_learning_note_from_the_register(officer_client, data) -> None:
    miss = NearMiss.objects.get(case=data.c)
    back = reverse("quality-near-misses") + "?kind=count&date_from=2026-02-23&date_to=2026-03-15"
    response = officer_client.post(
        reverse("quality-near-miss-note", args=[miss.pk]),
        {"learning_note": "  Six lumbar vertebrae: count from C2 first.  ", "expected_note": "", "next": back},
    )
    assert response.status_code == 302
    assert response["Location"] == f"{back}#near-miss-{miss.pk}"
    miss.refresh_from_db()
    assert miss.learning_note == "Six lumbar vertebrae: count from C2 first."
    event = AuditEvent.objects.get(action="near_miss.annotated")
    assert event.case_id == data.c.pk and event.actor == data.one.quality and event.actor_role == "quality_officer"
    assert event.before == {"learning_note": ""}
    assert event.after == {"learning_note": "Six lumbar vertebrae: count from C2 first."}
    assert audit.verify().ok
    html = officer_client.get(back).content.decode()
    assert "Six lumbar vertebrae: count from C2 first." in html


def test_an_off_site_next_is_ignored(officer_client, data) -> None:
    miss = NearMiss.objects.get(case=data.c)
    response = officer_client.post(
        reverse("quality-near-miss-note", args=[miss.pk]), {"learning_note": "x", "next": "https://evil.invalid/"}
    )
    assert response["Location"].startswith(reverse("quality-near-misses"))


def test_a_concurrent_edit_is_refused_not_overwritten(officer_client, data) -> None:
    miss = NearMiss.objects.get(case=data.b)
    near_miss_annotate(actor=data.one.quality, near_miss=miss, learning_note="First officer's note")
    with pytest.raises(ConflictError):
        near_miss_annotate(actor=data.two.quality, near_miss=miss, learning_note="Second", expected_note="")
    response = officer_client.post(
        reverse("quality-near-miss-note", args=[miss.pk]), {"learning_note": "Second", "expected_note": ""}, follow=True
    )
    assert "Someone else changed this learning note" in response.content.decode()
    miss.refresh_from_db()
    assert miss.learning_note == "First officer's note"


def test_an_unchanged_note_writes_nothing(data) -> None:
    miss = NearMiss.objects.get(case=data.b)
    before = AuditEvent.objects.count()
    near_miss_annotate(actor=data.one.quality, near_miss=miss, learning_note="")
    assert AuditEvent.objects.count() == before


def test_only_quality_officers_write_notes(client, data) -> None:
    miss = NearMiss.objects.get(case=data.b)
    for user in (data.one.admin, data.one.nurse, data.one.surgeon):
        with pytest.raises(ForbiddenError):
            near_miss_annotate(actor=user, near_miss=miss, learning_note="blame")
    client.force_login(data.one.admin)  # admins read the register but do not write in it
    assert client.get(reverse("quality-near-misses")).status_code == 200
    assert client.post(reverse("quality-near-miss-note", args=[miss.pk]), {"learning_note": "x"}).status_code == 403
    miss.refresh_from_db()
    assert miss.learning_note == ""


def test_a_note_too_long_is_refused(data) -> None:
    miss = NearMiss.objects.get(case=data.b)
    with pytest.raises(ApplicationError):
        near_miss_annotate(actor=data.one.quality, near_miss=miss, learning_note="x" * 4001)


def test_an_unknown_near_miss_is_404(officer_client) -> None:
    assert (
        officer_client.post(reverse("quality-near-miss-note", args=[999999]), {"learning_note": "x"}).status_code == 404
    )
