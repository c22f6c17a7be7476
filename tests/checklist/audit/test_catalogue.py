"""Audit actions come from one catalogue (issue 15): ``AuditAction``.

Three checks: the catalogue itself is well formed; no code passes a free string as the action
of an event; and the events a whole case writes (with a stop, a near miss, signatures, a
revision, sign-out) all name catalogue members.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from checklist.audit.catalogue import ACCESS_ACTIONS, AuditAction
from checklist.models import AuditEvent

ROOT = Path(__file__).resolve().parents[3]
CODE = ("checklist", "quality", "core", "imaging")


def test_every_action_is_a_noun_and_a_past_tense_and_unique() -> None:
    values = [action.value for action in AuditAction]
    assert len(values) == len(set(values))
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*\.[a-z_]+", value) for value in values), values
    assert {a.value for a in ACCESS_ACTIONS} == {v for v in values if v.startswith("access.")}


def _free_string_actions() -> list[str]:
    found = []
    for package in CODE:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name)):
                    continue
                name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
                if name != "append":
                    continue
                for keyword in node.keywords:
                    if keyword.arg == "action" and any(
                        isinstance(inner, ast.Constant) and isinstance(inner.value, str)
                        for inner in ast.walk(keyword.value)
                    ):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_no_event_is_appended_with_a_free_string_as_its_action() -> None:
    assert _free_string_actions() == []


@pytest.mark.django_db(transaction=True)
def test_a_whole_case_writes_only_catalogued_actions(team) -> None:
    from tests.support.workflow import case_schedule, case_through_localization, evidence_record

    case = case_schedule(team)
    evidence_record(team, case)
    case = case_through_localization(team, case)
    assert case.pk
    recorded = set(AuditEvent.objects.values_list("action", flat=True).distinct())
    assert len(recorded) > 10
    assert recorded <= {action.value for action in AuditAction}, recorded - {a.value for a in AuditAction}
