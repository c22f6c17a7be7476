"""Wording that must not contradict itself (issue 12, item 11)."""

from __future__ import annotations

import pytest
from django.test import Client

from checklist import services
from core.errors import ApplicationError
from tests.support.workflow import Team, case_schedule, case_through_time_out, evidence_record

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_counts_to_expect_say_they_assume_the_usual_anatomy_when_none_is_recorded(team: Team) -> None:
    case = case_schedule(team)
    services.plan_revise(actor=team.surgeon, case=case, procedure=case.procedure, levels="L2", side="left")
    html = _client(team.nurse).get(f"/cases/{case.pk}/").content.decode()
    block = html[html.index('data-testid="expected-counts"') :][:600]
    assert "assuming the usual anatomy" in block and "no anatomy is recorded yet" in block
    services.anatomy_record(actor=team.radiographer, case=case, thoracic=12, lumbar=5)
    html = _client(team.nurse).get(f"/cases/{case.pk}/").content.decode()
    assert "assuming the usual anatomy" not in html


def test_the_label_echo_refuses_what_the_server_refuses(team: Team) -> None:
    case = case_schedule(team)
    evidence_record(team, case)
    case = case_through_time_out(team, case)
    client = _client(team.radiographer)
    url = f"/cases/{case.pk}/levels-preview?kind=label&localization-label="
    # The plan is a left L2 root block: "L2-L3" is the L2 root's foramen (contract v2) and is read.
    for refused in ("L3-L5", "L2, L3", "L9", "C6"):
        echo = client.get(url + refused).content.decode()
        assert "preview-error" in echo and "preview-ok" not in echo, refused
        with pytest.raises(ApplicationError):  # the service refuses the same text
            services.localization_record(
                actor=team.radiographer, case=case, phase="pre_incision", reference="sacrum", count=4,
                label=refused, marker_in_place=True, read_by=team.surgeon,
            )  # fmt: skip
    for accepted in ("l2", "L2-L3", "L2/3"):
        echo = client.get(url + accepted).content.decode()
        assert "preview-ok" in echo and "L2" in echo, accepted


def test_a_completed_time_out_offers_no_complete_button(team: Team) -> None:
    case = case_schedule(team)
    evidence_record(team, case)
    case = case_through_time_out(team, case)
    html = _client(team.nurse).get(f"/cases/{case.pk}/").content.decode()
    assert 'data-testid="time-out-complete"' not in html
    assert "Complete the time-out" not in html
