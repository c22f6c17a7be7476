"""Every benchmark module starts: importing it (as ``python -m bench.<name>`` does, before Django
is set up) raises nothing. The benchmarks themselves run in bench/run, not in the suite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(
    path.stem
    for path in (ROOT / "bench").glob("*.py")
    if path.stem not in {"__init__", "locustfile", "urls", "settings"}
)


@pytest.mark.parametrize("module", MODULES)
def test_the_benchmark_module_imports_before_django_is_set_up(module: str) -> None:
    environment = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", f"import bench.{module}"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
