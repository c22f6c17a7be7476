"""The seed summary on a second run describes the demo data as it is now (issue 14, item 8)."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from checklist import services
from checklist.management.commands.seed_demo import DEMO_PASSWORD, DUE_SOON_MRN
from checklist.models import Case, PlanVersion

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
SEED_DAY = dt.date(2031, 3, 13)


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_a_second_run_says_what_changed_since_seeding() -> None:
    at = timezone.make_aware(dt.datetime.combine(SEED_DAY, dt.time(10, 0)))
    with time_machine.travel(at, tick=True):
        first = _seed()
        case = Case.objects.get(patient__mrn=DUE_SOON_MRN, scheduled_start__date=SEED_DAY)
        assert "Due soon" in first and "(changed since seeding)" not in first
        plan = PlanVersion.objects.filter(case=case).order_by("-number").first()
        services.plan_sign(actor=case.surgeon, case=case.pk, plan_number=plan.number, password=DEMO_PASSWORD,
                           username=case.surgeon.username)  # fmt: skip
        second = _seed()
    assert "already exist: nothing added" in second
    assert "Due soon" not in second  # its plan is signed now
    row = next(line for line in second.splitlines() if f"#{case.pk} " in line)
    assert "(changed since seeding)" in row and "(unsigned)" not in row
    assert second.count("(changed since seeding)") == 1  # the other cases are as seeded
