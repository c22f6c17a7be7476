"""Production settings served over plain HTTP on 127.0.0.1, for the benchmarks and the load test.

Everything else is ``config.settings.production`` (PBKDF2 passwords, manifest static files,
persistent PostgreSQL connections, DEBUG off): the figures are the ones a deployment would show,
minus the TLS that a reverse proxy terminates in front of it. Never deployed.
"""

from __future__ import annotations

import os

os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")

from config.settings.production import *  # noqa: F403
from config.settings.production import env

SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "bench.urls"
# bench/run collects the static files here (the manifest storage needs them, as in production).
STATIC_ROOT = env.str("BENCH_STATIC_ROOT", default=str(BASE_DIR / "var" / "bench-static"))  # noqa: F405
