"""Consent scans: what is accepted, under which name it is stored, how it is served.

A scan is accepted only as PDF, PNG or JPEG, recognised by its first bytes (the name and the
browser's content type are the uploader's to choose); the size cap is the consent service's. It
is stored under a random name: the original name may carry the patient's name or MRN, and it is
served only as a download (``ConsentScanView``).
"""

from __future__ import annotations

import secrets
from typing import Final

from django.core.files.uploadedfile import UploadedFile

SCAN_TYPE_REFUSED: Final = "The scan must be a PDF, PNG or JPEG file."
# (leading bytes, extension, content type)
SCAN_TYPES: Final = (
    (b"%PDF-", "pdf", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "png", "image/png"),
    (b"\xff\xd8\xff", "jpg", "image/jpeg"),
)
CONTENT_TYPES: Final = {extension: content_type for _, extension, content_type in SCAN_TYPES}


def scan_kind(upload: UploadedFile) -> tuple[str, str] | None:
    """(extension, content type) from the file's content, or None when it is none of the three."""
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    for magic, extension, content_type in SCAN_TYPES:
        if head.startswith(magic):
            return extension, content_type
    return None


def scan_storage_name(extension: str) -> str:
    return f"{secrets.token_hex(16)}.{extension}"
