"""Least-privilege database roles and append-only clinical records (issue 13, item 1).

On PostgreSQL the suite runs as the application role (tests/conftest.py): these tests show what
that role cannot do to the audit trail, the signatures, the plan versions and the evidence, and
what the triggers still refuse the owner. On SQLite (no roles) the trigger tests run too."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from checklist import audit, services
from checklist.audit import db_roles
from checklist.models import (
    AdverseEvent,
    AnatomyRecord,
    AuditEvent,
    AuditSeal,
    AuditSealTimestamp,
    Case,
    Consent,
    LevelVerdict,
    Localization,
    PlanVersion,
    PreopImaging,
    Signature,
    SiteMarking,
    StepAttestation,
)
from tests.support.factories import TEST_PASSWORD
from tests.support.tamper import app_role, as_owner, current_role, sql
from tests.support.workflow import (
    Team,
    case_schedule,
    case_through_localization,
    case_through_time_out,
    evidence_record,
)

pytestmark = pytest.mark.django_db

PROTECTED = [
    AuditEvent,
    AuditSeal,
    AuditSealTimestamp,
    Signature,
    PlanVersion,
    Consent,
    SiteMarking,
    PreopImaging,
    AnatomyRecord,
    Localization,
    StepAttestation,
    LevelVerdict,
    AdverseEvent,  # recorded only after a wrong-level treatment: its own test below
]
TABLES = [model._meta.db_table for model in PROTECTED]


@pytest.fixture
def case(team: Team) -> Case:
    case = case_schedule(team)
    evidence_record(team, case)
    audit.seal()
    return case


def refused(statement: str, params: Any = ()) -> str:
    """Run ``statement`` in a savepoint; return the database's refusal (fails if it succeeds)."""
    with pytest.raises(DatabaseError) as caught, transaction.atomic():
        sql(statement, params)
    return str(caught.value)


# --- the application role (PostgreSQL) --------------------------------------------------------------

postgres = pytest.mark.postgres


@postgres
def test_the_suite_runs_as_an_application_role_that_is_no_superuser_and_owns_nothing(case: Case) -> None:
    role = app_role()
    assert role and role == settings.DATABASE_APP_ROLE
    assert current_role() == role
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolbypassrls FROM pg_roles WHERE rolname = %s", [role]
        )
        assert cursor.fetchone() == (False, False, False, False)
        cursor.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = %s", [role])
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        assert cursor.fetchone()[0] > 20


@postgres
@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE {table} SET id = id",
        "DELETE FROM {table}",
        "TRUNCATE {table} CASCADE",
        "ALTER TABLE {table} DISABLE TRIGGER USER",
        "ALTER TABLE {table} DISABLE TRIGGER ALL",
        "DROP TRIGGER {table}_append_only ON {table}",
        "ALTER TABLE {table} OWNER TO CURRENT_USER",
        "CREATE TRIGGER {table}_x BEFORE UPDATE ON {table} EXECUTE FUNCTION suppress_redundant_updates_trigger()",
    ],
    ids=["update", "delete", "truncate", "disable-trigger", "disable-all", "drop-trigger", "take-ownership", "trigger"],
)
def test_the_application_role_cannot_rewrite_or_unprotect_the_record(case: Case, table: str, statement: str) -> None:
    message = refused(statement.format(table=table))
    assert "permission denied" in message or "must be owner" in message, message


@postgres
def test_the_application_role_cannot_switch_off_triggers_for_its_session(case: Case) -> None:
    message = refused("SET session_replication_role = replica")
    assert "permission denied" in message, message
    assert "permission denied" in refused("SET LOCAL session_replication_role = replica")
    assert "permission denied" in refused("ALTER ROLE CURRENT_USER SET session_replication_role = replica")


@postgres
@pytest.mark.parametrize(
    ("model", "column"),
    [
        (PlanVersion, "levels"),
        (PlanVersion, "side"),
        (Signature, "content_hash"),
        (Signature, "mac"),
        (Consent, "levels"),
        (Localization, "count"),
        (StepAttestation, "user_id"),
    ],
)
def test_the_application_role_may_update_only_the_columns_that_move(case: Case, model: Any, column: str) -> None:
    table = model._meta.db_table
    message = refused(f"UPDATE {table} SET {column} = {column}")  # noqa: S608
    assert "permission denied" in message, message


