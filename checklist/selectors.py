"""Every read the pages, the API and the reports need."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.db import connection

from checklist.models import Case, StepAttestation, WorkerHeartbeat
from checklist.templates_catalog import ChecklistTemplate, get_template


@dataclass(frozen=True)
class ComponentStatus:
    ok: bool
    detail: str


def database_status() -> ComponentStatus:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means "down"; the reason is reported
        return ComponentStatus(False, f"{type(exc).__name__}: {exc}")
    return ComponentStatus(True, connection.vendor)


def broker_status(*, timeout_seconds: int = 2) -> ComponentStatus:
    """Open (and close) a connection to the Celery broker without sending anything."""
    from config.celery import app

    url = str(app.conf.broker_url or "")
    if url.startswith("filesystem://"):
        options: dict[str, Any] = app.conf.broker_transport_options or {}
        folder = Path(options.get("data_folder_in", ""))
        if folder.is_dir() and _writable(folder):
            return ComponentStatus(True, "filesystem")
        return ComponentStatus(False, "filesystem broker folder is missing or not writable")
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout_seconds)
            transport = conn.transport_cls
    except Exception as exc:  # noqa: BLE001
        return ComponentStatus(False, f"{type(exc).__name__}: {exc}")
    return ComponentStatus(True, str(transport))


def _writable(folder: Path) -> bool:
    import os

    return os.access(folder, os.W_OK)


def worker_last_heartbeat() -> datetime | None:
    beat = WorkerHeartbeat.objects.order_by("-last_seen").values_list("last_seen", flat=True).first()
    return beat


# --- checklist ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepStatus:
    code: str
    phase: str
    text: str
    help: str
    roles: tuple[str, ...]
    evidence: tuple[str, ...]
    attested_by: dict[str, dict[str, Any]]  # role -> {"user", "name", "at"}

    @property
    def complete(self) -> bool:
        return all(role in self.attested_by for role in self.roles)

    @property
    def missing_roles(self) -> tuple[str, ...]:
        return tuple(role for role in self.roles if role not in self.attested_by)


def case_conditions(case: Case) -> tuple[bool, bool]:
    """(variant_anatomy, near_conus) from the case's latest verdict."""
    from levelverify.errors import LevelInputError
    from levelverify.spine import Anatomy

    verdict = case.latest_verdict
    if verdict is None:
        return False, False
    near_conus = any(f["code"] == "CONUS_PROXIMITY" for f in verdict.findings)
    anatomy_json = verdict.request.get("anatomy")
    variant = False
    if anatomy_json is not None:
        try:
            variant = Anatomy.from_json(anatomy_json).is_high_risk
        except LevelInputError:
            variant = True
    return variant, near_conus


def checklist_template(case: Case) -> ChecklistTemplate:
    run = case.checklist_run
    return get_template(run.template_code, run.template_version)


def checklist_status(case: Case) -> list[StepStatus]:
    """Every applicable step of the case's pinned template with who has attested it."""
    template = checklist_template(case)
    variant, conus = case_conditions(case)
    live: dict[tuple[str, str], dict[str, Any]] = {}
    for a in StepAttestation.objects.filter(run__case=case, voided_at__isnull=True).select_related("user"):
        live[(a.step_code, a.role)] = {"user": a.user.username, "name": a.user.full_name, "at": a.attested_at}
    out = []
    for step in template.applicable_steps(variant_anatomy=variant, near_conus=conus):
        attested = {role: live[(step.code, role)] for role in step.roles if (step.code, role) in live}
        out.append(StepStatus(step.code, step.phase, step.text, step.help, step.roles, step.evidence, attested))
    return out


def phase_complete(case: Case, phase: str) -> bool:
    return all(step.complete for step in checklist_status(case) if step.phase == phase)
