"""The compliance dashboard: figures worked out by hand on a small dataset walked through the real
services, charts rendered on the server, and a query count that does not grow with the cases."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from checklist.access import roles
from checklist.models import Case, Patient, Room
from quality.forms import CaseFilterForm
from quality.selectors import CaseFilter, compliance
from tests.support.factories import UserFactory
from tests.support.quality_workflow import D0, RANGE, dataset_build

pytestmark = pytest.mark.django_db


@pytest.fixture
def data():
    return dataset_build()


def _where(**data: str) -> CaseFilter:
    form = CaseFilterForm({**RANGE, **data})
    assert form.is_valid(), form.errors
    return CaseFilter.from_form(form)


def test_the_figures_match_the_dataset(data) -> None:
    figures = compliance(_where())
    assert figures.cases == 6
    assert figures.started == 5
    assert [(r.label, r.numerator, r.denominator) for r in figures.phases] == [
        ("Sign in", 4, 5),
        ("Time-out", 4, 5),
        ("Localization", 1, 5),
        ("Sign out", 1, 5),
    ]
    assert (figures.time_out_before_first_image.numerator, figures.time_out_before_first_image.denominator) == (3, 3)
    assert (figures.two_reference_variant.numerator, figures.two_reference_variant.denominator) == (1, 2)
    assert figures.two_reference_variant.percent == 50
    assert (figures.sign_out.numerator, figures.sign_out.denominator) == (1, 1)
    assert figures.wait_count == 4
    assert figures.wait_average_minutes == pytest.approx((20 + 40 + 10 + 70) / 4)
    assert figures.wait_buckets == [
        ("0-15 min", 1),
        ("15-30 min", 1),
        ("30-45 min", 1),
        ("45-60 min", 0),
        ("60+ min", 1),
    ]


def test_near_misses_by_kind_over_time_by_room_and_by_surgeon(data) -> None:
    figures = compliance(_where())
    assert figures.near_miss_total == 3
    weeks = {row["label"]: row["kinds"] for row in figures.near_misses_by_week}
    assert weeks == {"2026-03-02": {"consent": 1}, "2026-03-09": {"count": 1, "imaging": 1}}
    rooms = {row["label"]: (row["total"], row["kinds"]) for row in figures.near_misses_by_room}
    assert rooms == {"OR 1": (1, {"consent": 1}), "OR 2": (2, {"count": 1, "imaging": 1})}
    surgeons = {row["label"]: row["total"] for row in figures.near_misses_by_surgeon}
    assert surgeons == {data.one.surgeon.full_name: 1, data.two.surgeon.full_name: 2}


def test_filters_narrow_every_figure(data) -> None:
    room_two = compliance(_where(room=str(data.two.room.pk)))
    assert room_two.cases == 3
    assert [r.numerator for r in room_two.phases] == [2, 2, 0, 0]
    assert room_two.near_miss_total == 2
    by_surgeon = compliance(_where(surgeon=str(data.one.surgeon.pk)))
    assert by_surgeon.cases == 3
    augmentation = compliance(_where(procedure="vertebral_augmentation"))
    assert (augmentation.cases, augmentation.started, augmentation.near_miss_total) == (1, 0, 0)
    assert augmentation.phases[0].percent is None
    last_week_only = compliance(_where(date_from="2026-03-01", date_to="2026-03-07"))
    assert (last_week_only.cases, last_week_only.near_miss_total) == (1, 1)
    assert last_week_only.wait_average_minutes == pytest.approx(40)


def test_the_page_renders_the_figures_and_svg_charts_without_inline_styles(client, data) -> None:
    client.force_login(data.one.quality)
    response = client.get(reverse("quality-dashboard"), RANGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<svg" in html and 'class="q-chart"' in html
    assert "style=" not in html  # CSP: style-src 'self', no inline styles
    assert "<script>" not in html  # no inline scripts either
    assert 'data-testid="near-miss-total">3<' in html
    assert "50% (1/2)" in html  # two-reference localization for variant anatomy
    assert "Average <strong>35.0 minutes</strong>" in html
    assert data.two.surgeon.full_name in html
    hidden = client.get(reverse("quality-dashboard"), {**RANGE, "hide_names": "1"}).content.decode()
    figures = hidden[hidden.index('id="nm-title"') :]  # the filter's surgeon list keeps the names
    assert data.two.surgeon.full_name not in figures
    assert "Surgeon 1" in figures


@pytest.mark.parametrize(
    "params",
    [
        {"date_from": "yesterday"},
        {"date_from": "2026-03-10", "date_to": "2026-03-01"},
        {"date_from": "1900-01-01", "date_to": "2026-01-01"},
        {"room": "999999"},
        {"room": "OR 1"},
        {"surgeon": "abc"},
        {"procedure": "appendectomy"},
    ],
)
def test_bad_filters_are_form_errors_not_500s(client, make_user, params) -> None:
    client.force_login(make_user(roles.QUALITY_OFFICER))
    response = client.get(reverse("quality-dashboard"), params)
    assert response.status_code == 400
    assert b"field-error-text" in response.content


def test_the_quality_officer_lands_on_the_dashboard(client, data) -> None:
    client.force_login(data.one.quality)
    assert client.get("/", follow=True).redirect_chain[-1][0] == reverse("quality-dashboard")


# --- the number of queries does not grow with the number of cases ------------------------------


def _bulk_cases(n: int, room: Room, surgeon) -> None:
    """Bare cases (no checklist, no audit): only the aggregates are being measured."""
    start = D0 - dt.timedelta(days=3)
    patients = Patient.objects.bulk_create(
        Patient(mrn=f"BULK{room.pk}-{i}", family_name="Bulk", given_name=str(i), date_of_birth=dt.date(1970, 1, 1))
        for i in range(n)
    )
    cases = []
    for i, patient in enumerate(patients):
        in_room = start + dt.timedelta(minutes=i) if i % 3 else None
        cases.append(
            Case(
                patient=patient,
                room=room,
                surgeon=surgeon,
                procedure="selective_nerve_root_block",
                scheduled_start=start + dt.timedelta(minutes=i),
                patient_in_room_at=in_room,
                time_out_completed_at=in_room + dt.timedelta(minutes=5 + i % 50) if in_room and i % 2 else None,
                state="time_out" if in_room else "scheduled",
            )
        )
    Case.objects.bulk_create(cases, batch_size=500)


def _dashboard_queries(client) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("quality-dashboard"), RANGE)
    assert response.status_code == 200
    return len(captured), [q["sql"] for q in captured.captured_queries]


def test_the_dashboard_makes_the_same_number_of_queries_with_10_and_1000_cases(client) -> None:
    room = Room.objects.create(name="OR 9")
    surgeon = UserFactory(username="bulk-surgeon", roles=[roles.SURGEON], full_name="Dr Bulk")
    officer = UserFactory(username="bulk-quality", roles=[roles.QUALITY_OFFICER], full_name="Quinn Bulk")
    client.force_login(officer)
    _bulk_cases(10, room, surgeon)
    assert Case.objects.count() == 10
    client.get(reverse("quality-dashboard"), RANGE)  # warm the session and caches
    with_10, _ = _dashboard_queries(client)
    _bulk_cases(990, Room.objects.create(name="OR 10"), surgeon)
    assert Case.objects.count() == 1000
    with_1000, sql = _dashboard_queries(client)
    print(f"dashboard queries: {with_10} with 10 cases, {with_1000} with 1,000 cases")
    assert with_1000 == with_10, "\n".join(sql)
    figures = compliance(_where())
    assert figures.cases == 1000
    assert figures.started == sum(1 for i in range(10) if i % 3) + sum(1 for i in range(990) if i % 3)
