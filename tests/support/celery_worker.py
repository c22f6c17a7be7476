"""Start a real Celery worker process against the test database, for tests that need one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.db import connection

REPO = Path(__file__).resolve().parents[2]


def test_database_url() -> str:
    """A DATABASE_URL naming the database this test run uses (the test database, not the real one)."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    if connection.vendor == "postgresql":
        user = quote(settings.get("USER") or "")
        password = quote(settings.get("PASSWORD") or "")
        auth = f"{user}:{password}@" if password else f"{user}@"
        return f"postgres://{auth}{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"
    raise RuntimeError(f"unsupported database vendor {connection.vendor}")


def worker_env(broker_url: str, broker_folder: Path | None = None, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        CELERY_EAGER="0",
        CELERY_BROKER_URL=broker_url,
        DATABASE_URL=test_database_url(),
        PYTHONUNBUFFERED="1",
    )
    if broker_folder is not None:
        env["CELERY_BROKER_FOLDER"] = str(broker_folder)
    env.update(extra)
    return env


@contextmanager
def running_worker(env: dict[str, str], log_path: Path, hostname: str, *args: str) -> Iterator[subprocess.Popen[Any]]:
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                f"--hostname={hostname}",
                *args,
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def celery_call(env: dict[str, str], task_name: str) -> str:
    """Send a task by name through the broker in ``env`` (a separate process: a real producer)."""
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "config", "call", task_name],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def wait_for(predicate: Callable[[], bool], timeout: float = 40.0, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class RedisServer:
    """A Redis server of the test's own on a free loopback port, which the test can stop and
    start again (same port, so clients reconnect)."""

    def __init__(self, workdir: Path) -> None:
        import shutil
        import socket

        self.binary = os.environ.get("RIGHTLEVEL_REDIS_SERVER") or shutil.which("redis-server") or ""
        if not self.binary:
            raise RuntimeError("redis-server is not installed: run scripts/test (it installs Debian's redis-server)")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.workdir = workdir
        self.process: subprocess.Popen[Any] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        self.process = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        if not wait_for(lambda: _ping(client), timeout=10, interval=0.05):
            raise RuntimeError("Redis did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


def _ping(client: Any) -> bool:
    try:
        return bool(client.ping())
    except Exception:  # noqa: BLE001
        return False
