"""The tablet's service worker (issue 18): served at /sw.js so that its scope is the whole site.

The worker's own code is static/js/sw.js; this view only prepends what changes with the deployment:
the vendored Workbox modules and the app shell to precache, each by its ``{% static %}`` URL (the
hashed name under WhiteNoise's manifest storage), with a content hash as the precache revision.
The offline level check is precached too: Pyodide's files (by their plain names, which its loader
asks for) and the engine's own modules (``/offline/level-engine.zip``, see levelverify.bundle)."""

from __future__ import annotations

import hashlib
import json
from functools import cache

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse
from django.templatetags.static import static
from django.urls import reverse
from django.views import View

from levelverify.bundle import engine_bundle, engine_bundle_revision

# In dependency order: each module's IIFE build needs workbox.core (and precaching needs routing
# and strategies) to be loaded before it.
WORKBOX_MODULES = ("core", "routing", "strategies", "expiration", "precaching")
APP_SHELL = (
    "css/rightlevel.css",
    "js/session-timeout.js",
    "js/drafts.js",
    "js/case-live.js",
    "js/wristband.js",
    "js/offline.js",
    "js/offline-queue-schema.js",
    "vendor/idb/umd.js",
    "django_htmx/htmx-2.min.js",
    "js/level-engine.js",
    "js/level-engine-worker.js",
)
# Pyodide's loader fetches these by name from its folder (indexURL): precached under those names.
PYODIDE_FILES = ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json")
PYODIDE_DIR = "vendor/pyodide/"


@cache
def _revision(path: str) -> str | None:
    found = finders.find(path)
    if not found:
        return None
    with open(found, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()[:16]


def service_worker_script() -> str:
    modules = [static(f"vendor/workbox/workbox-{name}.prod.js") for name in WORKBOX_MODULES]
    modules += [static("vendor/idb/umd.js"), static("js/offline-queue-schema.js")]
    shell = [{"url": static(path), "revision": _revision(path)} for path in APP_SHELL if _revision(path)]
    shell += [
        {"url": settings.STATIC_URL + PYODIDE_DIR + name, "revision": _revision(PYODIDE_DIR + name)}
        for name in PYODIDE_FILES
        if _revision(PYODIDE_DIR + name)
    ]
    shell.append({"url": reverse("level-engine"), "revision": engine_bundle_revision()})
    return (
        f"importScripts({', '.join(json.dumps(url) for url in modules)});\n"
        f"self.RIGHTLEVEL_PRECACHE = {json.dumps(shell)};\n"
        f"importScripts({json.dumps(static('js/sw.js'))});\n"
    )


class ServiceWorkerView(View):
    """GET /sw.js: no login (the login page registers it too), never cached by HTTP so that a new
    deployment's worker is picked up on the next visit."""

    def get(self, request: HttpRequest) -> HttpResponse:
        response = HttpResponse(service_worker_script(), content_type="text/javascript; charset=utf-8")
        response["Service-Worker-Allowed"] = "/"
        response["Cache-Control"] = "no-cache"
        return response


class LevelEngineView(View):
    """GET /offline/level-engine.zip: the level check's pure modules for the tablet's offline
    verdict. Code only, no patient data: no login (the service worker precaches it at install)."""

    def get(self, request: HttpRequest) -> HttpResponse:
        response = HttpResponse(engine_bundle(), content_type="application/zip")
        response["Cache-Control"] = "no-cache"
        response["ETag"] = f'"{engine_bundle_revision()}"'
        return response
