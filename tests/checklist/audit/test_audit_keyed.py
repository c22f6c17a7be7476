"""Keyed events and signatures (issue 13, item 2): the chain hashes are public arithmetic, so an
attacker who can INSERT (the application's own role can) computes them correctly; only the audit
key, which the database never holds, tells a real event or signature from a forged one."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from checklist import audit, services
from checklist.level_check import content_hash, plan_content, signature_valid
from checklist.models import AnatomyRecord, AuditChainHead, AuditEvent, Case, PlanVersion, Signature
from tests.support.tamper import json_placeholder, sql, unlocked
from tests.support.workflow import Team, case_schedule, evidence_record

pytestmark = pytest.mark.django_db

EVENTS = AuditEvent._meta.db_table
RECORD_TABLES = (PlanVersion._meta.db_table, Signature._meta.db_table)


@pytest.fixture
def case(team: Team) -> Case:
    case = case_schedule(team)
    evidence_record(team, case)
    return case


def verify_json() -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("verify_audit", "--no-progress", "--json", stdout=out, stderr=io.StringIO())
    return int(exited.value.code or 0), json.loads(out.getvalue())


def descriptions(report: dict[str, Any]) -> list[str]:
    return [problem["description"] for problem in report["problems"]]


def forged_insert(case: Case, team: Team, *, action: str, after: dict[str, Any], mac: str = "") -> AuditEvent:
    """A plain INSERT of a made-up event at the end of the case's chain, with the chain hash
    computed exactly as the published algorithm says, and the chain head moved to it."""
    last = AuditEvent.objects.filter(case=case).order_by("-seq").first()
    assert last is not None
    forged = AuditEvent(
        chain=last.chain,
        seq=last.seq + 1,
        case_id=case.pk,
        at=last.at + dt.timedelta(seconds=3),
        actor_id=team.surgeon.pk,
        actor_username=team.surgeon.username,
        actor_name=team.surgeon.full_name,
        actor_role="surgeon",
        action=action,
        object_type="Signature",
        object_id="999",
        before=None,
        after=audit.jsonable(after),
        reason="",
        request_id="",
        client="",
        prev_hash=last.event_hash,
    )
    forged.event_hash = audit.event_hash(forged)
    columns = [*audit.HASHED_FIELDS, "event_hash"]
    values = [getattr(forged, name) for name in columns]
    values[columns.index("at")] = connection.ops.adapt_datetimefield_value(forged.at)
    values[columns.index("after")] = json.dumps(forged.after)
    placeholders = [json_placeholder() if name in ("before", "after") else "%s" for name in columns]
    values[columns.index("before")] = None
    extra_columns, extra_values = ([", mac, mac_key_id"], [mac, audit.audit_keys()[0].key_id]) if mac else ([""], [])
    sql(
        f"INSERT INTO {EVENTS} ({', '.join(columns)}{extra_columns[0]}) "  # noqa: S608
        f"VALUES ({', '.join(placeholders)}{', %s, %s' if mac else ''})",
        [*values, *extra_values],
    )
    sql(
        f"UPDATE {AuditChainHead._meta.db_table} SET last_seq = %s, last_hash = %s WHERE chain = %s",  # noqa: S608
        [forged.seq, forged.event_hash, forged.chain],
    )
    return AuditEvent.objects.get(chain=forged.chain, seq=forged.seq)


def named(event: AuditEvent) -> str:
    return f"chain {event.chain}, event #{event.seq} (id {event.pk}, action {event.action})"


def test_every_event_and_signature_carries_a_mac_with_the_current_key(case: Case) -> None:
    key_id = audit.audit_keys()[0].key_id
    events = list(AuditEvent.objects.all())
    assert events and all(len(e.mac) == 64 and e.mac_key_id == key_id for e in events)
    signature = Signature.objects.get(case=case)
    assert len(signature.mac) == 64 and signature.mac_key_id == key_id
    assert audit.signature_mac_valid(signature)
    code, report = verify_json()
    assert code == 0, report


@pytest.mark.parametrize(
    ("action", "after"),
    [
        ("signature.signed", {"meaning": "confirmed level", "content_hash": "ab" * 32}),
        ("step.attested", {"step": "time_out.level_confirmed", "role": "surgeon"}),
    ],
)
def test_a_forged_insert_with_a_correct_keyless_hash_is_named(case: Case, team: Team, action: str, after: dict) -> None:
    """As the application's own role: it may INSERT audit events, and the hash checks out."""
    forged = forged_insert(case, team, action=action, after=after)
    assert audit.event_hash(forged) == forged.event_hash  # the chain alone cannot tell
    code, report = verify_json()
    assert code == 1
    assert report["first_problem"]["description"] == f"{named(forged)}: {audit.EVENT_UNKEYED}"
    assert report["problem_count"] == 1


