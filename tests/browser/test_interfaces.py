"""The HL7 interface in Chromium: the nurse in charge sees an appointment that needs review on the
case list, with its reasons, and resolves it into a case; an administrator reprocesses a
corrected message from the interface page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.contrib.auth.models import Group
from django.utils import timezone
from playwright.sync_api import Page, expect

from checklist.access import roles
from checklist.models import Case
from interfaces import services
from interfaces.models import InboundMessage, MessageStatus, ServiceCodeMapping
from interfaces.samples import siu
from tests.browser.conftest import axe_violations
from tests.support.workflow import Team


def tomorrow(hour: int = 8) -> dt.datetime:
    day = timezone.localtime() + dt.timedelta(days=1)
    return day.replace(hour=hour, minute=0, second=0, microsecond=0, tzinfo=None)


def test_the_nurse_in_charge_sees_and_resolves_an_appointment_that_needs_review(
    team: Team, new_device: Callable[..., Page]
) -> None:
    team.nurse.groups.add(Group.objects.get(name=roles.CHARGE_NURSE))
    team.nurse.access_forget()
    message = siu("S12", control_id="B1", appointment_id="APT-B1", start=tomorrow(), service_code="99999",
                  surgeon=team.surgeon.username, anesthesia=None)  # fmt: skip
    services.message_receive(raw=message.encode())
    page = new_device(team.nurse.username, bypass_csp=True)  # axe-core is injected inline
    page.goto("/cases/")
    card = page.get_by_test_id("needs-review")
    expect(card).to_be_visible()
    expect(card).to_contain_text("DOE, JANE")
    expect(card).to_contain_text("Service code '99999' (AIS-3) is not in the mapping table.")
    assert axe_violations(page) == []
    card.get_by_test_id("resolve").click()
    page.select_option("select[name=procedure]", "discectomy")
    page.select_option("select[name=room]", label=team.room.name)
    page.select_option("select[name=surgeon]", label=team.surgeon.full_name)
    page.get_by_test_id("resolve-submit").click()
    expect(page.locator(".messages")).to_contain_text("is scheduled as case")
    expect(page.get_by_test_id("needs-review")).to_have_count(0)
    assert Case.objects.get().procedure == "discectomy"


def test_an_administrator_reprocesses_a_corrected_message(team: Team, new_device: Callable[..., Page]) -> None:
    ServiceCodeMapping.objects.create(code="SNRB-L", procedure="selective_nerve_root_block")
    bad = siu("S12", control_id="B2", appointment_id="APT-B2", start=tomorrow(), surgeon=team.surgeon.username,
              room=team.room.name, anesthesia=None, dob="1960-05-01")  # fmt: skip
    services.message_receive(raw=bad.encode())
    refused = InboundMessage.objects.get(control_id="B2")
    assert refused.status == MessageStatus.ERROR
    page = new_device(team.admin.username)
    page.goto("/interfaces/")
    expect(page.get_by_test_id("refused-row")).to_contain_text("PID-7")
    page.get_by_test_id("refused-row").get_by_role("link").click()
    field = page.locator("textarea[name=corrected]")
    field.fill(field.input_value().replace("1960-05-01", "19600501"))
    page.get_by_test_id("reprocess").click()
    expect(page.locator(".messages")).to_contain_text("Applied")
    expect(page.get_by_test_id("refused-row")).to_have_count(0)
    assert Case.objects.count() == 1
