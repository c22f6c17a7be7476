from __future__ import annotations

import datetime as dt

from django.utils import timezone

from core.local_time import local_day_bounds, local_day_start


def _hours(bounds: tuple[dt.datetime, dt.datetime]) -> float:
    # Both ends share one tzinfo, so Python subtracts them as wall times: compare in UTC.
    start, end = (moment.astimezone(dt.UTC) for moment in bounds)
    return (end - start) / dt.timedelta(hours=1)


def test_a_day_runs_from_local_midnight_to_the_next() -> None:
    with timezone.override("Europe/Berlin"):
        start, end = local_day_bounds(dt.date(2026, 6, 1))
        assert start == local_day_start(dt.date(2026, 6, 1))
    assert start == dt.datetime(2026, 5, 31, 22, tzinfo=dt.UTC)
    assert end == dt.datetime(2026, 6, 1, 22, tzinfo=dt.UTC)
    assert _hours((start, end)) == 24


def test_a_day_the_clocks_change_is_23_or_25_hours() -> None:
    with timezone.override("Europe/Berlin"):
        spring = local_day_bounds(dt.date(2026, 3, 29))
        autumn = local_day_bounds(dt.date(2026, 10, 25))
    assert spring == (dt.datetime(2026, 3, 28, 23, tzinfo=dt.UTC), dt.datetime(2026, 3, 29, 22, tzinfo=dt.UTC))
    assert autumn == (dt.datetime(2026, 10, 24, 22, tzinfo=dt.UTC), dt.datetime(2026, 10, 25, 23, tzinfo=dt.UTC))
    assert _hours(spring) == 23
    assert _hours(autumn) == 25
