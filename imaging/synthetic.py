"""Synthetic lateral and AP lumbar radiographs as proper DICOM instances (pydicom, numpy; no Django).

The drawing is schematic, not anatomical: vertebral bodies with a cortical rim, discs, the last
ribs, a sacrum and a radiopaque marker at a chosen vertebra or disc, on soft tissue with noise.
It is enough for a reader to count from the sacrum up to the marker, and for the receiver, the
renderer and the matcher to see what a C-arm sends: a DX (or XA/RF) instance with the patient,
the accession number, study/series/SOP UIDs, acquisition time and a window (VOI).

    python -m imaging.synthetic --lumbar 6 --marker L4 --accession RL12 out.dcm
    python -m imaging.synthetic --view ap --lumbar 4 --marker L2-L3 out.dcm
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
from dataclasses import dataclass, field

import numpy as np
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    XRayAngiographicImageStorage,
    XRayRadiofluoroscopicImageStorage,
    generate_uid,
)

SOP_CLASSES = {
    "DX": DigitalXRayImageStorageForPresentation,
    "XA": XRayAngiographicImageStorage,
    "RF": XRayRadiofluoroscopicImageStorage,
}
BITS_STORED = 12
WINDOW_CENTER = 1700
WINDOW_WIDTH = 2800

# Attenuation values (12-bit, MONOCHROME2: brighter is denser).
_SOFT_TISSUE = 700
_BONE = 1700
_CORTEX = 2300
_DISC = 950
_MARKER = 4000

_VERTEBRA = re.compile(r"^(T1[12]|L[1-6]|S1)$")
_SEGMENT = re.compile(r"^(T1[12]|L[1-6])-(L[1-6]|S1)$")


@dataclass(frozen=True)
class Layout:
    """Where things were drawn (row, column), for tests and for tap-to-count."""

    vertebrae: dict[str, tuple[int, int]] = field(default_factory=dict)
    discs: dict[str, tuple[int, int]] = field(default_factory=dict)
    marker: tuple[int, int] = (0, 0)
    marker_level: str = ""


def vertebra_names(lumbar: int) -> list[str]:
    """Top-down names drawn: two thoracic, ``lumbar`` lumbar vertebrae, then S1."""
    if lumbar not in (4, 5, 6):
        raise ValueError(f"lumbar must be 4, 5 or 6, not {lumbar!r}")
    return ["T11", "T12", *(f"L{i}" for i in range(1, lumbar + 1)), "S1"]


def _marker_target(marker: str, names: list[str]) -> tuple[str, str]:
    """('vertebra', name) or ('disc', 'L3-L4'); ValueError naming the drawn anatomy otherwise."""
    text = re.sub(r"\s+", "", marker.upper()).replace("\u2013", "-").replace("/", "-")
    text = re.sub(r"^([TL])(\d+)-(\d+)$", r"\1\2-\1\3", text)  # L4-5 -> L4-L5
    if _VERTEBRA.match(text) and text in names:
        return "vertebra", text
    found = _SEGMENT.match(text)
    if found and found.group(1) in names and found.group(2) in names:
        upper, lower = found.group(1), found.group(2)
        if names.index(lower) == names.index(upper) + 1:
            return "disc", f"{upper}-{lower}"
    raise ValueError(f"marker {marker!r} is not a vertebra or adjacent segment of {names[0]}..{names[-1]}")


def _draw_lateral(rows: int, columns: int, lumbar: int, marker: str, seed: int) -> tuple[np.ndarray, Layout]:
    names = vertebra_names(lumbar)
    kind, target = _marker_target(marker, names)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:rows, 0:columns].astype(np.float32)

    # Soft tissue: thicker toward the middle of the body, thinner at the skin edges.
    image = _SOFT_TISSUE * (0.55 + 0.45 * np.exp(-(((xx - columns * 0.5) / (columns * 0.38)) ** 2)))

    n = len(names)
    top, bottom = rows * 0.04, rows * 0.93
    pitch = (bottom - top) / (n + 0.2)
    height, width = pitch * 0.72, columns * 0.17
    vertebrae: dict[str, tuple[int, int]] = {}
    discs: dict[str, tuple[int, int]] = {}
    centres: list[tuple[float, float]] = []
    for i, name in enumerate(names):
        t = i / (n - 1)
        cy = top + pitch * (i + 0.5)
        cx = columns * (0.47 + 0.07 * np.sin(np.pi * t))  # lumbar lordosis
        centres.append((cy, cx))
        vertebrae[name] = (round(cy), round(cx))
        if name == "S1":
            # The sacrum: a wedge tilted backwards, wider than a lumbar body.
            dy, dx = yy - cy, xx - cx
            inside = (np.abs(dx + dy * 0.45) < width * 0.6) & (dy > -height * 0.45) & (dy < height * 1.6)
            image[inside] = _BONE * 0.95
            continue
        dy, dx = (yy - cy) / (height / 2), (xx - cx) / (width / 2)
        body = (np.abs(dy) ** 6 + np.abs(dx) ** 6) <= 1.0
        rim = body & ((np.abs(dy) ** 6 + np.abs(dx) ** 6) >= 0.55)
        image[body] = _BONE + 60 * rng.standard_normal(int(body.sum()))
        image[rim] = _CORTEX
        # Posterior elements: a fainter block behind the body (to the right: patient facing left).
        post = (np.abs(yy - cy) < height * 0.32) & (xx > cx + width * 0.55) & (xx < cx + width * 1.25)
        image[post] = np.maximum(image[post], _BONE * 0.75)
        if name.startswith("T"):
            # A rib shadow crossing behind the thoracic body.
            arc = np.abs(yy - (cy + 0.0015 * (xx - cx) ** 2 * 0.5 - height * 0.1)) < height * 0.06
            image[arc & (xx > cx - width * 1.8) & (xx < cx + width * 2.2)] += 380
    for i in range(n - 1):
        upper, lower, a, b = names[i], names[i + 1], centres[i], centres[i + 1]
        cy, cx = (a[0] + b[0]) / 2, (a[1] + b[1]) / 2
        discs[f"{upper}-{lower}"] = (round(cy), round(cx))
        disc = (np.abs(yy - cy) < pitch * 0.11) & (np.abs(xx - cx) < width * 0.46)
        image[disc] = _DISC

    # The marker: a needle tip posterior to the body, at the target's height.
    my, mx = (vertebrae if kind == "vertebra" else discs)[target]
    mx_pos = round(mx + width * 0.85)
    needle = (np.abs(yy - my) < rows * 0.004) & (xx > mx_pos) & (xx < columns * 0.97)
    tip = (yy - my) ** 2 + (xx - mx_pos) ** 2 < (rows * 0.012) ** 2
    image[needle | tip] = _MARKER

    image += 25 * rng.standard_normal(image.shape)
    pixels = np.clip(image, 0, 2**BITS_STORED - 1).astype(np.uint16)
    return pixels, Layout(vertebrae=vertebrae, discs=discs, marker=(my, mx_pos), marker_level=target)


def _draw_ap(rows: int, columns: int, lumbar: int, marker: str, seed: int) -> tuple[np.ndarray, Layout]:
    """The AP (frontal) view: bodies in the midline with their two pedicles, the spinous process
    and the transverse processes, the last ribs, the iliac crests and the sacrum with its
    foramina; the needle comes in from the patient's right (the viewer's left)."""
    names = vertebra_names(lumbar)
    kind, target = _marker_target(marker, names)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:rows, 0:columns].astype(np.float32)
    image = _SOFT_TISSUE * (0.5 + 0.5 * np.exp(-(((xx - columns * 0.5) / (columns * 0.42)) ** 2)))

    n = len(names)
    top, bottom = rows * 0.04, rows * 0.93
    pitch = (bottom - top) / (n + 0.2)
    height, width = pitch * 0.7, columns * 0.2
    cx = columns * 0.5
    vertebrae: dict[str, tuple[int, int]] = {}
    discs: dict[str, tuple[int, int]] = {}
    for i, name in enumerate(names):
        cy = top + pitch * (i + 0.5)
        vertebrae[name] = (round(cy), round(cx))
        if name == "S1":
            # The sacrum: an inverted triangle with two rows of foramina.
            dy = yy - (cy - height * 0.5)
            inside = (dy > 0) & (dy < height * 2.2) & (np.abs(xx - cx) < width * 0.95 * (1 - dy / (height * 2.4)))
            image[inside] = _BONE * 0.95
            for k in range(3):
                fy = cy - height * 0.1 + k * height * 0.5
                for side in (-1, 1):
                    hole = (yy - fy) ** 2 + (xx - (cx + side * width * (0.42 - 0.08 * k))) ** 2 < (width * 0.06) ** 2
                    image[hole] = _BONE * 0.6
            continue
        dy, dx = (yy - cy) / (height / 2), (xx - cx) / (width / 2)
        body = (np.abs(dy) ** 6 + np.abs(dx) ** 6) <= 1.0
        rim = body & ((np.abs(dy) ** 6 + np.abs(dx) ** 6) >= 0.6)
        image[body] = _BONE + 60 * rng.standard_normal(int(body.sum()))
        image[rim] = _CORTEX
        # Transverse processes (L3's the longest), then the pedicles and the spinous process.
        reach = width * (0.85 + (0.25 if name == "L3" else 0.1 if name.startswith("L") else 0.0))
        bar = (np.abs(yy - (cy - height * 0.1)) < height * 0.09) & (np.abs(xx - cx) > width * 0.45)
        image[bar & (np.abs(xx - cx) < reach)] = _BONE * 0.85
        for side in (-1, 1):
            ring = ((yy - (cy - height * 0.18)) / (height * 0.2)) ** 2 + (
                (xx - (cx + side * width * 0.32)) / (width * 0.09)
            ) ** 2
            image[(ring <= 1.0) & (ring >= 0.45)] = _CORTEX
        spine = ((yy - (cy + height * 0.15)) / (height * 0.32)) ** 2 + ((xx - cx) / (width * 0.07)) ** 2 <= 1.0
        image[spine] = np.maximum(image[spine], _CORTEX * 0.9)
        if name in ("T11", "T12"):
            # The last ribs: arcs down and out from the transverse processes (T12's the shorter).
            length = width * (1.2 if name == "T12" else 2.0)
            for side in (-1, 1):
                u = side * (xx - cx) - width * 0.5
                arc = (u > 0) & (u < length) & (np.abs(yy - (cy - height * 0.1 + 0.0018 * u**2)) < height * 0.07)
                image[arc] += 420
    for i in range(n - 1):
        upper, lower = names[i], names[i + 1]
        cy = top + pitch * (i + 1)
        discs[f"{upper}-{lower}"] = (round(cy), round(cx))
        disc = (np.abs(yy - cy) < pitch * 0.1) & (np.abs(xx - cx) < width * 0.47)
        image[disc] = _DISC
    # The iliac crests: at the level of the second-lowest lumbar disc, curving down on each side.
    crest_y = top + pitch * (n - 2.2)
    for side in (-1, 1):
        u = side * (xx - cx) - width * 0.75
        wing = (u > 0) & (u < columns * 0.3) & (yy > crest_y + 0.002 * (u - columns * 0.12) ** 2)
        image[wing] = np.maximum(image[wing], _BONE * 0.7)

    # The marker: a needle from the patient's right, its tip at the side of the target.
    my, mx = (vertebrae if kind == "vertebra" else discs)[target]
    mx_pos = round(mx - width * 0.62)
    needle = (np.abs(yy - my) < rows * 0.004) & (xx < mx_pos) & (xx > columns * 0.03)
    tip = (yy - my) ** 2 + (xx - mx_pos) ** 2 < (rows * 0.012) ** 2
    image[needle | tip] = _MARKER

    image += 25 * rng.standard_normal(image.shape)
    pixels = np.clip(image, 0, 2**BITS_STORED - 1).astype(np.uint16)
    return pixels, Layout(vertebrae=vertebrae, discs=discs, marker=(my, mx_pos), marker_level=target)


VIEWS = {
    # view: (drawing, ViewPosition, PatientOrientation, SeriesDescription)
    "lateral": (_draw_lateral, "LL", ["A", "F"], "Lateral lumbar"),
    "ap": (_draw_ap, "AP", ["L", "F"], "AP lumbar"),
}


def lateral_lumbar(**kwargs: object) -> tuple[FileDataset, Layout]:
    """A lateral lumbar radiograph (see ``lumbar_radiograph``)."""
    return lumbar_radiograph(view="lateral", **kwargs)  # type: ignore[arg-type]


def ap_lumbar(**kwargs: object) -> tuple[FileDataset, Layout]:
    """An AP lumbar radiograph (see ``lumbar_radiograph``)."""
    return lumbar_radiograph(view="ap", **kwargs)  # type: ignore[arg-type]


def lumbar_radiograph(
    *,
    view: str = "lateral",
    lumbar: int = 5,
    marker: str = "L3",
    patient_id: str = "RLDEMO0001",
    patient_name: str = "Doe^Jane",
    birth_date: str = "19600501",
    sex: str = "F",
    accession: str = "",
    acquired_at: dt.datetime | None = None,
    modality: str = "DX",
    rows: int = 1024,
    columns: int = 1024,
    station_name: str = "CARM1",
    study_uid: str | None = None,
    series_uid: str | None = None,
    seed: int = 0,
) -> tuple[FileDataset, Layout]:
    """A lateral or AP (``view``) lumbar radiograph with the marker at ``marker`` (a vertebra such
    as ``L3`` or a disc such as ``L3-L4``) for a spine with 4, 5 or 6 lumbar vertebrae."""
    if modality not in SOP_CLASSES:
        raise ValueError(f"modality must be one of {', '.join(SOP_CLASSES)}, not {modality!r}")
    if view not in VIEWS:
        raise ValueError(f"view must be one of {', '.join(VIEWS)}, not {view!r}")
    draw, view_position, orientation, description = VIEWS[view]
    pixels, layout = draw(rows, columns, lumbar, marker, seed)
    acquired_at = acquired_at or dt.datetime.now(dt.UTC)
    sop_class = SOP_CLASSES[modality]
    sop_uid = generate_uid()

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = FileDataset("", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.set_original_encoding(is_implicit_vr=False, is_little_endian=True, character_encoding="iso8859")

    date, time = acquired_at.strftime("%Y%m%d"), acquired_at.strftime("%H%M%S.%f")
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = date
    ds.StudyTime = ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = time
    ds.AcquisitionDateTime = acquired_at.strftime("%Y%m%d%H%M%S.%f") + acquired_at.strftime("%z")
    ds.AccessionNumber = accession
    ds.Modality = modality
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.Manufacturer = "RightLevel synthetic"
    ds.InstitutionName = "RightLevel demo hospital"
    ds.StationName = station_name
    ds.StudyDescription = "Intraoperative level localization"
    ds.SeriesDescription = description
    ds.ReferringPhysicianName = ""
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = birth_date
    ds.PatientSex = sex
    ds.BodyPartExamined = "LSPINE"
    ds.ViewPosition = view_position
    ds.PatientOrientation = orientation
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.ImagerPixelSpacing = ds.PixelSpacing = [0.3, 0.3]
    ds.set_pixel_data(pixels, photometric_interpretation="MONOCHROME2", bits_stored=BITS_STORED)
    ds.PixelIntensityRelationship = "LIN"
    ds.PixelIntensityRelationshipSign = 1
    ds.RescaleIntercept = 0
    ds.RescaleSlope = 1
    ds.RescaleType = "US"
    ds.WindowCenter = WINDOW_CENTER
    ds.WindowWidth = WINDOW_WIDTH
    ds.VOILUTFunction = "LINEAR"
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    return ds, layout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a synthetic lateral or AP lumbar radiograph (DICOM).")
    parser.add_argument("output")
    parser.add_argument("--lumbar", type=int, default=5, choices=(4, 5, 6))
    parser.add_argument("--marker", default="L3", help="vertebra (L3) or disc (L3-L4)")
    parser.add_argument("--accession", default="")
    parser.add_argument("--patient-id", default="RLDEMO0001")
    parser.add_argument("--modality", default="DX", choices=tuple(SOP_CLASSES))
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--view", default="lateral", choices=tuple(VIEWS))
    args = parser.parse_args(argv)
    try:
        ds, _ = lumbar_radiograph(
            view=args.view,
            lumbar=args.lumbar,
            marker=args.marker,
            accession=args.accession,
            patient_id=args.patient_id,
            modality=args.modality,
            rows=args.size,
            columns=args.size,
        )
    except ValueError as exc:
        parser.error(str(exc))
    ds.save_as(args.output, enforce_file_format=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
