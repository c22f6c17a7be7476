"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from checklist import roles
from checklist.models import User
from tests.factories import TEST_PASSWORD, UserFactory


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


def _flush_around_audit_triggers() -> None:
    """Transactional tests end with a flush: DELETE FROM every table on SQLite, TRUNCATE on
    PostgreSQL. The audit triggers (rightly) refuse both. Test-only: lift the triggers for the
    flush, then put them back."""
    import importlib

    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    if engine.endswith("sqlite3"):
        from django.db.backends.sqlite3 import base  # noqa: F401 - import order: base before operations
        from django.db.backends.sqlite3.operations import DatabaseOperations

        triggers = importlib.import_module("checklist.migrations.0004_audit_append_only_triggers")
        drop, create = triggers.drop_triggers, triggers.create_triggers
    elif engine.endswith("postgresql"):
        from django.db.backends.postgresql import base as pg_base  # noqa: F401
        from django.db.backends.postgresql.operations import DatabaseOperations  # type: ignore[assignment]

        triggers = importlib.import_module("checklist.migrations.0007_audit_truncate_trigger")
        drop, create = triggers.drop_truncate_triggers, triggers.create_truncate_triggers
    else:
        return
    original = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self: DatabaseOperations, sql_list: list[str]) -> None:
        with self.connection.schema_editor(atomic=False) as editor:
            drop(None, editor)
        try:
            original(self, sql_list)
        finally:
            with self.connection.schema_editor(atomic=False) as editor:
                create(None, editor)

    DatabaseOperations.execute_sql_flush = execute_sql_flush  # type: ignore[method-assign]


_flush_around_audit_triggers()
