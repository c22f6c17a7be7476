"""No published secrets (issue 13, item 7): seed_demo refuses production settings; the run
command gives each installation its own random SECRET_KEY and AUDIT_KEY, kept in var/."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from checklist.management.commands.seed_demo import PRODUCTION_REFUSED

REPO = Path(__file__).resolve().parents[2]


def test_seed_demo_refuses_under_production_settings(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY=secrets.token_urlsafe(64),
        AUDIT_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="rightlevel.hospital.invalid",
        DATABASE_URL=f"sqlite:///{tmp_path / 'production.sqlite3'}",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "seed_demo"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert PRODUCTION_REFUSED in result.stderr
    assert not (tmp_path / "production.sqlite3").exists() or (tmp_path / "production.sqlite3").stat().st_size == 0


def test_seed_demo_refuses_whenever_the_settings_say_production(settings) -> None:
    settings.RIGHTLEVEL_PRODUCTION = True
    with pytest.raises(CommandError, match="refuses to run under production settings"):
        call_command("seed_demo")


def _secrets(var_dir: Path, **env: str) -> tuple[str, str]:
    script = 'source scripts/lib/secrets.sh; installation_secrets_ensure >/dev/null; echo "$SECRET_KEY $AUDIT_KEY"'
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "AUDIT_KEY")}
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=REPO,
        env={**clean, "RIGHTLEVEL_VAR_DIR": str(var_dir), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    secret_key, audit_key = result.stdout.split()
    return secret_key, audit_key


def test_the_run_command_generates_this_installations_own_keys_once(tmp_path: Path) -> None:
    first = _secrets(tmp_path / "a")
    other = _secrets(tmp_path / "b")
    assert len(first[0]) >= 64 and len(first[1]) >= 64 and first[0] != first[1]
    assert set(first).isdisjoint(other), "two installations must not share a key"
    assert "insecure" not in first[0]
    stored = tmp_path / "a" / "secrets.env"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert _secrets(tmp_path / "a") == first  # kept: a restart keeps the keys (and the seals' MACs valid)
    assert _secrets(tmp_path / "a", AUDIT_KEY="from-the-environment")[1] == "from-the-environment"
    assert "scripts/lib/secrets.sh" in (REPO / "scripts" / "run").read_text()
