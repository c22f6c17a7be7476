"""Local development and the embedded demo: SQLite, filesystem broker, console e-mail."""

from __future__ import annotations

from .base import *  # noqa: F403
from .base import VAR_DIR, env

# Off unless asked (DEBUG=1): the demo runs on tablets and shows patient data, and a debug page
# would print settings and the request to whoever triggers an error.
DEBUG = env.bool("DEBUG", default=False)
# Plain HTTP on a laptop or a demo tablet: cookies cannot be marked Secure here.
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False

# The demo writes e-mails (reminders) to files instead of flooding the console: var/mail/.
if not env.str("EMAIL_URL", default=""):
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(VAR_DIR / "mail")
