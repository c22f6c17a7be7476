"""A real MLLP listener on a free 127.0.0.1 port, serving from a thread of the test process."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from checklist import services
from checklist.access import roles
from checklist.models import Room
from interfaces.listener import listener_create
from interfaces.mllp import MllpClient
from interfaces.models import ServiceCodeMapping
from tests.support.factories import UserFactory


@dataclass
class Listener:
    host: str
    port: int

    def client(self) -> MllpClient:
        return MllpClient(self.host, self.port, timeout=60)


@pytest.fixture
def listener(transactional_db: None) -> Iterator[Listener]:
    server = listener_create("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Listener(*server.server_address[:2])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def hospital(transactional_db: None) -> Callable[[], None]:
    """OR 1 and OR 2, a surgeon and an anesthesia user known by their EHR IDs, two mapped codes."""
    services.roles_sync()  # a transactional test starts from a flushed database
    Room.objects.get_or_create(name="OR 1")
    Room.objects.get_or_create(name="OR 2")
    UserFactory(username="surgeon", roles=[roles.SURGEON], full_name="Dr Sid Surgeon")
    UserFactory(username="surgeon2", roles=[roles.SURGEON], full_name="Dr Second Surgeon")
    UserFactory(username="anesthesia", roles=[roles.ANESTHESIA], full_name="Dr Gas")
    ServiceCodeMapping.objects.create(code="SNRB-L", procedure="selective_nerve_root_block")
    ServiceCodeMapping.objects.create(code="DISC", procedure="discectomy")
    return lambda: None
