"""A paging webhook with no secret is refused at start-up instead of signing with an empty key."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from checklist.reminders.delivery import webhook_post
from tests.support.celery_worker import REPO

START = "import django; django.setup(); print('started')"


def _start(**env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("REMINDER_WEBHOOK")}
    environment.update(DJANGO_SETTINGS_MODULE="config.settings.test", **env)
    return subprocess.run([sys.executable, "-c", START], cwd=REPO, env=environment, capture_output=True, text=True,
                          timeout=60)  # fmt: skip


def test_a_webhook_url_without_a_secret_refuses_to_start() -> None:
    refused = _start(REMINDER_WEBHOOK_URL="http://127.0.0.1:9/page")
    assert refused.returncode != 0
    assert "ImproperlyConfigured" in refused.stderr and "REMINDER_WEBHOOK_SECRET" in refused.stderr
    assert _start(REMINDER_WEBHOOK_URL="http://127.0.0.1:9/page", REMINDER_WEBHOOK_SECRET="k").returncode == 0
    assert _start().returncode == 0  # no webhook: no secret needed


def test_sending_with_an_empty_secret_is_refused(settings) -> None:
    from django.core.exceptions import ImproperlyConfigured

    settings.RIGHTLEVEL_WEBHOOK_SECRET = ""
    with pytest.raises(ImproperlyConfigured):
        webhook_post("http://127.0.0.1:9/page", {"event": "x"}, idempotency_key="k")
