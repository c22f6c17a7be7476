"""Queueing Celery tasks from the write path, by name.

Tasks call services; services never import their tasks. A service that hands work to a worker
does it from a ``transaction.on_commit`` callback (a worker must never pick up work whose rows
are not committed yet), naming the task as it is registered (``checklist.tasks.<name>``).
``tests/core/test_layout.py`` holds the write path to both rules.
"""

from __future__ import annotations

from typing import Any

from celery import current_app


def task_named(name: str) -> Any:
    """The registered Celery task called ``name`` (KeyError when no such task is registered)."""
    return current_app.tasks[name]
