from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from checklist.middleware import PASSIVE_HEADER, inactivity_timeout_seconds


def session_timeout(request: HttpRequest) -> dict[str, Any]:
    """Lets every page show the inactivity countdown."""
    return {
        "inactivity_timeout_seconds": inactivity_timeout_seconds(),
        "passive_header": PASSIVE_HEADER,
    }
