"""Seed the load test's data through the services and write the devices' manifest (bench/load).

Five teams, each with a nurse, anesthesia and a radiographer, and CASES_PER_ROOM cases with
agreeing evidence, a signed plan and the patient in the room: the team's tablets walk them through
the sign-in and the time-out. A room holds one patient at a time, so each of a team's cases is in
a theatre of its own (the team is staff of all of them). Ten surgeons, each with three cases whose
plan is written but not signed: the surgeon phones sign them and write new versions. Tokens for
everyone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOMS = 5
CASES_PER_ROOM = 8
SURGEONS = 10
CASES_PER_SURGEON = 3


def seed(manifest_path: Path) -> dict[str, Any]:
    from checklist import services
    from checklist.access import roles
    from checklist.services.tokens import token_create
    from tests.support.factories import TEST_PASSWORD, UserFactory
    from tests.support.workflow import Team, case_schedule, evidence_record, team_create, theatre_for

    def token(user: Any) -> str:
        return token_create(actor=user, user=user)[1]

    manifest: dict[str, Any] = {"rooms": [], "surgeons": []}
    for r in range(1, ROOMS + 1):
        team = team_create(f"Load OR {r}", suffix=f"-load{r}")
        cases = []
        for c in range(1, CASES_PER_ROOM + 1):
            case = case_schedule(team, room=theatre_for(team, f"Load OR {r}.{c}"))
            evidence_record(team, case)
            services.case_patient_in_room(actor=team.nurse, case=case.pk)
            cases.append(case.pk)
        manifest["rooms"].append(
            {
                "room": team.room.name,
                "cases": cases,
                "tokens": {role: token(team.by_role(role)) for role in ("nurse", "anesthesia", "radiographer")},
                "surgeon_tokens": {str(case_id): token(team.surgeon) for case_id in cases},
            }
        )
    host = team_create("Load OR S", suffix="-loads")
    for s in range(1, SURGEONS + 1):
        surgeon = UserFactory(username=f"surgeon-load-s{s}", roles=[roles.SURGEON], full_name=f"Dr Load {s}")
        team = Team(host.room, host.nurse, surgeon, host.anesthesia, host.radiographer, host.quality, host.admin)
        cases = []
        for _ in range(CASES_PER_SURGEON):
            case = case_schedule(team)
            evidence_record(team, case, sign=False)
            cases.append(case.pk)
        manifest["surgeons"].append(
            {"username": surgeon.username, "password": TEST_PASSWORD, "token": token(surgeon), "cases": cases}
        )
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return manifest
