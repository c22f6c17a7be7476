"""gunicorn's access log names paths, never query strings: an MRN searched for in the quality
workspace travels in the query string and must not land in the log. A real gunicorn, started
with the project's config file (config/gunicorn.conf.py, the one scripts/run and the Dockerfile
use), serves a few requests; then its access log is read."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MRN = "MRN-ACCESS-40417"

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        return connection.getresponse().status
    finally:
        connection.close()


def test_the_access_log_carries_no_query_string_nor_referrer(tmp_path: Path) -> None:
    port = _free_port()
    access_log = tmp_path / "access.log"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    command = [
        sys.executable, "-m", "gunicorn", "config.wsgi", "-c", str(REPO / "config" / "gunicorn.conf.py"),
        "--bind", f"127.0.0.1:{port}", "--workers", "1", "--access-logfile", str(access_log),
    ]  # fmt: skip
    server = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else "gunicorn exited"
            try:
                _get(port, "/healthz")
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not answer within 60 s"
                time.sleep(0.2)
        assert _get(port, f"/quality/audit/?q={MRN}") == 302  # to the login page, MRN in its ?next=
        assert _get(port, f"/login/?next=/quality/audit/%3Fq%3D{MRN}") == 200
        _get(port, "/healthz", headers={"Referer": f"http://127.0.0.1:{port}/quality/audit/?q={MRN}"})
    finally:
        server.terminate()
        server.wait(timeout=30)
    text = access_log.read_text()
    assert "/quality/audit/" in text and "/login/" in text, text  # the requests were logged
    assert MRN not in text, text
