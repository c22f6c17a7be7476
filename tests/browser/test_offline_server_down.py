"""The server process stops in the middle of a time-out and of a localization (issue 18): a real
gunicorn on the test database is killed while the tablet is on the case (the tablet still believes
it is online: the posts fail, the service worker keeps them), then started again on the same port;
what was done meanwhile reaches the server exactly once, and a miscount read meanwhile is a stop on
the tablet before the server is back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from checklist import services
from checklist.audit.catalogue import AuditAction
from checklist.models import AuditEvent, Case, Localization, StepAttestation
from checklist.selectors import checklist_status
from tests.browser.test_offline import open_case_with_worker
from tests.support.server_process import ServerProcess
from tests.support.workflow import Team, case_schedule, case_through_time_out, evidence_record, phase_attest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.slow]
BACK_WITHIN_MS = 30_000  # the tablet probes every 5 s
ENGINE_LOAD_MS = 120_000


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path / "gunicorn.log")
    process.start()
    yield process
    process.stop()


@pytest.fixture
def device(new_device: Any, server: ServerProcess) -> Any:
    """A signed-in tablet on the server process (not the live server)."""
    return lambda username: new_device(username, base_url=server.url)


def test_the_server_stops_mid_time_out_and_the_attestations_made_meanwhile_arrive_once(
    device: Any, server: ServerProcess, team: Team
) -> None:
    case = case_schedule(team)
    evidence_record(team, case)
    services.case_patient_in_room(actor=team.nurse, case=case.pk)
    phase_attest(team, case, "sign_in")
    page = device(team.nurse.username)
    open_case_with_worker(page, Case.objects.get(pk=case.pk))
    button = page.get_by_test_id("attest-phase-time_out-nurse")
    expect(button).to_be_enabled()

    server.stop()
    button.click()  # the page still believes it is online: the post fails, the worker keeps it
    expect(page.get_by_test_id("target")).to_be_visible()
    expect(page.get_by_test_id("offline-count")).to_have_text("1 change waiting", timeout=BACK_WITHIN_MS)
    expect(page.get_by_test_id("offline-banner")).to_contain_text("Offline", timeout=BACK_WITHIN_MS)
    assert not StepAttestation.objects.filter(run__case=case, step_code__in=_time_out_codes(case)).exists()

    server.start()
    expect(page.get_by_test_id("offline-banner")).to_be_hidden(timeout=BACK_WITHIN_MS)
    attestations = list(StepAttestation.objects.filter(run__case=case, step_code__in=_time_out_codes(case)))
    assert attestations and {a.user_id for a in attestations} == {team.nurse.pk}
    assert len({(a.step_code, a.role) for a in attestations}) == len(attestations)  # once each
    time_out_events = list(
        AuditEvent.objects.filter(
            case_id=case.pk, action=AuditAction.STEP_ATTESTED, object_id__in=[str(a.pk) for a in attestations]
        )
    )
    assert len(time_out_events) == len(attestations)
    assert all(e.acted_at is not None and e.acted_at <= e.at for e in time_out_events)


def test_the_server_stops_mid_localization_and_a_miscount_is_a_stop_on_the_tablet(
    device: Any, server: ServerProcess, team: Team
) -> None:
    case = case_schedule(team)
    evidence_record(team, case)
    case = case_through_time_out(team, case)
    page = device(team.radiographer.username)
    open_case_with_worker(page, case)

    server.stop()
    page.locator("#localization details.form-panel").evaluate("d => { d.open = true; }")
    form = page.locator("form[action$='/do/localization']")
    form.locator("input[name=localization-reference][value=sacrum]").check()
    form.locator("input[name=localization-count]").fill("5")  # the 5th from the sacrum is L1, not L2
    form.locator("input[name=localization-label]").fill("L2")
    form.locator("input[name=localization-marker_in_place][value=yes]").check()
    form.locator("input[name=localization-side][value=left]").check()
    form.get_by_test_id("save-localization").click()

    verdict = page.get_by_test_id("offline-verdict")
    expect(verdict).to_contain_text("STOP, checked on this tablet", timeout=ENGINE_LOAD_MS)
    expect(page.get_by_test_id("offline-count")).to_have_text("1 change waiting")
    assert not Localization.objects.filter(case=case).exists()

    server.start()
    expect(page.get_by_test_id("offline-banner")).to_be_hidden(timeout=BACK_WITHIN_MS)
    assert Localization.objects.filter(case=case).count() == 1
    assert AuditEvent.objects.filter(case_id=case.pk, action=AuditAction.LOCALIZATION_RECORDED).count() == 1
    assert Case.objects.get(pk=case.pk).verdict == "stop"
    expect(page.get_by_test_id("verdict")).to_contain_text("STOP", timeout=BACK_WITHIN_MS)


def _time_out_codes(case: Case) -> set[str]:
    return {s.code for s in checklist_status(Case.objects.get(pk=case.pk)) if s.phase == "time_out"}
