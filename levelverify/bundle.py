"""The level-check engine as the tablet loads it offline: its pure modules in one zip (issue 18).

The browser runs these very files through Pyodide (static/js/level-engine-worker.js), so the
verdict on the tablet comes from the server's own code, not from a port of it. The zip is
deterministic (fixed order and times): its hash changes only when the code does, and serves as
the service worker's precache revision.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from functools import cache
from pathlib import Path
from typing import Final

# The engine and what it imports: the standard library only (import-linter checks the same list).
ENGINE_MODULES: Final = ("__init__", "errors", "spine", "strict_json", "check", "verdict")
_PACKAGE = Path(__file__).resolve().parent


@cache
def engine_bundle() -> bytes:
    """The zip of levelverify's pure modules, under ``levelverify/``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in ENGINE_MODULES:
            info = zipfile.ZipInfo(f"levelverify/{name}.py", date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, (_PACKAGE / f"{name}.py").read_bytes())
    return buffer.getvalue()


def engine_bundle_revision() -> str:
    return hashlib.sha256(engine_bundle()).hexdigest()[:16]
