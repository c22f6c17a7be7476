"""A case's verdict: the engine's findings with the workflow's own, on the server and on the tablet.

``judge`` is what the server runs for every case (``checklist.level_check.level_evaluate``) and what
the tablet runs in the browser, through Pyodide, when the network is away (issue 18): the same code
on the same input, so that the two cannot disagree. The workflow's findings (an unsigned plan, a
wrong wristband, a second read due...) come from records only the server reads; they are passed in
and only ever make the verdict stricter.

``judge_offline`` is the tablet's half. It starts from the *basis* the case page carries (the exact
request the server last judged and the workflow findings it added) and applies the entries kept on
the tablet since (evidence and level images recorded offline, as their form fields), in the order
they were made: a consent, marking, pre-op imaging or anatomy entry replaces the record in force, a
level image is added to the ones read. Whatever cannot be read is a stop (``EVIDENCE_INVALID``),
never a pass: the server, which re-checks on sync, may answer the same entry with a form error.

Pure Python and the standard library only: it runs unchanged in the browser.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from levelverify.check import CONTRACT_VERSION, SEVERITIES, check_levels, verdict_of_severities
from levelverify.errors import NON_FIELD_ERRORS, LevelInputError
from levelverify.strict_json import loads_strict

EVIDENCE_INVALID: Final = "EVIDENCE_INVALID"
MSG_EVIDENCE_INVALID: Final = "The recorded evidence cannot be read together: {problems}"
ACTION_EVIDENCE_INVALID: Final = (
    "Record the evidence again so that it reads together with this patient's anatomy "
    "(or the surgeon revises and re-signs the plan)."
)

# Entries the tablet keeps offline: the form each comes from, and the request key it sets.
ENTRY_KINDS: Final = ("consent", "marking", "imaging", "anatomy", "localization")
SIDE_NOT_SHOWN: Final = "not_shown"


def evidence_invalid(problems: str, sources: Sequence[str]) -> dict[str, Any]:
    """The stop of records that cannot be read together."""
    return {
        "code": EVIDENCE_INVALID,
        "severity": "stop",
        "sources": list(sources),
        "message": MSG_EVIDENCE_INVALID.format(problems=problems),
        "action": ACTION_EVIDENCE_INVALID,
    }


def judge(request: Mapping[str, Any], workflow_findings: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The engine's result for ``request``, stricter by ``workflow_findings`` (full finding dicts).
    Never raises for unreadable input: that is a stop."""
    try:
        result = check_levels(request)
    except LevelInputError as exc:
        problems = "; ".join(m for messages in exc.errors.values() for m in messages)
        result = {
            "contract": CONTRACT_VERSION,
            "verdict": "stop",
            "stage": request.get("stage") if isinstance(request, Mapping) else None,
            "target": None,
            "findings": [evidence_invalid(problems, sorted(exc.errors))],
            "expected_counts": {},
        }
    if workflow_findings:
        findings = sorted(
            [*result["findings"], *(dict(f) for f in workflow_findings)],
            key=lambda f: SEVERITIES.index(f["severity"]),
        )
        result = {**result, "findings": findings, "verdict": verdict_of_severities(f["severity"] for f in findings)}
    return result


def workflow_findings_of(request: Mapping[str, Any], findings: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The findings of a stored verdict that the engine alone does not give for its request: the
    workflow's. (Were the engine changed since, a stored finding it no longer gives is kept too:
    the basis can only be stricter.)"""

    def same(finding: Mapping[str, Any]) -> tuple[Any, ...]:
        # Not the action: a page fills it in for verdicts stored before contract v2 gave one.
        return finding.get("code"), finding.get("severity"), finding.get("message"), tuple(finding.get("sources") or ())

    own = [same(f) for f in judge(request)["findings"]]
    extra: list[dict[str, Any]] = []
    for finding in findings:
        if same(finding) in own:
            own.remove(same(finding))
        else:
            extra.append(dict(finding))
    return extra


def _int_or_text(value: Any) -> Any:
    text = str(value).strip()
    return int(text) if text.isdigit() else text


def _entry_request(kind: str, fields: Mapping[str, Any]) -> tuple[str, Any]:
    """(request key, value) for one entry, read as the server's form and service read it."""
    get = fields.get
    if kind == "consent":
        return "consent", {"procedure": get("procedure", ""), "levels": get("levels", ""), "side": get("side", "")}
    if kind == "marking":
        return "marking", {"region": get("region", ""), "side": get("side", "")}
    if kind == "imaging":
        return "preop_imaging", {"levels": get("levels", "")}
    if kind == "anatomy":
        return "anatomy", {
            "thoracic": _int_or_text(get("thoracic", "")),
            "lumbar": _int_or_text(get("lumbar", "")),
            "lowest_rib": str(get("lowest_rib", "")).strip().upper(),
            "lowest_mobile": str(get("lowest_mobile", "")).strip().upper(),
            "source": get("source", ""),
        }
    side = get("side") or ""
    localization: dict[str, Any] = {
        "reference": get("reference", ""),
        "count": _int_or_text(get("count", "")),
        "level": str(get("label", "")).strip(),
        "marker_in_place": get("marker_in_place") == "yes",
    }
    if side and side != SIDE_NOT_SHOWN:
        localization["side"] = side
    return "localizations", localization


def with_entries(request: Mapping[str, Any], entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A copy of ``request`` with the offline entries applied in order (see the module's doc).
    Raises ``LevelInputError`` for an entry of no known kind."""
    updated = json.loads(json.dumps(request))
    for number, entry in enumerate(entries, start=1):
        kind = entry.get("kind")
        if kind not in ENTRY_KINDS:
            raise LevelInputError({"entries": [f"Entry {number} is of no known kind ({kind!r})."]})
        key, value = _entry_request(kind, entry.get("fields") or {})
        if key == "localizations":
            updated.setdefault("localizations", []).append(value)
        else:
            updated[key] = value
    return updated


def judge_offline(basis: Mapping[str, Any], entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The verdict on the tablet: the basis's request with the entries, judged with its workflow
    findings. Marked ``"checked_on": "tablet"`` so that no one takes it for the server's."""
    workflow = basis.get("workflow_findings") or []
    try:
        request = with_entries(basis.get("request") or {}, entries)
    except LevelInputError as exc:
        problems = "; ".join(m for messages in exc.errors.values() for m in messages)
        result = judge({"stage": "time_out"}, [*workflow, evidence_invalid(problems, sorted(exc.errors))])
    else:
        result = judge(request, workflow)
    return {**result, "checked_on": "tablet"}


def judge_offline_json(basis_json: str, entries_json: str) -> str:
    """``judge_offline`` across the JavaScript boundary: JSON in, JSON out."""
    return json.dumps(judge_offline(json.loads(basis_json), json.loads(entries_json)))


def check_json(text: str) -> str:
    """What the level-check API answers for this request text, as ``{"status", "body"}`` JSON: the
    engine's result (200) or ``{"errors": ...}`` by field (400). The browser tests and the benchmark compare
    the tablet's engine with the server's through it."""
    try:
        request = loads_strict(text)
        if not isinstance(request, dict):
            raise LevelInputError({NON_FIELD_ERRORS: ["The request body must be a JSON object."]})
        answer: dict[str, Any] = {"status": 200, "body": check_levels(request)}
    except LevelInputError as exc:
        answer = {"status": 400, "body": {"errors": exc.errors}}
    return json.dumps(answer)
