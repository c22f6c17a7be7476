"""The local day: the one definition of "a day" for filters, reports and the tablet."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone


def local_day_start(day: dt.date) -> dt.datetime:
    """Local midnight at the start of ``day``, as an aware datetime in the current time zone."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def local_day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """``[start, end)`` of ``day`` in the current time zone: from its local midnight to the next
    one (23 or 25 hours on a day the clocks change)."""
    return local_day_start(day), local_day_start(day + dt.timedelta(days=1))
