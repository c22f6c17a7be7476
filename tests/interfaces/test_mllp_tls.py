"""The MLLP listener over TLS: a self-signed certificate made with openssl in the test, a real TLS
client (the interface's own, and hl7_send), mutual TLS, and clients that fail the handshake."""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from checklist.models import Case
from interfaces.listener import listener_create
from interfaces.mllp import MllpClient, client_tls_context, frame, server_tls_context
from interfaces.samples import siu


def tomorrow(hour: int = 8) -> dt.datetime:
    day = timezone.localtime() + dt.timedelta(days=1)
    return day.replace(hour=hour, minute=0, second=0, microsecond=0, tzinfo=None)


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.fail("openssl is not installed (scripts/test installs it)")
    cert, key = directory / f"{name}.pem", directory / f"{name}-key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={name}",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def certificates(tmp_path: Path) -> dict[str, Path]:
    server_cert, server_key = self_signed(tmp_path, "listener")
    client_cert, client_key = self_signed(tmp_path, "ehr-engine")
    return {"cert": server_cert, "key": server_key, "client_cert": client_cert, "client_key": client_key}


def serve(tls: ssl.SSLContext) -> Iterator[tuple[str, int]]:
    server = listener_create("127.0.0.1", 0, tls=tls)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[:2]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def tls_listener(hospital, certificates) -> Iterator[tuple[str, int]]:
    yield from serve(server_tls_context(str(certificates["cert"]), str(certificates["key"])))


@pytest.fixture
def mutual_tls_listener(hospital, certificates) -> Iterator[tuple[str, int]]:
    context = server_tls_context(str(certificates["cert"]), str(certificates["key"]), str(certificates["client_cert"]))
    yield from serve(context)


def msa(ack: str) -> list[str]:
    return next(s for s in ack.split("\r") if s.startswith("MSA")).split("|")


def test_a_tls_client_that_trusts_the_certificate_is_served(tls_listener, certificates) -> None:
    host, port = tls_listener
    with MllpClient(host, port, timeout=30, tls=client_tls_context(str(certificates["cert"]))) as client:
        assert isinstance(client.sock, ssl.SSLSocket) and client.sock.version() in ("TLSv1.2", "TLSv1.3")
        assert msa(client.send(siu("S12", control_id="T1", appointment_id="A1", start=tomorrow())))[1] == "AA"
        assert msa(client.send(siu("S12", control_id="T1", appointment_id="A1", start=tomorrow())))[3] == (
            "Repeat: already received."
        )
    assert Case.objects.count() == 1


def test_clients_that_fail_the_handshake_are_dropped_and_the_listener_goes_on(tls_listener, certificates) -> None:
    host, port = tls_listener
    # A client that does not trust the certificate refuses it.
    with pytest.raises(ssl.SSLCertVerificationError):
        MllpClient(host, port, timeout=30, tls=client_tls_context())
    # Plain MLLP to a TLS listener: no ACK, the connection is closed.
    with socket.create_connection((host, port), timeout=30) as plain:
        plain.sendall(frame(siu("S12", control_id="P1", appointment_id="A2", start=tomorrow())))
        try:
            answer = plain.recv(4096)  # nothing, or a TLS alert: never an ACK
        except ConnectionResetError:
            answer = b""
        assert b"MSA" not in answer
    with MllpClient(host, port, timeout=30, tls=client_tls_context(str(certificates["cert"]))) as client:
        assert msa(client.send(siu("S12", control_id="T2", appointment_id="A3", start=tomorrow())))[1] == "AA"
    assert Case.objects.count() == 1


def test_mutual_tls_serves_only_a_client_with_a_certificate_from_the_configured_ca(
    mutual_tls_listener, certificates
) -> None:
    host, port = mutual_tls_listener
    trust = str(certificates["cert"])
    anonymous = client_tls_context(trust)
    with pytest.raises((ssl.SSLError, ConnectionError)), MllpClient(host, port, timeout=30, tls=anonymous) as client:
        client.send(siu("S12", control_id="M0", appointment_id="A0", start=tomorrow()))
    with_cert = client_tls_context(trust, str(certificates["client_cert"]), str(certificates["client_key"]))
    with MllpClient(host, port, timeout=30, tls=with_cert) as client:
        assert msa(client.send(siu("S12", control_id="M1", appointment_id="A1", start=tomorrow())))[1] == "AA"
    assert Case.objects.count() == 1


def test_hl7_send_speaks_tls(tls_listener, certificates, tmp_path, capsys) -> None:
    host, port = tls_listener
    batch = tmp_path / "day.hl7"
    batch.write_text(siu("S12", control_id="F1", appointment_id="A9", start=tomorrow()).replace("\r", "\n"))
    call_command("hl7_send", str(batch), "--host", host, "--port", str(port), "--tls-ca", str(certificates["cert"]))
    assert "1 sent, 1 accepted, 0 refused" in capsys.readouterr().out
    with pytest.raises(CommandError, match="Cannot reach the MLLP listener"):
        call_command("hl7_send", str(batch), "--host", host, "--port", str(port), "--tls")


def test_the_listener_command_refuses_an_incomplete_or_unreadable_tls_configuration(db, tmp_path) -> None:
    with pytest.raises(CommandError, match="both a certificate"):
        call_command("mllp_listen", "--port", "0", "--tls-cert", str(tmp_path / "cert.pem"))
    with pytest.raises(CommandError, match="Cannot load the TLS certificate"):
        call_command("mllp_listen", "--port", "0", "--tls-cert", str(tmp_path / "x.pem"), "--tls-key", "k.pem")
