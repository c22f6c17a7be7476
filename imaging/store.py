"""Where DICOM instances live: one small protocol, two implementations.

``LocalImageStore`` is the embedded default (a folder the receiver writes into);
``DicomWebImageStore`` talks to a PACS (Orthanc with its DICOMweb plugin, or any other) through
STOW-RS (store), QIDO-RS (find) and WADO-RS (fetch). Callers hold an ``ImageStore`` and never
know which one it is.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Protocol

from pydicom import dcmread
from pydicom.errors import InvalidDicomError

_UID_CHARS = frozenset("0123456789.")


class ImageStoreError(Exception):
    """The store could not do what was asked (unreachable, refused, not found)."""


@dataclass(frozen=True)
class InstanceRef:
    study_uid: str
    series_uid: str
    sop_uid: str

    @property
    def key(self) -> str:
        return f"{self.study_uid}/{self.series_uid}/{self.sop_uid}"

    @classmethod
    def from_key(cls, key: str) -> InstanceRef:
        parts = key.split("/")
        if len(parts) != 3 or not all(_valid_uid(p) for p in parts):
            raise ImageStoreError(f"not an instance key: {key!r}")
        return cls(*parts)


def _valid_uid(uid: str) -> bool:
    return 0 < len(uid) <= 64 and set(uid) <= _UID_CHARS and not uid.startswith(".") and ".." not in uid


def ref_of(data: bytes) -> InstanceRef:
    """The UIDs of a DICOM Part 10 file (header only)."""
    try:
        ds = dcmread(BytesIO(data), stop_before_pixels=True)
        ref = InstanceRef(str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID))
    except (InvalidDicomError, AttributeError, ValueError, EOFError) as exc:
        raise ImageStoreError(f"not a DICOM instance with study, series and SOP instance UIDs: {exc}") from exc
    if not all(_valid_uid(u) for u in (ref.study_uid, ref.series_uid, ref.sop_uid)):
        raise ImageStoreError("a UID is not a valid DICOM UID")
    return ref


class ImageStore(Protocol):
    def store(self, data: bytes) -> InstanceRef:
        """Keep one DICOM Part 10 file; return its UIDs."""

    def find(
        self, *, study_uid: str = "", accession_number: str = "", patient_id: str = "", modalities: tuple[str, ...] = ()
    ) -> list[InstanceRef]:
        """Instances matching every given attribute (QIDO-RS semantics: exact values), and of one of
        ``modalities`` when given (so a search for level images skips reports stored back)."""

    def fetch(self, ref: InstanceRef) -> bytes:
        """The instance as a DICOM Part 10 file; ``ImageStoreError`` if it is not there."""

    def remove(self, ref: InstanceRef) -> None:
        """Undo a ``store`` whose record could not be written (nothing half-stored)."""


class LocalImageStore:
    """``<root>/<study>/<series>/<sop>.dcm``, each written to a temporary file and renamed into
    place, so a reader never sees half a file."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def _path(self, ref: InstanceRef) -> Path:
        InstanceRef.from_key(ref.key)  # refuses anything that is not three UIDs
        return self.root / ref.study_uid / ref.series_uid / f"{ref.sop_uid}.dcm"

    def store(self, data: bytes) -> InstanceRef:
        ref = ref_of(data)
        path = self._path(ref)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return ref

    def _all(self) -> Iterator[Path]:
        if self.root.is_dir():
            yield from sorted(self.root.glob("*/*/*.dcm"))

    def find(
        self, *, study_uid: str = "", accession_number: str = "", patient_id: str = "", modalities: tuple[str, ...] = ()
    ) -> list[InstanceRef]:
        found = []
        paths = self._all() if not study_uid else sorted((self.root / study_uid).glob("*/*.dcm"))
        for path in paths:
            ds = dcmread(path, stop_before_pixels=True)
            if accession_number and str(ds.get("AccessionNumber", "")) != accession_number:
                continue
            if patient_id and str(ds.get("PatientID", "")) != patient_id:
                continue
            if modalities and str(ds.get("Modality", "")) not in modalities:
                continue
            found.append(InstanceRef(str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)))
        return found

    def fetch(self, ref: InstanceRef) -> bytes:
        try:
            return self._path(ref).read_bytes()
        except FileNotFoundError as exc:
            raise ImageStoreError(f"instance {ref.sop_uid} is not in the store") from exc

    def remove(self, ref: InstanceRef) -> None:
        self._path(ref).unlink(missing_ok=True)


