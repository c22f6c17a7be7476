"""Local development and the embedded demo: SQLite, filesystem broker, console e-mail."""

from __future__ import annotations

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
# Plain HTTP on a laptop or a demo tablet: cookies cannot be marked Secure here.
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
