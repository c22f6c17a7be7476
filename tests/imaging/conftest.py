"""Fixtures of the imaging tests: a real storage receiver on 127.0.0.1 and a C-arm that sends to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from imaging.receiver import STORAGE_SOP_CLASSES, StorageReceiver
from imaging.store import LocalImageStore

CARM = "CARM1"


@pytest.fixture
def image_dir(tmp_path: Path) -> Path:
    return tmp_path / "images"


@pytest.fixture
def receiver(image_dir: Path, team: Any) -> Iterator[StorageReceiver]:
    """The embedded receiver on a free port, allowing CARM1 in the team's room."""
    server = StorageReceiver(
        allowed={CARM: team.room.name}, store=LocalImageStore(image_dir), max_bytes=8 * 1024 * 1024
    )
    server.start("127.0.0.1", 0)
    try:
        yield server
    finally:
        server.stop()


def c_store(
    port: int,
    ds: Dataset,
    *,
    calling: str = CARM,
    called: str = "RIGHTLEVEL",
    transfer_syntaxes: list[str] | None = None,
) -> Any:
    """Send one C-STORE as a C-arm would; the status data set (or the association, if refused)."""
    ae = AE(ae_title=calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    for sop_class in STORAGE_SOP_CLASSES:
        if transfer_syntaxes:
            ae.add_requested_context(sop_class, transfer_syntaxes)
        else:
            ae.add_requested_context(sop_class)
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    if not assoc.is_established:
        return assoc
    try:
        return assoc.send_c_store(ds)
    finally:
        assoc.release()


def c_echo(port: int, calling: str = CARM) -> int:
    ae = AE(ae_title=calling)
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title="RIGHTLEVEL")
    assert assoc.is_established
    try:
        return int(assoc.send_c_echo().Status)
    finally:
        assoc.release()


@pytest.fixture
def send(receiver: StorageReceiver) -> Callable[..., Any]:
    def go(ds: Dataset, **kwargs: Any) -> Any:
        return c_store(receiver.port, ds, **kwargs)

    return go
