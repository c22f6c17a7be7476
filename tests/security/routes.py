"""Every URL pattern the project serves, made concrete (security tests only).

Walks the root URL resolver, so a route added anywhere (an app, the admin, the API docs) is
enumerated without editing a list. Path parameters are filled from ``values`` by name (a real case
id, a real step code); a parameter listed in ``expand`` yields one route per value (every tablet
action). Regex routes (the admin's) get the first alternative of each group.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

_CONVERTER = re.compile(r"<(?:(?P<kind>\w+):)?(?P<name>\w+)>")
_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?P<body>[^)]*)\)")


@dataclass(frozen=True)
class Route:
    path: str  # concrete, e.g. /api/v1/cases/12/status
    template: str  # as declared, e.g. api/v1/cases/<int:case_id>/status
    name: str | None
    callback: Callable[..., Any]

    @property
    def view_class(self) -> type | None:
        return getattr(self.callback, "view_class", None) or getattr(self.callback, "cls", None)


def _walk(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def _fill(template: str, values: dict[str, str]) -> str:
    def converter(match: re.Match[str]) -> str:
        return values.get(match["name"], "1")

    def group(match: re.Match[str]) -> str:
        if match["name"] in values:
            return values[match["name"]]
        body = match["body"]
        return body.split("|")[0] if "|" in body else "nothing-here/"

    path = _CONVERTER.sub(converter, template)
    path = _GROUP.sub(group, path)
    return "/" + path.replace("^", "").replace("$", "")


def routes(values: dict[str, str], expand: dict[str, list[str]] | None = None) -> list[Route]:
    expand = expand or {}
    out = []
    for template, pattern in _walk(get_resolver().url_patterns):
        names = {m["name"] for m in _CONVERTER.finditer(template)} | {m["name"] for m in _GROUP.finditer(template)}
        variants = [dict(values)]
        for name in names & set(expand):
            variants = [{**v, name: value} for v in variants for value in expand[name]]
        for variant in variants:
            out.append(Route(_fill(template, variant), template, pattern.name, pattern.callback))
    return out
