"""Audit action names of the imaging app (one place, to be folded into the action catalogue)."""

from __future__ import annotations

from typing import Final

IMAGE_RECEIVED: Final = "imaging.image_received"
IMAGE_ASSIGNED: Final = "imaging.image_assigned"
IMAGE_READ: Final = "imaging.image_read"

ACTIONS: Final[tuple[str, ...]] = (IMAGE_RECEIVED, IMAGE_ASSIGNED, IMAGE_READ)
