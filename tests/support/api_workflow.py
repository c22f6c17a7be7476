"""Helpers that drive a case through the REST API as the OR team would (tests only)."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient

from checklist.models import User
from checklist.services.tokens import token_create
from tests.support.factories import TEST_PASSWORD
from tests.support.workflow import Team

API = "/api/v1"


def token_client(user: User) -> APIClient:
    """A client that authenticates with the user's API token, as a tablet or phone app does."""
    _, token = token_create(actor=user, user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def case_url(case_id: int, tail: str = "") -> str:
    return f"{API}/cases/{case_id}/{tail}"


def evidence_version(client: APIClient, case_id: int) -> int:
    response = client.get(case_url(case_id, "status"))
    assert response.status_code == 200, response.content
    return int(response.json()["evidence_version"])


def post(client: APIClient, case_id: int, tail: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """POST with the case's current evidence_version, as a device showing the latest state would."""
    body = {"expected_version": evidence_version(client, case_id), **(data or {})}
    return client.post(case_url(case_id, tail), body, format=kwargs.pop("format", "json"), **kwargs)


class ApiTeam:
    """One token client per member of a ``tests.support.workflow.Team``."""

    def __init__(self, team: Team) -> None:
        self.team = team
        self.nurse = token_client(team.nurse)
        self.surgeon = token_client(team.surgeon)
        self.anesthesia = token_client(team.anesthesia)
        self.radiographer = token_client(team.radiographer)
        self.quality = token_client(team.quality)
        self.admin = token_client(team.admin)

    def by_role(self, role: str) -> APIClient:
        client: APIClient = getattr(self, role)
        return client

    def steps(self, case_id: int) -> list[dict[str, Any]]:
        response = self.nurse.get(case_url(case_id))
        assert response.status_code == 200, response.content
        steps: list[dict[str, Any]] = response.json()["checklist"]["steps"]
        return steps

    def attest_phase(self, case_id: int, phase: str) -> int:
        """Every applicable step of ``phase``, each attested over HTTP by the member of each role."""
        done = 0
        for step in self.steps(case_id):
            if step["phase"] != phase:
                continue
            for role in step["missing_roles"]:
                if step.get("scan_role") == role:  # the wristband scan is this role's attestation
                    mrn = self.by_role(role).get(case_url(case_id)).json()["patient"]["mrn"]
                    response = post(self.by_role(role), case_id, "identity-scans/", {"barcode": mrn})
                    assert response.status_code == 201, (step["code"], role, response.json())
                    assert response.json()["attestation"] is not None, response.json()
                else:
                    response = post(self.by_role(role), case_id, f"steps/{step['code']}/attest/", {"role": role})
                    assert response.status_code == 201, (step["code"], role, response.json())
                done += 1
        return done

    def sign(self, client: APIClient, case_id: int, tail: str, username: str) -> Any:
        return post(client, case_id, tail, {"username": username, "password": TEST_PASSWORD})
