#!/usr/bin/env python3
"""A local RFC 3161 time-stamping authority for the test, run and bench commands.

A real TSA: ``openssl ts -reply`` signs every request with the TSA's own key, whose certificate
(extendedKeyUsage critical timeStamping) is issued by a CA of its own. Both are made with
``openssl`` at start-up in ``--dir`` when they are not there yet (so a demo's tokens stay
verifiable across restarts); ``--dir``/tsa-chain.pem is the chain to verify tokens against
(the TSA certificate, then the CA). It serves HTTP on 127.0.0.1: POST
``application/timestamp-query`` -> ``application/timestamp-reply``, one request at a time (the
serial file is openssl's). Standard library only; nothing here parses ASN.1.

    python scripts/tsa_server.py --dir DIR [--port 0] [--port-file FILE]
    python scripts/tsa_server.py --dir DIR --certificates-only   # make the key and chain, exit
"""

from __future__ import annotations

import argparse
import http.server
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

MAX_QUERY_BYTES = 64 * 1024
QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"

CONFIG = """\
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = placeholder
[ ca_ext ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ tsa_ext ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, nonRepudiation
extendedKeyUsage = critical, timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.3161.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)  # noqa: S603, S607


def certificates_ensure(directory: Path, *, name: str = "RightLevel local TSA") -> Path:
    """Make the CA, the TSA key and its certificate in ``directory`` unless they exist; return the
    chain file (TSA certificate, then CA certificate). ``directory`` may be relative (the run
    command's ``var/tsa``): openssl runs inside it, so every path it is given is made absolute."""
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "openssl.cnf"
    config.write_text(CONFIG.format(dir=directory.resolve()))
    chain = directory / "tsa-chain.pem"
    if chain.exists() and (directory / "tsa.key").exists():
        return chain
    d = directory
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ca.key", cwd=d)
    _openssl("req", "-new", "-x509", "-config", str(config), "-key", "ca.key", "-subj", f"/CN={name} CA",
             "-days", "3650", "-extensions", "ca_ext", "-out", "ca.pem", cwd=d)  # fmt: skip
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "tsa.key", cwd=d)
    _openssl("req", "-new", "-config", str(config), "-key", "tsa.key", "-subj", f"/CN={name}", "-out", "tsa.csr", cwd=d)
    _openssl("x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "3650", "-extfile", str(config), "-extensions", "tsa_ext", "-out", "tsa.pem", cwd=d)  # fmt: skip
    os.chmod(d / "ca.key", 0o600)
    os.chmod(d / "tsa.key", 0o600)
    (d / "serial").write_text("01\n")
    chain.write_text((d / "tsa.pem").read_text() + (d / "ca.pem").read_text())
    return chain


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "RightLevelLocalTSA/1"
    directory: Path
    lock = threading.Lock()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if (
            self.headers.get("Content-Type", "").split(";")[0].strip() != QUERY_TYPE
            or not 0 < length <= MAX_QUERY_BYTES
        ):
            self.send_error(400, f"POST {QUERY_TYPE} (at most {MAX_QUERY_BYTES} bytes)")
            return
        query = self.rfile.read(length)
        with self.lock, tempfile.TemporaryDirectory(dir=self.directory) as work:
            query_file, reply_file = Path(work) / "q.tsq", Path(work) / "r.tsr"
            query_file.write_bytes(query)
            result = subprocess.run(  # noqa: S603
                ["openssl", "ts", "-reply", "-config", str(self.directory / "openssl.cnf"),  # noqa: S607
                 "-queryfile", str(query_file), "-out", str(reply_file)],
                capture_output=True, check=False,
            )  # fmt: skip
            reply = reply_file.read_bytes() if result.returncode == 0 and reply_file.exists() else b""
        if not reply:
            self.send_error(500, "openssl ts -reply failed")
            return
        self.send_response(200)
        self.send_header("Content-Type", REPLY_TYPE)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def do_GET(self) -> None:  # the chain, for whoever verifies tokens
        if self.path != "/tsa-chain.pem":
            self.send_error(404)
            return
        body = (self.directory / "tsa-chain.pem").read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-pem-file")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        if os.environ.get("TSA_SERVER_LOG"):
            super().log_message(format, *args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, type=Path, help="where the keys, certificates and serial live")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--port-file", type=Path, help="write the port here once listening")
    parser.add_argument("--certificates-only", action="store_true", help="make the certificates and exit")
    args = parser.parse_args()
    chain = certificates_ensure(args.dir)
    if args.certificates_only:
        print(chain)
        return
    _Handler.directory = args.dir.resolve()
    server = http.server.HTTPServer(("127.0.0.1", args.port), _Handler)
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file.with_suffix(".tmp")
        tmp.write_text(f"{port}\n")
        tmp.replace(args.port_file)
    print(f"local TSA on 127.0.0.1:{port}, chain {chain}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
