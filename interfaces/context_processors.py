"""The needs-review list on the tablet's case list, for the nurse in charge and administrators."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from interfaces import selectors


def needs_review(request: HttpRequest) -> dict[str, Any]:
    """A callable, so the query runs only on a page whose template shows the list."""
    user = getattr(request, "user", None)
    if user is None or not selectors.may_resolve_appointments(user):  # type: ignore[arg-type]
        return {}
    return {"hl7_needs_review": selectors.review_items, "hl7_may_manage": selectors.may_manage_interface(user)}  # type: ignore[arg-type]
