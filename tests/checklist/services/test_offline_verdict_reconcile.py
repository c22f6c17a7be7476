"""services.offline_verdict_reconcile: a verdict a tablet showed offline that the server does not
confirm on sync is in the trail and stops the case until evidence is recorded again (issue 18)."""

from __future__ import annotations

import pytest
from django.test import Client

from checklist import services
from checklist.audit.catalogue import AuditAction
from checklist.idempotency import HEADER
from checklist.level_check import OFFLINE_VERDICT_MISMATCH
from checklist.models import AuditEvent, Case
from checklist.views import QUEUE_HEADER, TABLET_VERDICT_HEADER
from core.errors import ApplicationError
from tests.support.workflow import Team, case_schedule, case_through_time_out, evidence_record

pytestmark = pytest.mark.django_db


def _at_localization(team: Team) -> Case:
    case = case_schedule(team)
    evidence_record(team, case)
    return case_through_time_out(team, case)


def _codes(case: Case) -> set[str]:
    return {f["code"] for f in Case.objects.get(pk=case.pk).latest_verdict.findings}


def test_the_same_verdict_writes_nothing(team: Team) -> None:
    case = _at_localization(team)
    events = AuditEvent.objects.count()
    assert services.offline_verdict_reconcile(actor=team.nurse, case=case.pk, tablet_verdict=case.verdict) is False
    assert AuditEvent.objects.count() == events


def test_a_difference_is_audited_and_stops_until_new_evidence(team: Team) -> None:
    case = _at_localization(team)
    assert case.verdict == "incomplete"
    assert services.offline_verdict_reconcile(actor=team.nurse, case=case.pk, tablet_verdict="pass") is True
    event = AuditEvent.objects.get(case_id=case.pk, action=AuditAction.OFFLINE_VERDICT_DIFFERED)
    assert event.after == {"tablet": "pass", "server": "incomplete"}
    assert Case.objects.get(pk=case.pk).verdict == "stop"
    assert OFFLINE_VERDICT_MISMATCH in _codes(case)
    services.localization_record(
        actor=team.radiographer, case=case.pk, phase="pre_incision", reference="sacrum", count=4, label="L2",
        marker_in_place=True, read_by=team.surgeon, side="left",
    )  # fmt: skip
    assert OFFLINE_VERDICT_MISMATCH not in _codes(case)


def test_a_verdict_word_of_no_kind_is_refused(team: Team) -> None:
    case = _at_localization(team)
    with pytest.raises(ApplicationError):
        services.offline_verdict_reconcile(actor=team.nurse, case=case.pk, tablet_verdict="fine")
    client = Client()
    client.force_login(team.radiographer)
    data = {"localization-expected_version": case.evidence_version, "localization-phase": "pre_incision",
            "localization-reference": "sacrum", "localization-count": 4, "localization-label": "L2",
            "localization-marker_in_place": "yes", "localization-side": "left",
            "localization-read_by": team.surgeon.pk}  # fmt: skip
    headers = {HEADER: "v-1", QUEUE_HEADER: "1", TABLET_VERDICT_HEADER: "fine"}
    response = client.post(f"/cases/{case.pk}/do/localization", data, headers=headers)
    assert response.status_code == 400 and TABLET_VERDICT_HEADER in response.content.decode()
    headers = {HEADER: "v-2", QUEUE_HEADER: "1", TABLET_VERDICT_HEADER: "stop"}
    assert client.post(f"/cases/{case.pk}/do/localization", data, headers=headers).status_code == 204
    assert Case.objects.get(pk=case.pk).verdict == "stop"
    assert OFFLINE_VERDICT_MISMATCH in _codes(case)  # the tablet said stop, the server pass: still a stop