@postgres
def test_the_application_role_logging_in_directly_has_the_same_limits(case: Case) -> None:
    """Production connects as the application role (no SET ROLE to undo): the same refusals, from
    a real login."""
    import psycopg

    url = os.environ.get("DATABASE_APP_URL")
    if not url:
        pytest.fail("DATABASE_APP_URL is not set: run the suite with scripts/test, which creates the roles")
    params = connection.settings_dict
    with psycopg.connect(url, dbname=params["NAME"], autocommit=True) as direct:
        assert direct.execute("SELECT session_user, current_user").fetchone() == (app_role(), app_role())
        # (the test's own rows are not committed, so this session sees none; reading is allowed)
        assert direct.execute("SELECT count(*) FROM checklist_audit_event").fetchone()[0] >= 0
        direct.execute("INSERT INTO checklist_room (name) VALUES ('direct-login') RETURNING id")
        direct.execute("DELETE FROM checklist_room WHERE name = 'direct-login'")
        direct.execute("RESET ROLE")
        assert direct.execute("SELECT current_user").fetchone() == (app_role(),)
        for statement in (
            "UPDATE checklist_audit_event SET reason = reason",
            "DELETE FROM checklist_signature",
            "TRUNCATE checklist_planversion CASCADE",
            "ALTER TABLE checklist_audit_event DISABLE TRIGGER USER",
            "DROP TRIGGER checklist_consent_append_only ON checklist_consent",
            "SET session_replication_role = replica",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                direct.execute(statement)


@postgres
def test_grants_cover_every_table_and_the_command_refuses_without_the_owner(case: Case) -> None:
    statements = db_roles.grant_statements(connection, app_role())
    assert f'GRANT SELECT, INSERT ON "checklist_audit_event" TO "{app_role()}"' in statements
    assert not any("TRUNCATE" in s or "REFERENCES" in s or " TRIGGER" in s for s in statements)
    # As the application role nothing can be granted (it owns nothing).
    assert db_roles.grants_apply() == 0


# --- the triggers, for the owner too (both engines) ---------------------------------------------------


def _localize(team: Team, case: Case) -> Localization:
    return services.localization_record(
        actor=team.radiographer,
        case=case,
        phase="pre_incision",
        reference="sacrum",
        count=4,
        label="L2",
        marker_in_place=True,
        read_by=team.surgeon,
    )


@pytest.mark.parametrize("model", PROTECTED[3:-1], ids=lambda m: m.__name__)
def test_clinical_records_cannot_be_deleted_even_by_the_owner(team: Team, case: Case, model: Any) -> None:
    case_through_time_out(team, case)
    _localize(team, case)
    assert model.objects.exists()
    with as_owner():
        message = refused(f"DELETE FROM {model._meta.db_table}")  # noqa: S608
    assert "append-only" in message, message


def test_a_recorded_wrong_level_treatment_cannot_be_rewritten_or_deleted_even_by_the_owner(
    team: Team, case: Case
) -> None:
    case = case_through_localization(team, case)
    services.treated_levels_record(actor=team.nurse, case=case, levels="L3")
    event = services.adverse_event_record(
        actor=team.surgeon, case=case, statement="L3 was treated, not L2.", password=TEST_PASSWORD, username="surgeon"
    )
    table = AdverseEvent._meta.db_table
    with as_owner():
        for statement in (
            f"UPDATE {table} SET treated_levels = 'L2' WHERE id = %s",  # noqa: S608
            f"UPDATE {table} SET statement = 'Nothing happened.' WHERE id = %s",  # noqa: S608
            f"DELETE FROM {table} WHERE id = %s",  # noqa: S608
        ):
            assert "append-only" in refused(statement, [event.pk])
    assert AdverseEvent.objects.get(pk=event.pk).treated_levels == "L3"


@pytest.mark.parametrize(
    ("model", "column", "value"),
    [
        (PlanVersion, "levels", "L3"),
        (PlanVersion, "side", "right"),
        (PlanVersion, "created_at", "2020-01-01 00:00:00+00:00"),
        (Signature, "content_hash", "0" * 64),
        (Signature, "printed_name", "Someone Else"),
        (Consent, "levels", "L3"),
        (SiteMarking, "side", "right"),
        (PreopImaging, "levels", "L3"),
        (AnatomyRecord, "lumbar", 6),
        (LevelVerdict, "verdict", "pass"),
    ],
)
def test_an_update_of_a_fixed_column_is_refused_even_for_the_owner(
    case: Case, model: Any, column: str, value: Any
) -> None:
    row = model.objects.filter(case=case).order_by("id").first()
    assert row is not None
    with as_owner(), pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        model.objects.filter(pk=row.pk).update(**{column: value})


def test_link_columns_are_set_once_and_never_changed(case: Case) -> None:
    plan = PlanVersion.objects.get(case=case, number=1)
    assert plan.signature_id is not None and plan.superseded_at is None
    with as_owner():
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            PlanVersion.objects.filter(pk=plan.pk).update(signature=None)
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            PlanVersion.objects.filter(pk=plan.pk).update(signed_at=timezone.now() + dt.timedelta(days=1))
    # superseded_at is set once (what plan_revise does) ...
    at = timezone.now()
    PlanVersion.objects.filter(pk=plan.pk).update(superseded_at=at)
    # ... and never moved or cleared afterwards.
    with pytest.raises(DatabaseError), transaction.atomic():
        PlanVersion.objects.filter(pk=plan.pk).update(superseded_at=None)
    with pytest.raises(DatabaseError), transaction.atomic():
        PlanVersion.objects.filter(pk=plan.pk).update(superseded_at=at + dt.timedelta(hours=1))


def test_the_durable_mark_only_goes_from_false_to_true(team: Team, case: Case) -> None:
    case_through_time_out(team, case)
    image = _localize(team, case)
    assert not image.durable_mark_placed
    services.localization_mark_durable(actor=team.surgeon, case=case, localization_id=image.pk)
    with pytest.raises(DatabaseError), transaction.atomic():
        Localization.objects.filter(pk=image.pk).update(durable_mark_placed=False)
    with pytest.raises(DatabaseError), transaction.atomic():
        Localization.objects.filter(pk=image.pk).update(version=1)


def test_every_protected_table_has_its_triggers(case: Case) -> None:
    """A later migration that rebuilds one of these tables on SQLite (AddField does) drops its
    triggers: it must put them back, as 0008 and 0009 do for the audit tables."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT c.relname, count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE NOT t.tgisinternal GROUP BY c.relname"
            )
        else:
            cursor.execute("SELECT tbl_name, count(*) FROM sqlite_master WHERE type = 'trigger' GROUP BY tbl_name")
        counts = dict(cursor.fetchall())
    for table in TABLES:
        assert counts.get(table, 0) >= 2, f"{table} lost its append-only triggers"
