"""The application as a real server process (gunicorn with the project's config), on the test
database, that a test can stop and start again on the same port: "the server went away" as a
tablet sees it (connection refused), not a mocked failure."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.db import connection

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_database_url() -> str:
    """The URL of the database this test runs on (the test database, once pytest-django made it)."""
    d = connection.settings_dict
    if d["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{d['NAME']}"
    user = quote(d.get("USER") or "", safe="")
    password = quote(d.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"postgres://{auth}{d.get('HOST') or '127.0.0.1'}:{d.get('PORT') or 5432}/{d['NAME']}"


class ServerProcess:
    """``start()``, ``stop()`` (SIGKILL to the master and its workers: no goodbye), ``url``."""

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process: subprocess.Popen[Any] | None = None

    def start(self, timeout: float = 60) -> None:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "DATABASE_URL": test_database_url()}
        command = [
            sys.executable, "-m", "gunicorn", "config.wsgi", "-c", str(REPO / "config" / "gunicorn.conf.py"),
            "--bind", f"127.0.0.1:{self.port}", "--workers", "2", "--threads", "4", "--access-logfile", "-",
        ]  # fmt: skip
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited: {self.log_path.read_text()[-3000:]}")
            try:
                http_get(self.port, "/healthz")
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not answer within {timeout} s") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)  # the master and its workers at once
            self.process.wait(timeout=30)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                try:
                    http_get(self.port, "/healthz")
                except OSError:
                    break
                time.sleep(0.2)
        self.process = None


def http_get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()
