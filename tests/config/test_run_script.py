"""scripts/run behaves (issue 14, item 8): Ctrl-C is a clean stop (exit 0, no "a process exited"),
only the processes it started are stopped (by id, never by name), logs are appended across
restarts and rotated, never truncated."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.celery_worker import REPO

pytestmark = [pytest.mark.slow]
DICOM_UP = "DICOM receiver RIGHTLEVEL on 127.0.0.1:"
DROPPED = ("DATABASE_URL", "CELERY_", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "RIGHTLEVEL_", "EMAIL_URL", "REMINDER_")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # 503 while the worker warms up is an answer too
    except OSError:
        return False


def _mllp_answers(port: int) -> bool:
    from interfaces.mllp import MllpClient

    try:
        with MllpClient("127.0.0.1", port, timeout=10) as client:
            return "MSA|AR|" in client.send("not HL7")
    except OSError:
        return False


def _run_and_interrupt(tmp_path: Path, port: int, run: int) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(DROPPED)}
    mllp_port = _free_port()
    env.update(RIGHTLEVEL_VAR_DIR=str(tmp_path / "var"), DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
               PORT=str(port), MLLP_PORT=str(mllp_port), PYTHON=sys.executable,
               IMAGING_PORT=str(_free_port()))  # fmt: skip
    process = subprocess.Popen(["bash", "scripts/run"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not _answers(port):
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "scripts/run did not come up"
            time.sleep(1)
        while not _mllp_answers(mllp_port):  # the HL7 listener runs too, and answers (AR for "not HL7")
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "scripts/run did not start the MLLP listener"
            time.sleep(1)
        # And the DICOM receiver, which says so in its log once listening (it may come up last).
        dicom_log = tmp_path / "var" / "log" / "dicom.log"
        while not dicom_log.exists() or dicom_log.read_text().count(DICOM_UP) < run:
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "scripts/run did not start the DICOM receiver"
            time.sleep(1)
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C at a terminal: the whole foreground group
        output, _ = process.communicate(timeout=240)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0, output
    assert "RightLevel stopped." in output
    assert "process exited" not in output, output
    assert not _answers(port)
    assert not _mllp_answers(mllp_port)
    with pytest.raises(ProcessLookupError):  # every process it started is gone
        os.killpg(process.pid, 0)
    return output


def test_ctrl_c_is_a_clean_stop_that_leaves_others_alone_and_logs_are_appended(tmp_path: Path) -> None:
    # Someone else's process whose command line matches what the script used to pkill by name.
    decoy = subprocess.Popen(["bash", "-c", 'exec -a "tail -n 0 -F var/log/worker.log" sleep 600'])
    try:
        first = _run_and_interrupt(tmp_path, _free_port(), 1)
        assert decoy.poll() is None, "scripts/run stopped a process it did not start"
        second = _run_and_interrupt(tmp_path, _free_port(), 2)
        assert decoy.poll() is None
    finally:
        decoy.kill()
    assert "Added" in first and "already exist: nothing added" in second
    # The local time-stamping authority: started by the run, its certificate made once and kept.
    assert "local RFC 3161 TSA (openssl ts) on 127.0.0.1:" in first
    assert "Seals are time-stamped every 5 minutes by the TSA at http://127.0.0.1:" in second
    assert (tmp_path / "var" / "tsa" / "tsa-chain.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert "MLLP listening on 127.0.0.1:" in (tmp_path / "var" / "log" / "mllp.log").read_text()
    for name in ("web.log", "worker.log", "beat.log", "mllp.log", "dicom.log"):
        text = (tmp_path / "var" / "log" / name).read_text()
        assert text.count("=== RightLevel started") == 2, name  # appended, not truncated
    # The embedded DICOM receiver (and worklist) ran, and the demo cases got their level images.
    assert DICOM_UP in (tmp_path / "var" / "log" / "dicom.log").read_text()
    assert "Demo level images:" in first and "Demo level images: 0 new." in second
    assert list((tmp_path / "var" / "images").rglob("*.dcm"))


def test_a_log_past_the_limit_is_rotated_not_truncated(tmp_path: Path) -> None:
    log = tmp_path / "web.log"
    for generation in range(5):
        log.write_text(f"generation {generation}\n" * 10)
        subprocess.run(["bash", "-c", f'source scripts/lib/logs.sh && LOG_ROTATE_BYTES=50 rotate_log "{log}"'],
                       cwd=REPO, check=True)  # fmt: skip
    assert not log.exists()
    assert "generation 4" in (tmp_path / "web.log.1").read_text()
    assert "generation 3" in (tmp_path / "web.log.2").read_text()
    assert "generation 2" in (tmp_path / "web.log.3").read_text()
    assert not (tmp_path / "web.log.4").exists()
    small = tmp_path / "beat.log"
    small.write_text("x\n")
    subprocess.run(["bash", "-c", f'source scripts/lib/logs.sh && rotate_log "{small}"'], cwd=REPO, check=True)
    assert small.read_text() == "x\n"  # under the limit: left alone
