"""The service worker script (issue 18): served at /sw.js for the whole site, never HTTP-cached,
loading the vendored Workbox modules and idb by their static URLs and precaching the app shell,
Pyodide and the level engine's own modules (the offline verdict)."""

from __future__ import annotations

import json
import re

import pytest
from django.conf import settings
from django.templatetags.static import static

from checklist.offline_views import APP_SHELL, PYODIDE_FILES, WORKBOX_MODULES
from levelverify.bundle import engine_bundle_revision

pytestmark = pytest.mark.django_db


def test_the_service_worker_is_served_for_the_whole_site_and_never_cached(client) -> None:
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Service-Worker-Allowed"] == "/"
    assert "no-cache" in response["Cache-Control"] or "no-store" in response["Cache-Control"]


def test_it_loads_workbox_and_idb_from_our_own_static_files_and_precaches_the_shell(client) -> None:
    script = client.get("/sw.js").content.decode()
    for name in WORKBOX_MODULES:
        assert static(f"vendor/workbox/workbox-{name}.prod.js") in script
    assert static("vendor/idb/umd.js") in script
    assert script.rstrip().endswith(f'importScripts("{static("js/sw.js")}");')
    precache = json.loads(re.search(r"self\.RIGHTLEVEL_PRECACHE = (\[.*?\]);", script)[1])
    pyodide = {f"{settings.STATIC_URL}vendor/pyodide/{name}" for name in PYODIDE_FILES}
    assert {entry["url"] for entry in precache} == {static(path) for path in APP_SHELL} | pyodide | {
        "/offline/level-engine.zip"
    }
    engine = next(entry for entry in precache if entry["url"] == "/offline/level-engine.zip")
    assert engine["revision"] == engine_bundle_revision()
    assert all(entry["revision"] for entry in precache)
    assert "https://" not in script and "http://" not in script
