"""What a level image must be before it is kept: checks on a received DICOM instance.

Each refusal carries the DICOM C-STORE status the sender is given and a reason in words; the
receiver logs both, and the same checks guard any other way an instance comes in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from io import BytesIO
from typing import Final

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    RLELossless,
)

# C-STORE statuses (PS3.4 B.2.3: A7xx out of resources, A9xx data set does not match the SOP
# class, Cxxx cannot understand).
STATUS_SUCCESS: Final = 0x0000
STATUS_TOO_LARGE: Final = 0xA700
STATUS_STORE_FAILED: Final = 0xA701
STATUS_NO_PIXEL_DATA: Final = 0xA900
STATUS_NOT_DICOM: Final = 0xC000
STATUS_UNSUPPORTED_TRANSFER_SYNTAX: Final = 0xC001
STATUS_UNDECODABLE: Final = 0xC002
STATUS_UID_CONFLICT: Final = 0xC003

# Decoded by pydicom and numpy alone (no codec plugin on the server).
SUPPORTED_TRANSFER_SYNTAXES: Final = (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    RLELossless,
)
# Negotiated too, so that a C-arm sending them gets a status that says why, not a bare rejection.
REFUSED_TRANSFER_SYNTAXES: Final = (JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLosslessSV1, JPEG2000Lossless, JPEG2000)

TOO_LARGE = "The image is {size} bytes; this server accepts at most {limit}."
NOT_DICOM = "Not a DICOM instance: {detail}"
MISSING_UIDS = "Not a DICOM image instance: it has no {name}."
NO_PIXEL_DATA = "The instance has no pixel data (Pixel Data, 7FE0,0010): it is not an image."
UNSUPPORTED_TRANSFER_SYNTAX = "Transfer syntax {uid} ({name}) is not supported; send uncompressed or RLE lossless."
UNDECODABLE = "The pixel data cannot be decoded: {detail}"
NOT_AN_IMAGE = "Only single-channel (grayscale) images are level images; this one has {samples} samples per pixel."
UID_CONFLICT = "SOP Instance UID {uid} was already received with different pixel data."


class ImageRefused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class CheckedImage:
    """A decodable grayscale image and what the record keeps of it."""

    dataset: Dataset
    sop_instance_uid: str
    series_instance_uid: str
    study_instance_uid: str
    sop_class_uid: str
    modality: str
    rows: int
    columns: int
    number_of_frames: int
    pixel_sha256: str
    acquired_at: dt.datetime | None
    accession_number: str
    patient_id: str
    station_name: str


def size_check(size: int, limit: int) -> None:
    if size > limit:
        raise ImageRefused(STATUS_TOO_LARGE, TOO_LARGE.format(size=size, limit=limit))


def transfer_syntax_check(uid: str) -> None:
    if uid not in SUPPORTED_TRANSFER_SYNTAXES:
        from pydicom.uid import UID

        raise ImageRefused(
            STATUS_UNSUPPORTED_TRANSFER_SYNTAX, UNSUPPORTED_TRANSFER_SYNTAX.format(uid=uid, name=UID(uid).name)
        )


def parse_file(data: bytes, *, max_bytes: int) -> Dataset:
    """A DICOM Part 10 file as a data set (size checked before parsing)."""
    size_check(len(data), max_bytes)
    try:
        return dcmread(BytesIO(data))
    except (InvalidDicomError, EOFError, ValueError, KeyError, TypeError, OverflowError) as exc:
        raise ImageRefused(STATUS_NOT_DICOM, NOT_DICOM.format(detail=str(exc)[:200] or type(exc).__name__)) from exc


def _acquired_at(ds: Dataset) -> dt.datetime | None:
    """AcquisitionDateTime, else AcquisitionDate + Time, else ContentDate + Time; naive values are UTC
    (the C-arm's clock is expected to be set to the hospital's NTP time)."""
    candidates = [str(ds.get("AcquisitionDateTime", "") or "")]
    for date_tag, time_tag in (("AcquisitionDate", "AcquisitionTime"), ("ContentDate", "ContentTime")):
        date, time = str(ds.get(date_tag, "") or ""), str(ds.get(time_tag, "") or "")
        if date:
            candidates.append(date + time)
    for text in candidates:
        text = text.strip()
        if not text:
            continue
        offset = ""
        for sign in "+-":
            if sign in text[8:]:
                text, offset = text[: text.rindex(sign)], text[text.rindex(sign) :]
        digits, _, fraction = text.partition(".")
        formats = {8: "%Y%m%d", 12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S"}
        if len(digits) not in formats:
            continue
        try:
            at = dt.datetime.strptime(digits, formats[len(digits)])  # noqa: DTZ007 - the zone is applied below
        except ValueError:
            continue
        if fraction.isdigit():
            at = at.replace(microsecond=int(fraction[:6].ljust(6, "0")))
        zone = dt.UTC
        if len(offset) == 5 and offset[1:].isdigit():
            minutes = int(offset[1:3]) * 60 + int(offset[3:])
            zone = dt.timezone(dt.timedelta(minutes=minutes if offset[0] == "+" else -minutes))
        return at.replace(tzinfo=zone)
    return None


def check(ds: Dataset, *, transfer_syntax: str) -> CheckedImage:
    """Refuse what cannot be a level image; decode the pixels once to be sure they are readable."""
    transfer_syntax_check(transfer_syntax)
    for keyword, name in (
        ("SOPInstanceUID", "SOP Instance UID"),
        ("SeriesInstanceUID", "Series Instance UID"),
        ("StudyInstanceUID", "Study Instance UID"),
        ("SOPClassUID", "SOP Class UID"),
    ):
        if not str(ds.get(keyword, "") or ""):
            raise ImageRefused(STATUS_NOT_DICOM, MISSING_UIDS.format(name=name))
    if "PixelData" not in ds:
        raise ImageRefused(STATUS_NO_PIXEL_DATA, NO_PIXEL_DATA)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if samples != 1:
        raise ImageRefused(STATUS_UNDECODABLE, NOT_AN_IMAGE.format(samples=samples))
    try:
        pixels = ds.pixel_array
    except Exception as exc:
        raise ImageRefused(STATUS_UNDECODABLE, UNDECODABLE.format(detail=str(exc)[:200] or type(exc).__name__)) from exc
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if pixels.size == 0:
        raise ImageRefused(STATUS_UNDECODABLE, UNDECODABLE.format(detail="no pixels"))
    return CheckedImage(
        dataset=ds,
        sop_instance_uid=str(ds.SOPInstanceUID),
        series_instance_uid=str(ds.SeriesInstanceUID),
        study_instance_uid=str(ds.StudyInstanceUID),
        sop_class_uid=str(ds.SOPClassUID),
        modality=str(ds.get("Modality", "") or "")[:16],
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        number_of_frames=max(frames, 1),
        pixel_sha256=hashlib.sha256(bytes(ds.PixelData)).hexdigest(),
        acquired_at=_acquired_at(ds),
        accession_number=str(ds.get("AccessionNumber", "") or "").strip()[:16],
        patient_id=str(ds.get("PatientID", "") or "").strip()[:64],
        station_name=str(ds.get("StationName", "") or "").strip()[:16],
    )


def part10_bytes(ds: Dataset) -> bytes:
    """The data set as a DICOM Part 10 file (preamble, file meta), as stores keep it."""
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()
