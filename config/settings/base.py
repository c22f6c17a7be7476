"""Settings shared by every environment. Values come from the environment (django-environ).

Every variable read here is listed in the README's "Configuration" section.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(environ.Env().str("RIGHTLEVEL_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env.str("SECRET_KEY", default="insecure-local-development-key-change-me")
# The key audit events, signatures and seals are keyed with (checklist/audit.py). It never reaches
# the database. Rotate it by moving the old value to AUDIT_KEY_FALLBACKS. Unset (development only),
# keys are derived from SECRET_KEY as seals were before AUDIT_KEY existed.
AUDIT_KEY = env.str("AUDIT_KEY", default="")
AUDIT_KEY_FALLBACKS: list[str] = env.list("AUDIT_KEY_FALLBACKS", default=[])
# RFC 3161 time-stamps of the audit seals (checklist/audit/timestamps.py, docs/audit.md "Time-stamps").
# TSA_URL: the time-stamping authority (empty: time-stamping off, and verify_audit says so).
# TSA_CERTIFICATE: a PEM file with the TSA's certificate and the CA chain it is verified against.
TSA_URL = env.str("TSA_URL", default="")
TSA_CERTIFICATE = env.str("TSA_CERTIFICATE", default="")
TSA_TIMEOUT_SECONDS = env.float("TSA_TIMEOUT_SECONDS", default=10.0)
# A seal not time-stamped within this many hours is named by verify_audit: until its token exists
# someone holding the database and AUDIT_KEY could rewrite what it covers.
TSA_STAMP_WITHIN_HOURS = env.float("TSA_STAMP_WITHIN_HOURS", default=24.0)
# Seals taken before this ISO 8601 time (when time-stamping was switched on) need no token.
TSA_REQUIRED_FROM = env.str("TSA_REQUIRED_FROM", default="")
# Failed time-stamp requests are retried after this many seconds, doubling up to an hour.
TSA_RETRY_SECONDS = env.int("TSA_RETRY_SECONDS", default=60)
# How often beat seals (and then time-stamps) the audit trail.
AUDIT_SEAL_MINUTES = env.int("AUDIT_SEAL_MINUTES", default=5)
# The nightly verification checks only what changed since the newest time-stamped seal, except on
# this weekday (0 = Monday … 6 = Sunday; -1 = never) when it verifies the whole trail.
AUDIT_FULL_VERIFY_WEEKDAY = env.int("AUDIT_FULL_VERIFY_WEEKDAY", default=6)
# True under production settings: commands that would publish known passwords (seed_demo) refuse.
RIGHTLEVEL_PRODUCTION = False
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.forms",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_htmx",
    "axes",
    "csp",
    "checklist",
    "levelverify",
    "quality",
    "interfaces",
    "imaging",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.PermissionsPolicyMiddleware",
    # Before anything reads the body: a request over RIGHTLEVEL_MAX_REQUEST_BYTES gets 413.
    "core.middleware.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Responses to signed-in users are never cached (shared tablets).
    "core.middleware.PrivateNoStoreMiddleware",
    "core.middleware.InactivityLogoutMiddleware",
    # A write with an Idempotency-Key runs once; a repeat gets the first answer (after sign-in and
    # the inactivity logoff, so the key's user is known and a logoff answer is never stored).
    "checklist.idempotency.IdempotencyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # AxesMiddleware must be last: it turns a lockout raised during login into the lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "checklist.context_processors.session_timeout",
                "checklist.context_processors.notifications",
                "interfaces.context_processors.needs_review",
            ],
        },
    },
]

# Widget templates come from templates/ too (the large touch-target radio buttons).
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"

# --- Database ---------------------------------------------------------------------------------
# SQLite is the embedded default (no server to install). WAL lets the web server, the worker and
# beat read while one of them writes; IMMEDIATE transactions take the write lock up front so two
# writers queue instead of failing with "database is locked" half-way through a transaction.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Least-privilege roles on PostgreSQL (checklist/audit/db_roles.py, README "Deployment"): migrate runs as
# the owner role with DATABASE_APP_ROLE naming the role the application connects as, which is then
# granted only what it needs. DATABASE_ASSUME_ROLE makes a session log in as one role and run as
# another (SET ROLE); the test suite uses it to run as the application role.
DATABASE_APP_ROLE = env.str("DATABASE_APP_ROLE", default="")
if env.str("DATABASE_ASSUME_ROLE", default="") and DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"].setdefault("OPTIONS", {})["assume_role"] = env.str("DATABASE_ASSUME_ROLE")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Users, authentication, sessions -----------------------------------------------------------
AUTH_USER_MODEL = "checklist.User"
AUTHENTICATION_BACKENDS = [
    # Axes first: it refuses locked-out credentials before the password is even checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_URL_PATH = "/login/"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Automatic logoff (HIPAA 164.312(a)(2)(iii)): a session with no user activity for this many
# minutes is ended. Background polls do not count as activity (see core.middleware).
RIGHTLEVEL_INACTIVITY_TIMEOUT_MINUTES = env.int("INACTIVITY_TIMEOUT_MINUTES", default=15)
# The largest request body accepted (a 20 MB consent scan and its form fit): larger gets 413.
RIGHTLEVEL_MAX_REQUEST_BYTES = env.int("MAX_REQUEST_BYTES", default=21 * 1024 * 1024)
# X-Acted-At (when the person acted on the device) may be this far ahead of the server's clock;
# any time in the past is accepted, since a device's offline queue can be days old.
RIGHTLEVEL_ACTED_AT_MAX_FUTURE_HOURS = env.float("ACTED_AT_MAX_FUTURE_HOURS", default=24)
# Idempotency-Key records (checklist/idempotency.py) are kept this long, then purged by a beat
# task: a device's queue replayed after that runs again. They hold answers, patient data included.
RIGHTLEVEL_IDEMPOTENCY_RETENTION_DAYS = env.int("IDEMPOTENCY_RETENTION_DAYS", default=7)
# Seconds win when set (browser tests use a few seconds); otherwise the minutes above.
RIGHTLEVEL_INACTIVITY_TIMEOUT_SECONDS: int | None = None
# A phase's attest control must have been on screen this long before a tap counts (a second tap
# of a double tap lands on the next phase's control a fraction of a second after it appears).
RIGHTLEVEL_ATTEST_GUARD_SECONDS = env.float("ATTEST_GUARD_SECONDS", default=1.0)
# Hard upper bound on a session, whatever the activity: one long shift.
SESSION_COOKIE_AGE = env.int("SESSION_MAX_AGE_SECONDS", default=12 * 60 * 60)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie, but the admin needs it.
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# django-axes: lock a username for the address that failed (a combination rule), so nobody
# elsewhere can lock a nurse out with five requests, yet a username tried from one address is
# locked after LOGIN_FAILURE_LIMIT failures. Shared OR tablets sit behind one address: an address
# lock at that limit would lock out a whole theatre suite, so spraying many usernames from one
# address is refused by a separate, much higher per-address limit (checklist.access.sign_in).
# https://django-axes.readthedocs.io/en/latest/4_configuration.html
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
RIGHTLEVEL_LOGIN_ADDRESS_FAILURE_LIMIT = env.int("LOGIN_ADDRESS_FAILURE_LIMIT", default=50)
# Behind the compose proxy (BEHIND_PROXY=True) the client's address is the X-Forwarded-For the
# proxy sets; otherwise REMOTE_ADDR. Never set it where clients can reach gunicorn directly.
RIGHTLEVEL_BEHIND_PROXY = env.bool("BEHIND_PROXY", default=False)
AXES_CLIENT_IP_CALLABLE = "core.request_context.client_address"
# axes.W006 warns about username-only locks; ours is username and address, plus the address limit.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "checklist.views.lockout_response"
AXES_VERBOSE = False

# Content Security Policy (django-csp 4): everything is served from this origin; no inline script.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        # WebAssembly only (ZXing reads wristband barcodes with the camera); no JavaScript eval.
        "script-src": [SELF, "'wasm-unsafe-eval'"],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# --- Internationalization ----------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static files ------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "core.static_storage.StaticFilesStorage"},
}

# --- E-mail ------------------------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="RightLevel <rightlevel@localhost>")
# Seconds the SMTP backend waits for the relay (connect, greeting, each reply): a relay that
# accepts and never answers must not hold a worker. https://docs.djangoproject.com/en/5.2/ref/settings/#email-timeout
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)

# --- REST framework ----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an anonymous API call then gets 401 with a WWW-Authenticate header.
        # django-rest-knox tokens: hashed in the database, expiring (checklist/access/authentication.py).
        "checklist.access.authentication.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.exception_handler.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's JSON parser with a body size limit and a 400 for JSON nested too deep (core/parsers.py).
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# API tokens (django-rest-knox; its settings are documented as REST_KNOX): only a
# SHA-512 digest is stored; a token expires API_TOKEN_TTL_HOURS after it was issued, and a clean-up
# task deletes it (audited). AUTO_REFRESH stays off: a stolen token must not live for ever.
API_TOKEN_TTL_HOURS = env.float("API_TOKEN_TTL_HOURS", default=12)
if not 0 < API_TOKEN_TTL_HOURS <= 24 * 30:
    raise ImproperlyConfigured("API_TOKEN_TTL_HOURS must be more than 0 and at most 720 (30 days).")
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=API_TOKEN_TTL_HOURS),
    "AUTH_HEADER_PREFIX": "Token",
    "AUTO_REFRESH": False,
    "TOKEN_LIMIT_PER_USER": None,
}
# A case opened again by the same user through the same channel within this many seconds is not
# logged again (the page reloads after every action; passive refreshes are never logged).
RIGHTLEVEL_ACCESS_REOPEN_SECONDS = env.int("ACCESS_REOPEN_SECONDS", default=600)

SPECTACULAR_SETTINGS = {
    "TITLE": "RightLevel API",
    "DESCRIPTION": (
        "Confirms that the signed plan, the signed consent and the intraoperative imaging count "
        "name the same spinal level before and during a spine procedure."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Celery ------------------------------------------------------------------------------------
# The broker is Redis when CELERY_BROKER_URL or REDIS_URL is set; otherwise kombu's filesystem
# transport in a local folder, so the embedded default needs no server at all.
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or REDIS_URL or "filesystem://"
CELERY_BROKER_FOLDER = Path(env.str("CELERY_BROKER_FOLDER", default=str(VAR_DIR / "broker")))
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_FOLDER / "queue"),
        "data_folder_out": str(CELERY_BROKER_FOLDER / "queue"),
        "processed_folder": str(CELERY_BROKER_FOLDER / "processed"),
        "control_folder": str(CELERY_BROKER_FOLDER / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or None
CELERY_TASK_IGNORE_RESULT = CELERY_RESULT_BACKEND is None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ALWAYS_EAGER = False
RIGHTLEVEL_HEARTBEAT_SECONDS = env.int("HEARTBEAT_SECONDS", default=30)
# The reminder sweep: how often beat claims due reminders (seconds).
RIGHTLEVEL_REMINDER_SWEEP_SECONDS = env.int("REMINDER_SWEEP_SECONDS", default=60)
# Paging webhook: JSON POST signed with HMAC-SHA256 of the body (header X-RightLevel-Signature).
RIGHTLEVEL_WEBHOOK_URL = env.str("REMINDER_WEBHOOK_URL", default="")
RIGHTLEVEL_WEBHOOK_SECRET = env.str("REMINDER_WEBHOOK_SECRET", default="")
if RIGHTLEVEL_WEBHOOK_URL and not RIGHTLEVEL_WEBHOOK_SECRET:
    # Refused at start-up rather than signing every page with an empty key.
    raise ImproperlyConfigured("REMINDER_WEBHOOK_URL is set but REMINDER_WEBHOOK_SECRET is empty.")
RIGHTLEVEL_WEBHOOK_TIMEOUT = env.int("REMINDER_WEBHOOK_TIMEOUT", default=10)
# How long a delivery whose worker died mid-send waits before it is tried again (seconds; 0 =
# three times the longer channel timeout plus 30 s).
RIGHTLEVEL_DELIVERY_LEASE_SECONDS = env.int("DELIVERY_LEASE_SECONDS", default=0)
# A failed e-mail or webhook is tried again after this many seconds, doubling each time.
RIGHTLEVEL_DELIVERY_BACKOFF_SECONDS = env.int("DELIVERY_BACKOFF_SECONDS", default=30)
# /healthz answers 503 when a due reminder has waited longer than this (the sweep is stalled).
RIGHTLEVEL_REMINDER_STALL_MINUTES = env.int("REMINDER_STALL_MINUTES", default=10)
# Absolute links in e-mails, e.g. https://rightlevel.hospital.example
RIGHTLEVEL_BASE_URL = env.str("BASE_URL", default="http://127.0.0.1:8000")

# --- HL7 v2 interface (interfaces/, docs/interfaces.md) -----------------------------------------
# The largest MLLP frame read; a larger one is answered AR and skipped.
HL7_MAX_MESSAGE_BYTES = env.int("HL7_MAX_MESSAGE_BYTES", default=1024 * 1024)
# Raw messages are blanked this many days after receipt (manage.py hl7_maintain).
HL7_RAW_RETENTION_DAYS = env.int("HL7_RAW_RETENTION_DAYS", default=90)
# The MLLP listener over TLS: its PEM certificate (chain) and key; empty: plain TCP. With a CA file,
# only clients holding a certificate it issued are served (mutual TLS).
HL7_TLS_CERT_FILE = env.str("HL7_TLS_CERT_FILE", default="")
HL7_TLS_KEY_FILE = env.str("HL7_TLS_KEY_FILE", default="")
HL7_TLS_CLIENT_CA_FILE = env.str("HL7_TLS_CLIENT_CA_FILE", default="")
# host:port of the EHR's MLLP listener for the signed-out records (MDM^T02); empty: not sent.
HL7_OUTBOUND_DESTINATION = env.str("HL7_OUTBOUND_DESTINATION", default="")
# --- Imaging (DICOM; docs/imaging.md) ---------------------------------------------------------------
# Where level images are kept: the embedded receiver's folder, or a PACS through DICOMweb
# (QIDO-RS/WADO-RS/STOW-RS base URL, e.g. Orthanc's /dicom-web) when IMAGING_DICOMWEB_URL is set.
IMAGING_DICOMWEB_URL = env.str("IMAGING_DICOMWEB_URL", default="")
IMAGING_DICOMWEB_TIMEOUT = env.float("IMAGING_DICOMWEB_TIMEOUT", default=10.0)
# How often beat looks in the PACS for the level images of today's cases (with IMAGING_DICOMWEB_URL).
IMAGING_PACS_POLL_SECONDS = env.int("IMAGING_PACS_POLL_SECONDS", default=3)
IMAGING_STORAGE_DIR = Path(env.str("IMAGING_STORAGE_DIR", default=str(VAR_DIR / "images")))
IMAGING_AE_TITLE = env.str("IMAGING_AE_TITLE", default="RIGHTLEVEL")
IMAGING_BIND_ADDRESS = env.str("IMAGING_BIND_ADDRESS", default="127.0.0.1")
IMAGING_PORT = env.int("IMAGING_PORT", default=11112)
# The C-arms allowed to send, each with the room it stands in: "CARM1=OR 1,CARM2=OR 2".
# A calling AE title not listed is rejected at association.
IMAGING_CALLING_AE_TITLES: dict[str, str] = env.dict("IMAGING_CALLING_AE_TITLES", default={})
# The largest encoded data set accepted (bytes): a 2k x 2k 16-bit frame is 8 MiB.
IMAGING_MAX_BYTES = env.int("IMAGING_MAX_BYTES", default=64 * 1024 * 1024)
# An image without a usable accession number matches a case of that patient in that room when it
# was acquired from this long before the scheduled start to this long after it.
IMAGING_MATCH_BEFORE_MINUTES = env.int("IMAGING_MATCH_BEFORE_MINUTES", default=120)
IMAGING_MATCH_AFTER_MINUTES = env.int("IMAGING_MATCH_AFTER_MINUTES", default=12 * 60)

# --- Logging -----------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}
