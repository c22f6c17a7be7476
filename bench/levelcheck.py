"""Level-check benchmarks (issue: level verification engine). Prints ratios measured in one run.

1. The pure check's cost per call against ``json.loads`` of the same request body (goal <= 10).
2. POST /api/v1/level-checks/ requests per second against an authenticated DRF endpoint that
   returns a constant, both through Django's full middleware stack in-process (goal >= 0.7).

Run: .venv/bin/python -m bench.levelcheck
"""

from __future__ import annotations

import json

from bench.common import best_per_call, django_setup, interleaved_rate, print_table

REQUEST = {
    "stage": "localization",
    "anatomy": {"thoracic": 12, "lumbar": 6, "lowest_rib": "T12", "lowest_mobile": "L6", "source": "whole_spine"},
    "plan": {"procedure": "selective_nerve_root_block", "levels": "L2", "side": "left"},
    "consent": {"procedure": "selective_nerve_root_block", "levels": "L2", "side": "left"},
    "marking": {"region": "lumbar", "side": "left"},
    "preop_imaging": {"levels": "L2"},
    "localizations": [
        {"reference": "sacrum", "count": 5, "level": "L2", "marker_in_place": True},
        {"reference": "c2", "count": 19, "level": "L2", "marker_in_place": True},
    ],
}


def main() -> None:
    from levelverify.check import check_levels

    body = json.dumps(REQUEST)
    parsed = json.loads(body)
    assert check_levels(parsed)["verdict"] == "pass"

    check_cost = best_per_call(lambda: check_levels(parsed), number=2000)
    loads_cost = best_per_call(lambda: json.loads(body), number=2000)
    pure_ratio = check_cost / loads_cost

    django_setup()
    from django.test import Client

    from checklist.services import user_create
    from checklist.services.tokens import token_create

    user = user_create(username="bench", full_name="Bench Nurse", password="bench-password-1", role_names=["nurse"])
    _, token = token_create(actor=user, user=user)
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")

    def level_check() -> None:
        response = client.post("/api/v1/level-checks/", data=body, content_type="application/json")
        assert response.status_code == 200

    def constant() -> None:
        response = client.post("/bench/constant/", data=body, content_type="application/json")
        assert response.status_code == 200

    rates = interleaved_rate({"level_check": level_check, "constant": constant}, number=300)
    http_ratio = rates["level_check"] / rates["constant"]

    print_table(
        "Level check (one run; ratios against baselines measured in the same run)",
        [
            ("pure check_levels per call", f"{check_cost * 1e6:.1f} us", "", ""),
            ("json.loads of the same body", f"{loads_cost * 1e6:.1f} us", "", ""),
            ("check / json.loads", "", f"{pure_ratio:.1f}", "<= 10 " + ("OK" if pure_ratio <= 10 else "MISSED")),
            ("POST /api/v1/level-checks/", f"{rates['level_check']:.0f} req/s", "", ""),
            ("POST constant DRF endpoint", f"{rates['constant']:.0f} req/s", "", ""),
            ("level-check / constant", "", f"{http_ratio:.2f}", ">= 0.7 " + ("OK" if http_ratio >= 0.7 else "MISSED")),
        ],
    )


if __name__ == "__main__":
    main()
