"""manage.py dicom_receive: refuses to start without an allow-list; serves a real socket."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.imaging.conftest import c_echo

ROOT = Path(__file__).resolve().parents[2]


def test_without_an_allow_list_the_receiver_does_not_start(settings) -> None:
    settings.IMAGING_CALLING_AE_TITLES = {}
    with pytest.raises(CommandError, match="IMAGING_CALLING_AE_TITLES"):
        call_command("dicom_receive", "--port", "1")


@pytest.mark.parametrize("allow", ["CARM1", "=OR 1", "A-VERY-LONG-AE-TITLE=OR 1"])
def test_a_malformed_allow_option_is_refused(allow: str) -> None:
    with pytest.raises(CommandError, match="--allow"):
        call_command("dicom_receive", "--allow", allow)


def test_the_command_answers_c_echo_on_its_port_and_stops_on_interrupt(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "IMAGING_STORAGE_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "dicom_receive", "--port", str(port), "--allow", "CARM1=OR 1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(process.stdout.read().decode() if process.stdout else "no output") from None
                time.sleep(0.1)
        assert c_echo(port) == 0x0000
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=20)
    assert f"on 127.0.0.1:{port}, allowing CARM1" in out.decode()
