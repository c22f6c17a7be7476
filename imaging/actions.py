"""Audit actions of the imaging app: members of the trail's one catalogue (checklist.audit.catalogue)."""

from __future__ import annotations

from typing import Final

from checklist.audit.catalogue import AuditAction

IMAGE_RECEIVED: Final = AuditAction.LEVEL_IMAGE_RECEIVED
IMAGE_ASSIGNED: Final = AuditAction.LEVEL_IMAGE_ASSIGNED
IMAGE_READ: Final = AuditAction.LEVEL_IMAGE_READ
IMAGE_SECOND_READ: Final = AuditAction.LEVEL_IMAGE_SECOND_READ
REPORT_STORED: Final = AuditAction.LEVEL_IMAGE_REPORT_STORED

ACTIONS: Final[tuple[AuditAction, ...]] = (IMAGE_RECEIVED, IMAGE_ASSIGNED, IMAGE_READ, IMAGE_SECOND_READ, REPORT_STORED)
