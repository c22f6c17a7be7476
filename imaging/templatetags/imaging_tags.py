"""Template tags the checklist's pages load to show a case's level images (no Python import of
imaging from checklist: the dependency stays one way)."""

from __future__ import annotations

from typing import Any

from django import template

from imaging import selectors

register = template.Library()


@register.inclusion_tag("imaging/_case_images.html")
def case_level_images(case: Any, can_read: bool = False) -> dict[str, Any]:
    rows = []
    for image in selectors.case_images(case).select_related("read", "read__second_read")[:12]:
        read = getattr(image, "read", None) if hasattr(image, "read") else None
        second = getattr(read, "second_read", None) if read is not None and hasattr(read, "second_read") else None
        # While a blind second read is due, the first count is not shown here either.
        rows.append({"image": image, "read": read, "second": second, "blind": selectors.second_read_pending(read)})
    return {"rows": rows, "can_read": can_read}


@register.inclusion_tag("imaging/_unmatched_card.html")
def unmatched_images_card(user: Any) -> dict[str, Any]:
    """On the case list: how many level images wait for someone to assign them, for those who may."""
    from checklist.access import policies

    if not policies.can(user, "localization.record"):
        return {"count": 0}
    return {"count": selectors.unmatched_images().count()}
