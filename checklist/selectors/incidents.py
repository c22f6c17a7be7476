"""Near misses caught by the level check."""

from __future__ import annotations

from checklist.models import (
    Case,
    NearMiss,
)


def case_near_misses(case: Case) -> list[NearMiss]:
    return list(NearMiss.objects.filter(case=case).select_related("caught_by", "resolved_by").order_by("resolved_at"))


def near_misses_all(*, limit: int = 100, offset: int = 0) -> tuple[list[NearMiss], int]:
    queryset = NearMiss.objects.select_related("caught_by", "resolved_by", "case", "case__room")
    return list(queryset.order_by("-resolved_at", "-id")[offset : offset + limit]), queryset.count()