def test_a_forged_insert_with_a_made_up_mac_is_named(case: Case, team: Team) -> None:
    forged = forged_insert(case, team, action="signature.signed", after={"meaning": "x"}, mac="0f" * 32)
    code, report = verify_json()
    assert code == 1
    assert report["first_problem"]["description"] == f"{named(forged)}: {audit.EVENT_MAC_INVALID}"


def test_a_rewritten_unsealed_tail_is_named_even_with_every_hash_recomputed(case: Case) -> None:
    """An owner rewrites the last events after the last seal, recomputing each hash and link and
    the chain head, as the published algorithm allows: every rewritten event is named."""
    sealed_seq = audit.seal().heads[audit.case_chain(case.pk)][0]
    services.anatomy_record(actor=Case.objects.get(pk=case.pk).surgeon, case=case, thoracic=12, lumbar=5)
    tail = list(AuditEvent.objects.filter(case=case, seq__gt=sealed_seq).order_by("seq"))
    assert tail
    prev = AuditEvent.objects.get(case=case, seq=tail[0].seq - 1).event_hash
    with unlocked():
        for event in tail:
            event.reason = "rewritten"
            event.prev_hash = prev
            event.event_hash = audit.event_hash(event)
            sql(
                f"UPDATE {EVENTS} SET reason = %s, prev_hash = %s, event_hash = %s WHERE id = %s",  # noqa: S608
                [event.reason, event.prev_hash, event.event_hash, event.pk],
            )
            prev = event.event_hash
        sql(f"UPDATE {AuditChainHead._meta.db_table} SET last_hash = %s WHERE chain = %s", [prev, tail[0].chain])  # noqa: S608
    code, report = verify_json()
    assert code == 1
    assert descriptions(report) == [f"{named(event)}: {audit.EVENT_MAC_INVALID}" for event in tail]


def test_a_signed_plan_rewritten_and_its_signature_rehashed_shows_invalid(case: Case, team: Team, api_client) -> None:
    """Left L2 becomes right L3 in the plan; the signature's content and hash are recomputed to
    match. The content hashes agree again, but the signature's MAC does not."""
    plan = PlanVersion.objects.get(case=case, number=1)
    signature = plan.signature
    assert signature is not None and signature_valid(signature, plan_content(plan))
    plan.levels, plan.side = "L3", "right"
    content = plan_content(plan)
    with unlocked(RECORD_TABLES):
        sql("UPDATE checklist_planversion SET levels = %s, side = %s WHERE id = %s", ["L3", "right", plan.pk])
        sql(
            f"UPDATE checklist_signature SET content = {json_placeholder()}, content_hash = %s WHERE id = %s",  # noqa: S608
            [json.dumps(content), content_hash(content), signature.pk],
        )
    plan.refresh_from_db()
    signature.refresh_from_db()
    assert signature.content_hash == content_hash(plan_content(plan)) == content_hash(signature.content)
    assert not signature_valid(signature, plan_content(plan))

    api_client.force_authenticate(team.nurse)
    listed = api_client.get(f"/api/v1/cases/{case.pk}/signatures/").json()["results"]
    assert [s["valid"] for s in listed if s["id"] == signature.pk] == [False]
    # The next level check stops on it.
    services.anatomy_record(actor=team.radiographer, case=case, thoracic=12, lumbar=5)
    case.refresh_from_db()
    assert "PLAN_SIGNATURE_INVALID" in {f["code"] for f in case.latest_verdict.findings}


