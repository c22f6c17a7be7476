"""gunicorn on 127.0.0.1 for the HTTP benchmarks, and a small keep-alive HTTP client.

The server runs ``config.wsgi`` under ``bench.settings`` (production settings over plain HTTP)
with the worker layout of docker-compose.yml (3 workers x 4 threads). Its access log records the
time each request spent in the server (``%(D)s``, microseconds), so a walk can report server time
apart from the client's.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ACCESS_FORMAT = "%(m)s %(U)s %(s)s %(D)s"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Gunicorn:
    """``with Gunicorn(log_dir) as server:`` -- started, answering /healthz, stopped at exit."""

    def __init__(self, log_dir: Path, *, workers: int = 3, threads: int = 4) -> None:
        self.port = free_port()
        self.log_dir = log_dir
        self.access_log = log_dir / "gunicorn-access.log"
        self.error_log = log_dir / "gunicorn-error.log"
        self.workers = workers
        self.threads = threads
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Gunicorn:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.access_log.write_text("")  # this server's requests only
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "bench.settings")}
        command = [
            sys.executable, "-m", "gunicorn", "config.wsgi",
            "--bind", f"127.0.0.1:{self.port}",
            "--workers", str(self.workers), "--threads", str(self.threads),
            "--keep-alive", "30",
            "--access-logfile", str(self.access_log), "--access-logformat", ACCESS_FORMAT,
            "--error-logfile", str(self.error_log),
        ]  # fmt: skip
        # The application's own log (django.request notes every 409) goes beside gunicorn's.
        with (self.log_dir / "gunicorn-app.log").open("w") as app_log:
            self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=app_log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}; see {self.error_log}")
            try:
                status, _, _ = Http(self.port).request("GET", "/healthz")
                if status in (200, 503):
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        self.__exit__()
        raise RuntimeError(f"gunicorn did not answer within 60 s; see {self.error_log}")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def server_seconds(self, *, since_line: int = 0) -> tuple[float, int]:
        """Seconds the server spent on the requests logged after line ``since_line``, and how many."""
        lines = self.access_log.read_text().splitlines()[since_line:]
        return sum(int(line.split()[-1]) for line in lines) / 1e6, len(lines)

    def access_lines(self) -> int:
        return len(self.access_log.read_text().splitlines()) if self.access_log.exists() else 0


_CSRF_INPUT = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


def csrf_token(html: bytes, where: str = "the page") -> str:
    match = _CSRF_INPUT.search(html)
    if match is None:
        raise RuntimeError(f"no CSRF token on {where}")
    return match.group(1).decode()


@dataclass
class Http:
    """One keep-alive connection, a cookie jar and optional token: the lightest honest client."""

    port: int
    token: str | None = None
    cookies: dict[str, str] = field(default_factory=dict)
    connection: http.client.HTTPConnection | None = None

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        sent = {"Host": "127.0.0.1", **(headers or {})}
        if self.token:
            sent["Authorization"] = f"Token {self.token}"
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.connection.request(method, path, body=body, headers=sent)
                response = self.connection.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # The server closed an idle keep-alive connection before reading the request.
                self.connection.close()
                self.connection = None
                if attempt == 2:
                    raise
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key.strip()] = rest.split(";", 1)[0]
        if response.getheader("Connection", "").lower() == "close":
            self.connection.close()
            self.connection = None
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        return self.request("GET", path, headers=headers)

    def post_json(self, path: str, payload: Any) -> tuple[int, Any]:
        status, _, data = self.request("POST", path, json.dumps(payload).encode(), {"Content-Type": "application/json"})
        return status, (json.loads(data) if data else None)

    def csrf_form(self, page: str) -> str:
        """GET a page with a form; return its CSRF token (the cookie is kept)."""
        status, _, html = self.get(page)
        return csrf_token(html, f"{page} (status {status})")

    def post_form(
        self, path: str, fields: dict[str, str], *, csrf_from: str = "", token: str = ""
    ) -> tuple[int, dict[str, str], bytes]:
        """POST a form with the CSRF token given, or read from the page ``csrf_from``."""
        fields = {"csrfmiddlewaretoken": token or self.csrf_form(csrf_from), **fields}
        body = urllib.parse.urlencode(fields).encode()
        return self.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"})

    def login(self, username: str, password: str) -> None:
        status, _, _ = self.post_form("/login/", {"username": username, "password": password}, csrf_from="/login/")
        if status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"login as {username} failed with {status}")
