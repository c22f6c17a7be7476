"""Fixtures of the security tests: two rooms, each with its team and a case in the sign-in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from checklist import services
from checklist.models import Case
from checklist.views import ACTIONS
from tests.security.routes import Route, routes
from tests.support.workflow import Team, case_schedule, evidence_record, team_create


@dataclass
class World:
    team: Team  # room OR 1
    case: Case  # in OR 1, agreeing evidence, signed plan, patient in the room
    other: Team  # room OR 2
    other_case: Case

    def values(self, case: Case | None = None) -> dict[str, str]:
        """Path parameters naming real objects (by default the OR 1 case)."""
        return {
            "case_id": str((case or self.case).pk),
            "number": "1",
            "step_code": "patient_identity_confirmed",
            "localization_id": "1",
            "run_id": "1",
            "near_miss_id": "1",
            "kind": "cases",
            "object_id": str(self.team.nurse.pk),
            "content_type_id": "1",
            "id": str(self.team.nurse.pk),
        }

    def routes(self, case: Case | None = None) -> list[Route]:
        return routes(self.values(case), expand={"action": sorted(ACTIONS)})

    def fingerprint(self, case: Case) -> tuple[Any, ...]:
        """What a refused request must leave unchanged."""
        from checklist.models import AuditEvent

        fresh = Case.objects.get(pk=case.pk)
        return fresh.version, fresh.evidence_version, AuditEvent.objects.filter(case=fresh).count()


def _case_signing_in(team: Team) -> Case:
    case = case_schedule(team)
    evidence_record(team, case)
    services.case_patient_in_room(actor=team.nurse, case=case.pk)
    return Case.objects.get(pk=case.pk)


@pytest.fixture
def world(db: None) -> World:
    team = team_create()
    other = team_create("OR 2", suffix="2")
    return World(team, _case_signing_in(team), other, _case_signing_in(other))
