"""Template tags the checklist's pages load to show a case's level images (no Python import of
imaging from checklist: the dependency stays one way)."""

from __future__ import annotations

from typing import Any

from django import template

from imaging import selectors

register = template.Library()


@register.inclusion_tag("imaging/_case_images.html")
def case_level_images(case: Any, can_read: bool = False) -> dict[str, Any]:
    return {"images": list(selectors.case_images(case).select_related("read")[:12]), "can_read": can_read}