class DicomWebImageStore:
    """A PACS through DICOMweb. ``base_url`` is the service root (Orthanc: ``http://host:8042/dicom-web``)."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _request(
        self, path: str, *, accept: str, data: bytes | None = None, content_type: str = ""
    ) -> tuple[bytes, str]:
        url = f"{self.base_url}{path}"
        if not url.startswith(("http://", "https://")):
            raise ImageStoreError("the DICOMweb URL must be http or https")
        headers = {"Accept": accept}
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data is not None else "GET")  # noqa: S310 - scheme checked above
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return response.read(), response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            raise ImageStoreError(f"DICOMweb {exc.code} for {path.split('?')[0]}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise ImageStoreError(f"DICOMweb unreachable: {exc}") from exc

    def store(self, data: bytes) -> InstanceRef:
        ref = ref_of(data)
        boundary = uuid.uuid4().hex
        body = (
            f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
            + data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        self._request(
            "/studies",
            accept="application/dicom+json",
            data=body,
            content_type=f'multipart/related; type="application/dicom"; boundary={boundary}',
        )
        return ref

    def find(
        self, *, study_uid: str = "", accession_number: str = "", patient_id: str = "", modalities: tuple[str, ...] = ()
    ) -> list[InstanceRef]:
        query = {
            k: v
            for k, v in (
                ("StudyInstanceUID", study_uid),
                ("AccessionNumber", accession_number),
                ("PatientID", patient_id),
            )
            if v
        }
        query["includefield"] = "0020000D,0020000E,00080018,00080060"
        body, _ = self._request(f"/instances?{urllib.parse.urlencode(query)}", accept="application/dicom+json")
        if not body.strip():
            return []  # 204 No Content: nothing matched
        found = []
        for item in json.loads(body):
            if modalities and item.get("00080060", {}).get("Value", [""])[0] not in modalities:
                continue
            values = [item.get(tag, {}).get("Value", [""])[0] for tag in ("0020000D", "0020000E", "00080018")]
            found.append(InstanceRef(*values))
        return found

    def fetch(self, ref: InstanceRef) -> bytes:
        InstanceRef.from_key(ref.key)
        body, content_type = self._request(
            f"/studies/{ref.study_uid}/series/{ref.series_uid}/instances/{ref.sop_uid}",
            accept='multipart/related; type="application/dicom"',
        )
        parts = _multipart_parts(body, content_type)
        if len(parts) != 1:
            raise ImageStoreError(f"WADO-RS returned {len(parts)} parts for one instance")
        return parts[0]

    def remove(self, ref: InstanceRef) -> None:
        # DICOMweb has no standard delete; a PACS keeps what it was sent (the record is what failed).
        return None


def _multipart_parts(body: bytes, content_type: str) -> list[bytes]:
    if not content_type.lower().startswith("multipart/"):
        raise ImageStoreError(f"WADO-RS answered {content_type or 'no content type'}, not multipart")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    parts = []
    for part in message.iter_parts():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            parts.append(payload)
    return parts


def image_store() -> ImageStore:
    """The configured store: DICOMweb when ``IMAGING_DICOMWEB_URL`` is set, else the local folder."""
    from django.conf import settings

    if settings.IMAGING_DICOMWEB_URL:
        return DicomWebImageStore(settings.IMAGING_DICOMWEB_URL, timeout=settings.IMAGING_DICOMWEB_TIMEOUT)
    return LocalImageStore(settings.IMAGING_STORAGE_DIR)
