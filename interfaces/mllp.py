"""MLLP (HL7 minimal lower layer protocol): <VT> message <FS><CR>, one ACK per message.

The server is a threading TCP server; messages from all connections are applied one at a time
(a lock), so they are applied in the order they arrive. Framing faults never stop it: bytes
outside a frame are skipped (logged), a frame larger than the limit is answered with AR and
skipped up to its end, and the next frame on the same connection is read as usual.

TLS is optional: given an ``ssl.SSLContext`` (``server_tls_context``: a certificate and key, and
a CA to require client certificates from), every connection is TLS; the handshake runs in the
connection's own thread, and a client that fails it is logged and dropped, the listener goes on.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable, Iterator

START = b"\x0b"
END = b"\x1c\x0d"
logger = logging.getLogger("rightlevel.interfaces")

Handler = Callable[[bytes, str], str]
# What the handler is given for a frame over the size limit (never parsed as a message).
TOO_LARGE = object()


def server_tls_context(cert_file: str, key_file: str, client_ca_file: str = "") -> ssl.SSLContext:
    """TLS 1.2 or newer with the listener's certificate; with ``client_ca_file``, only clients
    with a certificate from that CA are served (mutual TLS). Raises OSError/SSLError on bad files."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile=cert_file, keyfile=key_file)
    if client_ca_file:
        context.load_verify_locations(cafile=client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_tls_context(ca_file: str = "", cert_file: str = "", key_file: str = "") -> ssl.SSLContext:
    """TLS that verifies the listener's certificate (against ``ca_file``, else the system's CAs),
    optionally presenting a client certificate."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert_file:
        context.load_cert_chain(certfile=cert_file, keyfile=key_file or None)
    return context


def frame(message: str | bytes) -> bytes:
    data = message.encode("utf-8") if isinstance(message, str) else message
    return START + data + END


class FrameReader:
    """Splits a byte stream into frames. Yields bytes, or ``TOO_LARGE`` once per oversized frame."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.buffer = bytearray()
        self.in_frame = False
        self.skipping = False
        self.skipped_outside = 0

    def feed(self, data: bytes) -> Iterator[bytes | object]:
        self.buffer += data
        while True:
            if not self.in_frame:
                start = self.buffer.find(START)
                if start < 0:
                    self.skipped_outside += len(self.buffer)
                    self.buffer.clear()
                    return
                self.skipped_outside += start
                del self.buffer[: start + 1]
                self.in_frame = True
            end = self.buffer.find(END)
            if end < 0:
                if len(self.buffer) > self.limit:
                    if not self.skipping:
                        self.skipping = True
                        yield TOO_LARGE
                    # Keep a byte that could be the first half of END.
                    del self.buffer[:-1]
                return
            body = bytes(self.buffer[:end])
            del self.buffer[: end + len(END)]
            self.in_frame = False
            if self.skipping:
                self.skipping = False
                continue
            if len(body) > self.limit:
                yield TOO_LARGE
                continue
            yield body


class _Handler(socketserver.BaseRequestHandler):
    server: MllpServer

    def handle(self) -> None:
        peer = f"{self.client_address[0]}:{self.client_address[1]}"
        reader = FrameReader(self.server.limit)
        sock: socket.socket = self.request
        sock.settimeout(self.server.idle_timeout)
        # Each ACK is one small write: sent at once, not held back for the previous one's TCP ack.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            if isinstance(sock, ssl.SSLSocket):
                try:
                    sock.do_handshake()
                except (ssl.SSLError, TimeoutError) as error:
                    logger.warning("mllp %s: TLS handshake failed (%s)", peer, getattr(error, "reason", None) or error)
                    return
            while True:
                try:
                    data = sock.recv(65536)
                except TimeoutError:
                    return
                if not data:
                    return
                for body in reader.feed(data):
                    if reader.skipped_outside:
                        logger.warning("mllp %s: %d bytes outside a frame skipped", peer, reader.skipped_outside)
                        reader.skipped_outside = 0
                    ack = self.server.process(body, peer)
                    sock.sendall(frame(ack))
                if reader.skipped_outside:
                    logger.warning("mllp %s: %d bytes outside a frame skipped", peer, reader.skipped_outside)
                    reader.skipped_outside = 0
        except (ConnectionError, OSError) as error:
            logger.info("mllp %s: connection closed (%s)", peer, type(error).__name__)
        finally:
            self.server.connection_done()


class MllpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: Handler,
        *,
        limit: int,
        too_large: Callable[[str], str],
        idle_timeout: float = 300.0,
        on_connection_done: Callable[[], None] | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.handler = handler
        self.tls = tls
        self.limit = limit
        self.too_large = too_large
        self.idle_timeout = idle_timeout
        self.lock = threading.Lock()
        self.on_connection_done = on_connection_done
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, object]:
        sock, address = super().get_request()
        if self.tls is None:
            return sock, address
        # The handshake waits for the client: it runs in the connection's thread (_Handler).
        return self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def process(self, body: bytes | object, peer: str) -> str:
        with self.lock:
            if body is TOO_LARGE:
                return self.too_large(peer)
            assert isinstance(body, bytes)
            return self.handler(body, peer)

    def connection_done(self) -> None:
        if self.on_connection_done is not None:
            self.on_connection_done()


class MllpClient:
    """A blocking MLLP client: send one message, wait for its ACK."""

    def __init__(self, host: str, port: int, *, timeout: float = 30.0, tls: ssl.SSLContext | None = None) -> None:
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            try:
                sock = tls.wrap_socket(sock, server_hostname=host)
            except BaseException:
                sock.close()
                raise
        self.sock = sock
        self.reader = FrameReader(16 * 1024 * 1024)
        self.pending: list[bytes] = []

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def receive(self) -> str:
        while not self.pending:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the listener closed the connection")
            self.pending.extend(b for b in self.reader.feed(data) if isinstance(b, bytes))
        return self.pending.pop(0).decode("utf-8")

    def send(self, message: str | bytes) -> str:
        self.send_raw(frame(message))
        return self.receive()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> MllpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
