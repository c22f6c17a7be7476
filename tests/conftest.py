"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from checklist.access import roles
from checklist.models import User
from tests.support.factories import TEST_PASSWORD, UserFactory
from tests.support.workflow import Team, team_create


@pytest.fixture
def password() -> str:
    return TEST_PASSWORD


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    def make(role: str | None = roles.NURSE, **kwargs: object) -> User:
        return UserFactory(roles=[role] if role else [], **kwargs)

    return make


@pytest.fixture
def nurse(make_user: Callable[..., User]) -> User:
    return make_user(roles.NURSE, username="nurse1", full_name="Nina Nurse")


@pytest.fixture
def surgeon(make_user: Callable[..., User]) -> User:
    return make_user(roles.SURGEON, username="surgeon1", full_name="Dr. Sid Surgeon")


@pytest.fixture
def team(db: None) -> Team:
    """A room with its nurse, anesthesia and radiographer, a surgeon, a quality officer and an
    administrator (tests/support/workflow.py)."""
    return team_create()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def nurse_api(api_client: APIClient, nurse: User) -> APIClient:
    api_client.force_authenticate(nurse)
    return api_client


@pytest.fixture
def redis_url() -> str:
    """A real Redis started by scripts/test. Fails (never skips) when it is missing."""
    url = os.environ.get("RIGHTLEVEL_TEST_REDIS_URL")
    if not url:
        pytest.fail("RIGHTLEVEL_TEST_REDIS_URL is not set: run the suite with scripts/test, which starts Redis")
    return url


def _protected_tables() -> list[str]:
    """Tables whose triggers refuse a flush: the audit trail and the append-only clinical records."""
    from checklist.audit.db_roles import APPEND_ONLY_TABLES, record_rules

    return [*APPEND_ONLY_TABLES, *record_rules()]


def _flush_around_audit_triggers() -> None:
    """Transactional tests end with a flush: DELETE FROM every table on SQLite, TRUNCATE on
    PostgreSQL. The append-only triggers (rightly) refuse both, and on PostgreSQL the application
    role may not TRUNCATE at all. Test-only: the flush runs as the owner (``RESET ROLE``) with the
    tables' triggers disabled, then everything is put back."""
    import importlib

    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    if engine.endswith("sqlite3"):
        from django.db.backends.sqlite3 import base  # noqa: F401 - import order: base before operations
        from django.db.backends.sqlite3.operations import DatabaseOperations

        modules = [
            importlib.import_module("checklist.migrations.0004_audit_append_only_triggers"),
            importlib.import_module("checklist.migrations.0013_issue13_append_only_records"),
            importlib.import_module("checklist.migrations.0016_adverse_events_append_only"),
            importlib.import_module("checklist.migrations.0019_issue17_wristband"),
            importlib.import_module("imaging.migrations.0003_append_only"),
            importlib.import_module("imaging.migrations.0004_second_read"),
            importlib.import_module("interfaces.migrations.0004_inbound_message_append_only"),
        ]
        original = DatabaseOperations.execute_sql_flush

        def execute_sql_flush(self: DatabaseOperations, sql_list: list[str]) -> None:
            with self.connection.schema_editor(atomic=False) as editor:
                for module in modules:
                    module.drop_triggers(None, editor)
            try:
                original(self, sql_list)
            finally:
                with self.connection.schema_editor(atomic=False) as editor:
                    for module in modules:
                        module.create_triggers(None, editor)

    elif engine.endswith("postgresql"):
        from django.db.backends.postgresql import base as pg_base  # noqa: F401
        from django.db.backends.postgresql.operations import DatabaseOperations  # type: ignore[assignment]

        original = DatabaseOperations.execute_sql_flush

        def execute_sql_flush(self: DatabaseOperations, sql_list: list[str]) -> None:
            role = self.connection.settings_dict.get("OPTIONS", {}).get("assume_role")
            tables = _protected_tables()
            with self.connection.cursor() as cursor:
                if role:
                    cursor.execute("RESET ROLE")
                for table in tables:
                    cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            try:
                original(self, sql_list)
            finally:
                with self.connection.cursor() as cursor:
                    for table in tables:
                        cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
                    if role:
                        cursor.execute(f"SET ROLE {self.quote_name(role)}")

    else:
        return
    DatabaseOperations.execute_sql_flush = execute_sql_flush  # type: ignore[method-assign]


_flush_around_audit_triggers()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """On PostgreSQL with DATABASE_APP_ROLE (scripts/test): the owner role created the test
    database and ran the migrations (which granted the application role its privileges); from
    here on every connection runs as the application role (``SET ROLE``), worker processes too."""
    from django.conf import settings
    from django.db import connections

    role = settings.DATABASE_APP_ROLE
    database = settings.DATABASES["default"]
    if not role or not database["ENGINE"].endswith("postgresql"):
        yield
        return
    database.setdefault("OPTIONS", {})["assume_role"] = role
    os.environ["DATABASE_ASSUME_ROLE"] = role
    connections.close_all()
    try:
        yield
    finally:
        database["OPTIONS"].pop("assume_role", None)
        os.environ.pop("DATABASE_ASSUME_ROLE", None)
        connections.close_all()
