from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def get_item(mapping: dict[str, Any] | None, key: str) -> Any:
    return (mapping or {}).get(key)


@register.filter
def attested_by_user(step: Any, username: str) -> bool:
    """Whether this person already attested the step under any role (one person, one role per step)."""
    return any(who["user"] == username for who in step.attested_by.values())


@register.filter
def waits_for(phase: Any, role: str) -> bool:
    """Whether any step of this phase still waits for ``role``."""
    return any(role in step.missing_roles for step in phase.steps)
