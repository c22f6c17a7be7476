"""A task executed by a real worker process, on the filesystem broker and on Redis."""

from __future__ import annotations

from pathlib import Path

import pytest

from checklist.models import WorkerHeartbeat
from tests.support.celery_worker import celery_call, running_worker, wait_for, worker_env

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _heartbeat_seen(hostname: str) -> bool:
    return WorkerHeartbeat.objects.filter(hostname=hostname, beats__gte=1).exists()


def _run_heartbeat_through(env: dict[str, str], tmp_path: Path, hostname: str) -> None:
    log = tmp_path / "worker.log"
    with running_worker(env, log, hostname, "--pool=solo"):
        task_id = celery_call(env, "checklist.tasks.heartbeat")
        assert task_id
        seen = wait_for(lambda: _heartbeat_seen(hostname))
        assert seen, f"the worker never ran the task; its log:\n{log.read_text()}"
    text = log.read_text()
    assert f"Task checklist.tasks.heartbeat[{task_id}] received" in text
    assert f"RightLevel heartbeat: worker {hostname} alive" in text


def test_a_real_worker_runs_a_task_from_the_filesystem_broker(tmp_path: Path) -> None:
    env = worker_env("filesystem://", broker_folder=tmp_path / "broker")
    _run_heartbeat_through(env, tmp_path, "fs-worker@test")


@pytest.mark.redis
def test_a_real_worker_runs_a_task_from_redis(tmp_path: Path, redis_url: str) -> None:
    env = worker_env(redis_url)
    _run_heartbeat_through(env, tmp_path, "redis-worker@test")
