"""``hide_names`` also hides reminder recipients and new users' names, e-mail addresses and
usernames in the audit export (issue 14, item 7)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from checklist.access import roles
from checklist.models import AuditEvent
from checklist.reminders.sync import reminders_sweep
from checklist.services import user_create
from quality.selectors import HIDDEN_NAME
from tests.support.workflow import case_schedule, team_create

pytestmark = pytest.mark.django_db


def test_hide_names_hides_reminder_recipients_and_new_users(client) -> None:
    team = team_create()
    user_create(username="newhire", full_name="Nadia Newhire", password="x-Secret-123", email="nadia@x.invalid",
                role_names=[roles.NURSE], actor=team.admin)  # fmt: skip
    case_schedule(team, scheduled_start=timezone.now() + dt.timedelta(minutes=30))
    assert reminders_sweep().sent
    sent = AuditEvent.objects.filter(action="reminder.sent")
    assert sent.exists() and all(e.after["recipient"] for e in sent)
    assert AuditEvent.objects.filter(action="user.created", after__full_name="Nadia Newhire").exists()

    client.force_login(team.quality)
    today = timezone.localdate().isoformat()
    response = client.get(reverse("quality-export-csv", args=["audit-events"]),
                          {"date_from": today, "date_to": today, "hide_names": "1"})  # fmt: skip
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert any(r["action"] == "reminder.sent" for r in rows) and any(r["action"] == "user.created" for r in rows)
    # A username as a JSON value inside a CSV cell reads : ""name"" (a key of the same word may stay).
    for secret in ("Nadia Newhire", "nadia@x.invalid", ': ""newhire""', f': ""{team.surgeon.username}""',
                   ',newhire,', f",{team.surgeon.username},", team.surgeon.full_name):  # fmt: skip
        assert secret not in text, secret
    assert HIDDEN_NAME in text
    # Without hide_names the register is complete.
    full = client.get(reverse("quality-export-csv", args=["audit-events"]), {"date_from": today, "date_to": today})
    assert "Nadia Newhire" in b"".join(full.streaming_content).decode()
