"""Test settings: fast hashing, in-memory e-mail, eager Celery unless a test runs a real worker."""

from __future__ import annotations

from pathlib import Path

from .base import *  # noqa: F403
from .base import DATABASES, VAR_DIR, env

DEBUG = False
SECRET_KEY = "test-secret-key-not-used-anywhere-else-0123456789abcdefghijklmnop"  # noqa: S105
AUDIT_KEY = "test-audit-key-not-used-anywhere-else-0123456789abcdefghijklmnopq"
AUDIT_KEY_FALLBACKS = []
# Time-stamping is off unless a test turns it on with the local TSA that scripts/test starts
# (RIGHTLEVEL_TEST_TSA_URL, tests/checklist/audit/test_audit_timestamps.py).
TSA_URL = ""
TSA_CERTIFICATE = ""
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# A fault test's worker sends through real SMTP (TEST_EMAIL_BACKEND, with EMAIL_URL) to a relay it runs.
EMAIL_BACKEND = env.str("TEST_EMAIL_BACKEND", default="django.core.mail.backends.locmem.EmailBackend")
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
# WhiteNoise's manifest storage fails on files the manifest does not know; tests use plain storage.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Celery reads its configuration once, so eager mode is decided here (tests that start a real
# worker set CELERY_EAGER=0 in the worker's environment).
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_EAGER", default=True)
CELERY_TASK_EAGER_PROPAGATES = True

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not ":memory:", so that a real worker process can open the same test database.
    # Named after the configured database, so two runs with different DATABASE_URLs never share it.
    _configured = Path(str(DATABASES["default"]["NAME"]))
    _folder = _configured.parent if _configured.is_absolute() else VAR_DIR
    DATABASES["default"]["TEST"] = {"NAME": str(_folder / f"test-{_configured.stem}.sqlite3")}

# Tests serve static files through the finders; no collected folder (which WhiteNoise warns about).
STATIC_ROOT = None  # type: ignore[assignment]
WHITENOISE_USE_FINDERS = True
