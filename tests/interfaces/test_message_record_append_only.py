"""The messages received are append-only (interfaces migration 0004): the application's database
role cannot rewrite or delete one; only the columns that move, and only as they may move (a held
message gets its outcome once, the raw text is only blanked), change. The trigger tests run on
SQLite and PostgreSQL; the privilege tests on PostgreSQL, where the suite runs as the app role."""

# ruff: noqa: S608 - the statements name one fixed table: the test tampers with it on purpose
from __future__ import annotations

import datetime as dt

import pytest
from django.db import DatabaseError, transaction
from django.utils import timezone

from checklist.access import roles
from checklist.audit import db_roles
from checklist.models import Room
from interfaces import services
from interfaces.models import InboundMessage, MessageStatus, ServiceCodeMapping
from interfaces.samples import siu
from tests.support.factories import UserFactory
from tests.support.tamper import as_owner, sql

pytestmark = pytest.mark.django_db
TABLE = "interfaces_inboundmessage"


def tomorrow(hour: int = 8) -> dt.datetime:
    day = timezone.localtime() + dt.timedelta(days=1)
    return day.replace(hour=hour, minute=0, second=0, microsecond=0, tzinfo=None)


@pytest.fixture
def applied(db: None) -> InboundMessage:
    Room.objects.get_or_create(name="OR 1")
    UserFactory(username="surgeon", roles=[roles.SURGEON])
    UserFactory(username="anesthesia", roles=[roles.ANESTHESIA])
    ServiceCodeMapping.objects.create(code="SNRB-L", procedure="selective_nerve_root_block")
    services.message_receive(raw=siu("S12", control_id="C1", appointment_id="A1", start=tomorrow()).encode())
    return InboundMessage.objects.get(control_id="C1")


def refused(statement: str, params: tuple = ()) -> str:
    with pytest.raises(DatabaseError) as caught, transaction.atomic():
        sql(statement, params)
    return str(caught.value)


@pytest.mark.parametrize(
    "statement",
    [
        f"UPDATE {TABLE} SET raw = 'MSH|forged' WHERE id = %s",
        f"UPDATE {TABLE} SET control_id = 'OTHER' WHERE id = %s",
        f"UPDATE {TABLE} SET received_at = '2000-01-01 00:00:00+00:00' WHERE id = %s",
        f"UPDATE {TABLE} SET status = 'error' WHERE id = %s",
        f"UPDATE {TABLE} SET error = 'rewritten' WHERE id = %s",
        f"UPDATE {TABLE} SET case_id = NULL WHERE id = %s",
        f"UPDATE {TABLE} SET attempts = 0 WHERE id = %s",
        f"DELETE FROM {TABLE} WHERE id = %s",
    ],
    ids=["raw", "control-id", "received-at", "status", "error", "case", "attempts-down", "delete"],
)
def test_an_applied_message_cannot_be_rewritten_or_deleted_even_by_the_owner(applied, statement) -> None:
    with as_owner():
        message = refused(statement, (applied.pk,))
    assert "append-only" in message, message
    fresh = InboundMessage.objects.get(pk=applied.pk)
    assert (fresh.raw, fresh.control_id, fresh.status) == (applied.raw, "C1", MessageStatus.APPLIED)


def test_the_updates_the_interface_makes_are_allowed(applied) -> None:
    # A held message gets its outcome (once), attempts go up, the raw text is blanked (retention).
    services.message_receive(raw=siu("S13", control_id="H1", appointment_id="A9", start=tomorrow(9)).encode())
    held = InboundMessage.objects.get(control_id="H1")
    assert held.status == MessageStatus.HELD
    assert sql(f"UPDATE {TABLE} SET attempts = attempts + 1 WHERE id = %s", (held.pk,)) == 1
    assert sql(f"UPDATE {TABLE} SET status = 'error', error = 'x' WHERE id = %s", (held.pk,)) == 1
    assert "append-only" in refused(f"UPDATE {TABLE} SET status = 'held' WHERE id = %s", (held.pk,))
    assert sql(f"UPDATE {TABLE} SET raw = '' WHERE id = %s", (applied.pk,)) == 1
    assert "append-only" in refused(f"UPDATE {TABLE} SET raw = 'MSH|back' WHERE id = %s", (applied.pk,))


def test_the_grants_name_exactly_the_columns_that_move() -> None:
    rules = db_roles.record_rules()[TABLE]
    assert set(rules) == {"status", "error", "error_location", "processed_at", "case_id", "reprocessed_as_id",
                          "attempts", "raw"}  # fmt: skip


@pytest.mark.postgres
@pytest.mark.parametrize(
    "statement",
    [
        f"UPDATE {TABLE} SET control_id = control_id",
        f"UPDATE {TABLE} SET sending_facility = sending_facility",
        f"UPDATE {TABLE} SET received_at = received_at",
        f"DELETE FROM {TABLE}",
        f"TRUNCATE {TABLE} CASCADE",
        f"ALTER TABLE {TABLE} DISABLE TRIGGER USER",
        f"DROP TRIGGER {TABLE}_append_only ON {TABLE}",
    ],
    ids=["control-id", "facility", "received-at", "delete", "truncate", "disable-trigger", "drop-trigger"],
)
def test_the_application_role_may_not_update_fixed_columns_delete_or_unprotect(applied, statement) -> None:
    from tests.support.tamper import app_role

    assert app_role(), "the suite must run as the application role (scripts/test)"
    message = refused(statement)
    assert "permission denied" in message or "must be owner" in message, message
