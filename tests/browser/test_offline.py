"""Offline on the tablet (issue 18): the case stays on screen, attestations are queued in IndexedDB
and sent once (Idempotency-Key) when the network is back, a conflict is shown, and what needs the
network says so."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from checklist import services
from checklist.audit.catalogue import AuditAction
from checklist.models import AuditEvent, Case, StepAttestation
from tests.support.workflow import Team, case_schedule, evidence_record

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.slow]
OFFLINE_TEXT = "Offline: changes are kept on this tablet and sent when the network is back"
BUTTON = "attest-phase-sign_in-anesthesia"


def open_case_with_worker(page: Page, case: Case) -> None:
    """Open the case page and wait until the service worker controls it and has cached it."""
    page.goto(f"/cases/{case.pk}/")
    expect(page.get_by_test_id("target")).to_be_visible()
    page.evaluate("async () => { await navigator.serviceWorker.ready; }")
    page.reload()  # this load goes through the worker, which caches the page
    expect(page.get_by_test_id("target")).to_be_visible()
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=15_000)
    wait_until(page, "async (p) => Boolean(await caches.match(p))", f"/cases/{case.pk}/", timeout=15)


def wait_until(page: Page, script: str, arg: object = None, timeout: float = 15) -> None:
    """Poll an async page function until it is true: wait_for_function takes the promise an async
    function returns for a truthy answer and would not wait at all."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(script, arg):
        assert time.monotonic() < deadline, f"not true within {timeout} s: {script}"
        time.sleep(0.05)


def case_in_sign_in(team: Team) -> Case:
    case = case_schedule(team)
    evidence_record(team, case)
    services.case_patient_in_room(actor=team.nurse, case=case.pk)
    return Case.objects.get(pk=case.pk)


def queue_one_attestation(new_device, team: Team) -> tuple[Page, Case]:
    case = case_in_sign_in(team)
    page = new_device(team.anesthesia.username)
    open_case_with_worker(page, case)
    page.context.set_offline(True)
    page.reload()
    expect(page.get_by_test_id("offline-banner")).to_contain_text(OFFLINE_TEXT)
    button = page.get_by_test_id(BUTTON)
    expect(button).to_be_enabled()
    button.click()
    expect(page.get_by_test_id("offline-count")).to_have_text("1 change waiting")
    expect(page.get_by_test_id("queued-note")).to_be_visible()
    assert not StepAttestation.objects.filter(run__case=case).exists()
    return page, case


def attested_events(case: Case) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(case_id=case.pk, action=AuditAction.STEP_ATTESTED))


def test_a_case_opened_before_the_network_went_stays_on_screen(new_device, team: Team) -> None:
    case = case_in_sign_in(team)
    page = new_device(team.anesthesia.username)
    open_case_with_worker(page, case)
    page.context.set_offline(True)
    page.reload()
    expect(page.get_by_test_id("target")).to_have_text("LEFT L2 NERVE ROOT (L2-L3 FORAMEN)")
    expect(page.get_by_test_id("offline-banner")).to_contain_text(OFFLINE_TEXT)
    # What needs the network says so and cannot be tapped.
    expect(page.get_by_role("button", name="Switch user")).to_be_disabled()
    note = page.get_by_test_id("needs-network").first
    expect(note).to_contain_text("Needs the network: follow the downtime procedure")
    page.context.set_offline(False)
    expect(page.get_by_test_id("offline-banner")).to_be_hidden()
    expect(page.get_by_role("button", name="Switch user")).to_be_enabled()


def test_an_attestation_queued_offline_is_sent_once_when_the_network_is_back(new_device, team: Team) -> None:
    page, case = queue_one_attestation(new_device, team)
    page.context.set_offline(False)
    expect(page.get_by_test_id("offline-banner")).to_be_hidden(timeout=15_000)
    expect(page.get_by_test_id(BUTTON)).to_have_count(0)
    attestations = list(StepAttestation.objects.filter(run__case=case))
    assert attestations, "the queued attestation was not recorded"
    # Exactly one per step (the phase button attests each of the anesthesia's sign-in steps once).
    assert len({(a.step_code, a.role) for a in attestations}) == len(attestations)
    assert {a.user_id for a in attestations} == {team.anesthesia.pk}
    events = attested_events(case)
    assert len(events) == len(attestations)
    # The device's time (X-Acted-At) is on each event, and it is not later than the server's.
    assert all(e.acted_at is not None and e.acted_at <= e.at for e in events)


def test_sending_the_same_queued_attestation_twice_writes_once(new_device, team: Team) -> None:
    page, case = queue_one_attestation(new_device, team)
    copy = page.evaluate("() => window.RightLevelOffline.queued()")
    assert len(copy) == 1
    page.context.set_offline(False)
    expect(page.get_by_test_id("offline-banner")).to_be_hidden(timeout=15_000)
    before = StepAttestation.objects.filter(run__case=case).count()
    events_before = len(attested_events(case))
    assert before >= 1
    # As if the tab had crashed after sending but before removing it from the queue.
    page.evaluate("async (item) => { await window.RightLevelOffline.restore(item); }", copy[0])
    page.evaluate("async () => { await window.RightLevelOffline.replay(); }")
    expect(page.get_by_test_id("offline-banner")).to_be_hidden(timeout=15_000)
    assert page.evaluate("async () => (await window.RightLevelOffline.queued()).length") == 0
    assert StepAttestation.objects.filter(run__case=case).count() == before
    assert len(attested_events(case)) == events_before


def test_a_queued_attestation_that_conflicts_is_shown_not_dropped(new_device, team: Team) -> None:
    page, case = queue_one_attestation(new_device, team)
    # Meanwhile, on another device, the radiographer records the anatomy (a new evidence version).
    services.anatomy_record(actor=team.radiographer, case=case.pk, thoracic=12, lumbar=6)
    page.context.set_offline(False)
    conflict = page.get_by_test_id("offline-conflict")
    expect(conflict).to_contain_text("Changed on another device", timeout=15_000)
    assert not StepAttestation.objects.filter(run__case=case).exists()
    page.reload()
    expect(page.get_by_test_id("offline-conflict")).to_be_visible()


def test_an_attestation_whose_post_gets_no_answer_is_queued_by_the_service_worker(new_device, team: Team) -> None:
    case = case_in_sign_in(team)
    page = new_device(team.anesthesia.username)
    open_case_with_worker(page, case)
    # The network goes while the page still believes it is online: the form posts as usual.
    page.evaluate("() => Object.defineProperty(Navigator.prototype, 'onLine', { get: () => true })")
    page.context.set_offline(True)
    button = page.get_by_test_id(BUTTON)
    expect(button).to_be_enabled()
    button.click()
    # The worker kept it and brought the tablet back to the case page (its cached copy).
    expect(page.get_by_test_id("target")).to_be_visible()
    expect(page.get_by_test_id("offline-count")).to_have_text("1 change waiting")
    assert not StepAttestation.objects.filter(run__case=case).exists()
    page.context.set_offline(False)
    expect(page.get_by_test_id("offline-banner")).to_be_hidden(timeout=15_000)
    attestations = list(StepAttestation.objects.filter(run__case=case))
    assert attestations
    assert len(attested_events(case)) == len(attestations)
