"""What the application discloses (issue 14, item 7): a Permissions-Policy on every response,
the sign form's passwords neither autofilled nor reported, the demo settings without DEBUG."""

from __future__ import annotations

import os
import subprocess
import sys
from unittest import mock

import pytest
from django.test import Client, RequestFactory
from django.views.debug import SafeExceptionReporterFilter

from core.middleware import PERMISSIONS_POLICY
from tests.security.conftest import World
from tests.support.celery_worker import REPO
from tests.support.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db


def test_every_response_has_a_permissions_policy(world: World) -> None:
    browser = Client()
    assert browser.get("/login/")["Permissions-Policy"] == PERMISSIONS_POLICY
    assert browser.get("/healthz")["Permissions-Policy"] == PERMISSIONS_POLICY
    browser.force_login(world.team.nurse)
    page = browser.get(f"/cases/{world.case.pk}/")
    assert page["Permissions-Policy"] == PERMISSIONS_POLICY
    assert "camera=()" in PERMISSIONS_POLICY and "geolocation=()" in PERMISSIONS_POLICY


def test_the_sign_forms_passwords_are_not_autofilled_nor_reported(world: World) -> None:
    import re

    from checklist.views import CaseActionView
    from tests.support.workflow import case_schedule, evidence_record

    unsigned = case_schedule(world.team)
    evidence_record(world.team, unsigned, sign=False)
    browser = Client()
    browser.force_login(world.team.surgeon)
    html = browser.get(f"/cases/{unsigned.pk}/").content.decode()
    passwords = re.findall(r"<input[^>]*type=\"password\"[^>]*>", html)
    assert passwords, "the case page has a signing form"
    for field in passwords:
        assert 'autocomplete="off"' in field, field
    # A sign request that fails unexpectedly is reported without the password.
    request = RequestFactory().post("/x", {"sign-password": TEST_PASSWORD, "sign-username": "surgeon"})
    request.user = world.team.surgeon
    with (
        mock.patch("checklist.views._visible_case_or_404", side_effect=RuntimeError("unexpected")),
        pytest.raises(RuntimeError),
    ):
        CaseActionView().post(request, world.case.pk, "sign")
    reported = SafeExceptionReporterFilter().get_post_parameters(request)
    assert reported["sign-password"] != TEST_PASSWORD
    assert reported["sign-username"] == "surgeon"


def test_the_demo_settings_run_without_debug_unless_asked() -> None:
    def debug(**env: str) -> str:
        environment = {k: v for k, v in os.environ.items() if k != "DEBUG"}
        environment.update(DJANGO_SETTINGS_MODULE="config.settings.local", **env)
        code = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
        result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=environment, capture_output=True,
                                text=True, timeout=60, check=True)  # fmt: skip
        return result.stdout.strip()

    assert debug() == "False"
    assert debug(DEBUG="1") == "True"
