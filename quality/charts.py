"""Server-rendered SVG chart geometry for the dashboard.

The content security policy forbids inline styles, so the templates draw with SVG attributes
(x, y, width, height, fill="url(#pattern)") and CSS classes. Meaning never rests on colour alone:
each near-miss kind has its own pattern, every bar carries its number as text, and every chart has
a table of the same figures.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from quality.selectors import NEAR_MISS_KINDS, Rate

KIND_LABELS = {
    "consent": "Consent",
    "marking": "Marking",
    "imaging": "Imaging",
    "count": "Count",
    "treated_levels": "Treated levels",
    "signature": "Signature",
    "evidence": "Evidence",
    "identity": "Patient identity",
}
# Each kind's SVG pattern (defined once per page in templates/quality/_chart_defs.html).
KIND_PATTERNS = {kind: f"url(#pat-{kind})" for kind in KIND_LABELS}
OTHER_PATTERN = "url(#pat-other)"

WIDTH = 640  # the full-width chart (near misses by week)
HALF = 480  # charts in a half-width card
LABEL_W = 150
BAR_X = LABEL_W + 10
VALUE_W = 120  # room right of a bar for its value
ROW_H = 34


@dataclass
class RateBar:
    label: str
    y: int
    width: float
    text: str
    text_x: float
    percent: int | None


@dataclass
class RateChart:
    height: int
    bars: list[RateBar]
    track_width: float
    width: int = HALF
    bar_x: int = BAR_X
    label_x: int = LABEL_W


def rate_chart(rates: list[Rate], labels: list[str] | None = None, *, width: int = HALF) -> RateChart:
    """Horizontal bars of percentages, each with its fraction as text."""
    track = width - BAR_X - VALUE_W
    bars = []
    for i, rate in enumerate(rates):
        pct = rate.percent
        bar = 0.0 if pct is None else track * pct / 100
        text = "no cases" if pct is None else f"{pct}% ({rate.numerator}/{rate.denominator})"
        label = labels[i] if labels else rate.label
        bars.append(RateBar(label, 8 + i * ROW_H, bar, text, BAR_X + bar + 6, pct))
    return RateChart(16 + len(rates) * ROW_H, bars, track, width)


@dataclass
class Column:
    label: str
    value: int
    x: float
    y: float
    width: float
    height: float
    label_x: float


@dataclass
class ColumnChart:
    height: int
    baseline: int
    columns: list[Column]
    width: int = HALF


def column_chart(values: list[tuple[str, int]], *, plot_height: int = 150, width: int = HALF) -> ColumnChart:
    top = max((v for _, v in values), default=0) or 1
    n = max(len(values), 1)
    slot = (width - 20) / n
    bar = slot * 0.6
    baseline = plot_height + 24
    columns = []
    for i, (label, value) in enumerate(values):
        height = plot_height * value / top
        x = 10 + i * slot + (slot - bar) / 2
        columns.append(Column(label, value, x, baseline - height, bar, height, x + bar / 2))
    return ColumnChart(baseline + 28, baseline, columns, width)


@dataclass
class Segment:
    kind: str
    label: str
    value: int
    x: float
    y: float
    width: float
    height: float
    fill: str


@dataclass
class Stack:
    label: str
    total: int
    segments: list[Segment] = field(default_factory=list)
    label_x: float = 0
    label_y: float = 0
    total_x: float = 0
    total_y: float = 0


@dataclass
class StackChart:
    height: int
    stacks: list[Stack]
    baseline: int = 0
    width: int = WIDTH


def _kind_order(extra: list[str]) -> list[str]:
    return [*NEAR_MISS_KINDS, *extra]


def week_chart(rows: list[dict[str, Any]], extra_kinds: list[str], *, plot_height: int = 150) -> StackChart:
    """Vertical stacked columns: one per week, one segment per kind."""
    top = max((row["total"] for row in rows), default=0) or 1
    n = max(len(rows), 1)
    slot = (WIDTH - 20) / n
    width = min(slot * 0.7, 60)
    baseline = plot_height + 22
    stacks = []
    for i, row in enumerate(rows):
        x = 10 + i * slot + (slot - width) / 2
        y = float(baseline)
        week = dt.date.fromisoformat(row["label"])
        stack = Stack(f"{week:%b} {week.day}", row["total"], label_x=x + width / 2, label_y=baseline + 18)
        for kind in _kind_order(extra_kinds):
            value = row["kinds"].get(kind, 0)
            if not value:
                continue
            height = plot_height * value / top
            y -= height
            stack.segments.append(
                Segment(
                    kind,
                    KIND_LABELS.get(kind, kind),
                    value,
                    x,
                    y,
                    width,
                    height,
                    KIND_PATTERNS.get(kind, OTHER_PATTERN),
                )
            )
        stack.total_x, stack.total_y = x + width / 2, y - 5
        stacks.append(stack)
    return StackChart(baseline + 26, stacks, baseline)


def bar_chart(rows: list[dict[str, Any]], extra_kinds: list[str], *, width: int = HALF) -> StackChart:
    """Horizontal stacked bars: one per room or surgeon, one segment per kind."""
    top = max((row["total"] for row in rows), default=0) or 1
    track = width - BAR_X - 50
    stacks = []
    for i, row in enumerate(rows):
        y = 8 + i * ROW_H
        x = float(BAR_X)
        stack = Stack(str(row["label"]), row["total"], label_x=LABEL_W, label_y=y + 17)
        for kind in _kind_order(extra_kinds):
            value = row["kinds"].get(kind, 0)
            if not value:
                continue
            length = track * value / top
            fill = KIND_PATTERNS.get(kind, OTHER_PATTERN)
            stack.segments.append(Segment(kind, KIND_LABELS.get(kind, kind), value, x, y, length, 22, fill))
            x += length
        stack.total_x, stack.total_y = x + 6, y + 17
        stacks.append(stack)
    return StackChart(16 + len(rows) * ROW_H, stacks, width=width)


def legend(extra_kinds: list[str]) -> list[tuple[str, str, str]]:
    return [
        (kind, KIND_LABELS.get(kind, kind), KIND_PATTERNS.get(kind, OTHER_PATTERN)) for kind in _kind_order(extra_kinds)
    ]
