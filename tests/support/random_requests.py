"""Random level-check requests for differential runs (the tablet's engine against the server's):
mostly well formed, often disagreeing, sometimes unreadable; seeded, so a failure can be replayed."""

from __future__ import annotations

import random
from typing import Any

from levelverify.check import PROCEDURES, SIDES, STRUCTURE_BY_PROCEDURE, check_levels
from levelverify.spine import MARKING_REGIONS, REFERENCES, Anatomy, format_unit, region_contains

LEVELS = ["L1", "L2", "L3", "L4", "L5", "L2-L3", "L2/3", "L1-L3", "L4-S1", "L5-S1", "T12-L1", "L6", "S1", "T12",
          "L2, L3", "L3-L2", "C5-C6", "L2-", "", "l2", "L 2", "L2-L3 foramen"]  # fmt: skip
REFERENCE_NAMES = list(REFERENCES)


def _maybe(rng: random.Random, value: Any, junk: Any = None) -> Any:
    return junk if rng.random() < 0.04 else value


def _order(rng: random.Random) -> dict[str, Any]:
    return {
        "procedure": _maybe(rng, rng.choice(PROCEDURES), "surgery"),
        "levels": rng.choice(LEVELS[:12]) if rng.random() < 0.8 else rng.choice(LEVELS),
        "side": _maybe(rng, rng.choice(SIDES), "up"),
    }


def agreeing_request(rng: random.Random) -> dict[str, Any]:
    """A request on which every source agrees, on a random anatomy, with level images counted right
    (the counts the engine expects) and, one time in three, one counted one off: a miscount."""
    anatomy = Anatomy(thoracic=rng.choice([11, 12, 12, 13]), lumbar=rng.choice([4, 5, 5, 6]))
    procedure = rng.choice(PROCEDURES)
    structure = STRUCTURE_BY_PROCEDURE[procedure]
    units = [u for u in anatomy.units(structure) if format_unit(u)[0] in "TL"]
    start = rng.randrange(len(units) - 2)
    chosen = units[start : start + rng.randint(1, 2)]
    levels = ", ".join(format_unit(u) for u in chosen)
    regions = [r for r in MARKING_REGIONS if all(region_contains(r, u, anatomy) for u in chosen)]
    side = rng.choice([s for s in SIDES if not (structure == "nerve_root" and s == "midline")])
    order = {"procedure": procedure, "levels": levels, "side": side}
    request: dict[str, Any] = {
        "stage": "localization",
        "anatomy": anatomy.to_json(),
        "plan": order,
        "consent": dict(order),
        "marking": {"region": rng.choice(regions or list(MARKING_REGIONS)), "side": side},
        "preop_imaging": {"levels": levels},
    }
    expected = check_levels(request)["expected_counts"]
    first = next(iter(expected))
    counts = sorted((r, c) for r, c in expected[first].items() if c is not None)
    miscounted = rng.randrange(len(counts)) if rng.random() < 1 / 3 else None
    request["localizations"] = [
        {"reference": reference, "count": count + (rng.choice([-1, 1]) if n == miscounted else 0), "level": first,
         "marker_in_place": True}
        for n, (reference, count) in enumerate(counts)
    ]  # fmt: skip
    return request


def random_request(rng: random.Random) -> dict[str, Any]:
    """One request: half agreeing (see agreeing_request), half with each source present or not and
    drawn on its own (mostly disagreeing or incomplete); localizations 0 to 3."""
    if rng.random() < 0.5:
        return agreeing_request(rng)
    request: dict[str, Any] = {"stage": rng.choice(["time_out", "localization"])}
    if rng.random() < 0.7:
        request["anatomy"] = {
            "thoracic": rng.choice([11, 12, 12, 12, 13]),
            "lumbar": rng.choice([4, 5, 5, 5, 6]),
            "lowest_rib": rng.choice(["", "T11", "T12", "T12", "T13"]),
            "lowest_mobile": rng.choice(["", "L4", "L5", "L5", "L6", "S1"]),
            "source": rng.choice(["whole_spine", "lumbar_only", "whole_spine"]),
        }
    plan = _order(rng)
    if rng.random() < 0.9:
        request["plan"] = plan
    if rng.random() < 0.8:
        # Mostly the same order as the plan: agreement must be reached often for the pass paths.
        request["consent"] = dict(plan) if rng.random() < 0.6 else _order(rng)
    if rng.random() < 0.8:
        request["marking"] = {"region": rng.choice(list(MARKING_REGIONS)), "side": rng.choice(SIDES)}
    if rng.random() < 0.7:
        request["preop_imaging"] = {"levels": plan["levels"] if rng.random() < 0.6 else rng.choice(LEVELS)}
    if rng.random() < 0.7:
        request["localizations"] = [
            {
                "reference": rng.choice(REFERENCE_NAMES),
                "count": _maybe(rng, rng.randint(1, 30), "three"),
                "level": rng.choice(LEVELS),
                "marker_in_place": rng.random() < 0.9,
                **({"side": rng.choice(SIDES)} if rng.random() < 0.3 else {}),
            }
            for _ in range(rng.randint(0, 3))
        ]
    return request


def random_entries(rng: random.Random) -> list[dict[str, Any]]:
    """Entries as the tablet keeps them offline: form fields, as strings."""
    entries: list[dict[str, Any]] = []
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(["localization", "localization", "consent", "marking", "imaging", "anatomy"])
        if kind == "localization":
            fields = {
                "reference": rng.choice(REFERENCE_NAMES),
                "count": str(rng.randint(1, 30)),
                "label": rng.choice(LEVELS),
                "marker_in_place": rng.choice(["yes", "no"]),
                "side": rng.choice(["", "not_shown", *SIDES]),
                "phase": "pre_incision",
            }
        elif kind == "consent":
            fields = {**_order(rng), "witness": "A witness", "date_signed": "2026-12-01"}
        elif kind == "marking":
            fields = {"region": rng.choice(list(MARKING_REGIONS)), "side": rng.choice(SIDES)}
        elif kind == "imaging":
            fields = {"levels": rng.choice(LEVELS), "modality": "mri"}
        else:
            fields = {"thoracic": str(rng.choice([11, 12, 13])), "lumbar": str(rng.choice([4, 5, 6])),
                      "lowest_rib": rng.choice(["", "t12", "T13"]), "lowest_mobile": rng.choice(["", "L5", "l6"]),
                      "source": "whole_spine"}  # fmt: skip
        entries.append({"kind": kind, "fields": fields})
    return entries


def random_basis_and_entries(rng: random.Random) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A case page's basis and the entries kept offline: half the time an agreeing case whose level
    images were all read offline (the pass, or the miscount's stop, must come from the entries)."""
    if rng.random() < 0.5:
        request = agreeing_request(rng)
        entries = [
            {
                "kind": "localization",
                "fields": {"phase": "pre_incision", "reference": x["reference"], "count": str(x["count"]),
                           "label": x["level"], "marker_in_place": "yes", "side": ""},
            }
            for x in request.pop("localizations")
        ]  # fmt: skip
    else:
        request, entries = random_request(rng), random_entries(rng)
    return {"request": request, "workflow_findings": []}, entries