def test_a_signature_keyed_with_a_key_this_server_no_longer_holds_is_invalid(case: Case, settings) -> None:
    signature = Signature.objects.get(case=case)
    old = settings.AUDIT_KEY
    settings.AUDIT_KEY = "rotated-audit-key-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH"
    settings.AUDIT_KEY_FALLBACKS = [old]
    assert audit.signature_mac_valid(signature)
    settings.AUDIT_KEY_FALLBACKS = []
    assert not audit.signature_mac_valid(signature)


# --- the record against the trail (item 3) ------------------------------------------------------------


def test_a_plan_rewritten_in_the_table_is_named_with_table_row_field_and_event(case: Case) -> None:
    plan = PlanVersion.objects.get(case=case, number=1)
    created = AuditEvent.objects.get(case=case, action="plan.created", object_id=str(plan.pk))
    with unlocked(RECORD_TABLES):
        sql("UPDATE checklist_planversion SET levels = %s, side = %s WHERE id = %s", ["L3", "right", plan.pk])
    code, report = verify_json()
    assert code == 1
    found = descriptions(report)
    expected = (
        f"{named(created)}: checklist_planversion row {plan.pk}: levels is 'L3' but the latest audit event "
        "about it says 'L2' (the record was changed without the trail)"
    )
    assert expected in found
    assert any(f"row {plan.pk}: side is 'right'" in d for d in found)


@pytest.mark.parametrize(
    ("table", "column", "value", "field"),
    [
        ("checklist_consent", "levels", "L4", "levels"),
        ("checklist_sitemarking", "side", "right", "side"),
        ("checklist_preopimaging", "levels", "L4", "levels"),
        ("checklist_anatomyrecord", "lumbar", 6, "lumbar"),
        ("checklist_signature", "printed_name", "Dr Mallory", "printed_name"),
    ],
)
def test_evidence_and_signatures_rewritten_in_the_table_are_named(
    case: Case, table: str, column: str, value: Any, field: str
) -> None:
    row_id = sql_value(f"SELECT max(id) FROM {table} WHERE case_id = %s", [case.pk])  # noqa: S608
    with unlocked([table]):
        sql(f"UPDATE {table} SET {column} = %s WHERE id = %s", [value, row_id])  # noqa: S608
    code, report = verify_json()
    assert code == 1
    assert any(f"{table} row {row_id}: {field} is {value!r}" in d for d in descriptions(report)), report


def test_a_case_state_changed_in_the_table_is_named(case: Case) -> None:
    """The application role may UPDATE cases (their state moves); a state the trail never
    recorded is named."""
    sql("UPDATE checklist_case SET state = %s WHERE id = %s", ["completed", case.pk])
    code, report = verify_json()
    assert code == 1
    assert any(f"checklist_case row {case.pk}: state is 'completed' but" in d for d in descriptions(report)), report


def test_a_row_inserted_behind_the_applications_back_is_named(case: Case, team: Team) -> None:
    anatomy = AnatomyRecord.objects.filter(case=case).order_by("-id").first()
    assert anatomy is not None
    with unlocked([AnatomyRecord._meta.db_table]):
        sql(
            "INSERT INTO checklist_anatomyrecord (case_id, recorded_by_id, recorded_at, version, thoracic, lumbar, "
            "lowest_rib, lowest_mobile, source) VALUES (%s, %s, %s, 1, 12, 6, 'T12', 'L6', %s)",
            [
                case.pk,
                team.radiographer.pk,
                connection.ops.adapt_datetimefield_value(anatomy.recorded_at),
                anatomy.source,
            ],
        )
    new_id = sql_value("SELECT max(id) FROM checklist_anatomyrecord", [])
    code, report = verify_json()
    assert code == 1
    assert any(f"checklist_anatomyrecord row {new_id} has no audit event" in d for d in descriptions(report)), report


def sql_value(statement: str, params: list[Any]) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchone()[0]
