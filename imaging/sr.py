"""What the OR counted, back to radiology: a read of a level image as a DICOM Comprehensive SR
(highdicom), with the reference, the count, the level named, the reader, and the tap points as an
ordered MULTIPOINT on the image (the first is the reference), so the radiologist's viewer shows
the count that was acted on. No Django: the caller passes the source instance and the read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from highdicom.sr import (
    CodeContentItem,
    ComprehensiveSR,
    ContainerContentItem,
    ContentSequence,
    ImageContentItem,
    NumContentItem,
    RelationshipTypeValues,
    ScoordContentItem,
    TextContentItem,
)
from pydicom.dataset import Dataset
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid

SCHEME = "99RIGHTLEVEL"  # a private coding scheme (PS3.16 8.2: "99" prefix)
REPORT = Code("LEVEL-READ", SCHEME, "Level image count")
REFERENCE = Code("REFERENCE", SCHEME, "Counted from")
REFERENCES = {
    "sacrum": Code("SACRUM", SCHEME, "Sacrum"),
    "c2": Code("C2", SCHEME, "C2"),
    "last_rib": Code("LAST-RIB", SCHEME, "Last rib"),
}
COUNT = Code("COUNT", SCHEME, "Count")
NO_UNITS = Code("1", "UCUM", "no units")
LEVEL = Code("LEVEL", SCHEME, "Level named")
READER = Code("READER", SCHEME, "Read by")
MARKER = Code("MARKER-IN-PLACE", SCHEME, "Marker visible on the image")
YES, NO = Code("373066001", "SCT", "Yes"), Code("373067005", "SCT", "No")
TAPS = Code("TAPS", SCHEME, "Tap points (reference first)")
SOURCE = Code("121112", "DCM", "Source of Measurement")
SECOND = Code("SECOND-READ", SCHEME, "Independent second read")
AGREES = Code("AGREES", SCHEME, "Agrees with the first read")
SERIES_NUMBER = 9901
MANUFACTURER = "RightLevel"


@dataclass(frozen=True)
class Read:
    reference: str
    count: int
    label: str
    reader: str
    taps: Sequence[Sequence[float]]
    marker_in_place: bool = True


def _read_items(read: Read, source: Dataset, frame: int) -> list[Any]:
    contains = RelationshipTypeValues.CONTAINS
    taps = ScoordContentItem(
        name=TAPS,
        graphic_type="MULTIPOINT",
        graphic_data=np.array(read.taps, dtype=float),
        relationship_type=contains,
    )
    taps.ContentSequence = ContentSequence(
        [
            ImageContentItem(
                name=SOURCE,
                referenced_sop_class_uid=source.SOPClassUID,
                referenced_sop_instance_uid=source.SOPInstanceUID,
                referenced_frame_numbers=frame if int(getattr(source, "NumberOfFrames", 1) or 1) > 1 else None,
                relationship_type=RelationshipTypeValues.SELECTED_FROM,
            )
        ]
    )
    return [
        CodeContentItem(name=REFERENCE, value=REFERENCES[read.reference], relationship_type=contains),
        NumContentItem(name=COUNT, value=read.count, unit=NO_UNITS, relationship_type=contains),
        TextContentItem(name=LEVEL, value=read.label, relationship_type=contains),
        TextContentItem(name=READER, value=read.reader[:64] or "unknown", relationship_type=contains),
        CodeContentItem(name=MARKER, value=YES if read.marker_in_place else NO, relationship_type=contains),
        taps,
    ]


def read_report(
    source: Dataset, first: Read, *, frame: int = 1, second: Read | None = None, agrees: bool | None = None
) -> ComprehensiveSR:
    """The SR of a read (and its second read, when there is one) of ``source``, in a new series
    of the source's study."""
    root = ContainerContentItem(name=REPORT, template_id=None)
    items = _read_items(first, source, frame)
    if second is not None:
        block = ContainerContentItem(name=SECOND, relationship_type=RelationshipTypeValues.CONTAINS)
        block.ContentSequence = ContentSequence(
            [
                *_read_items(second, source, frame),
                CodeContentItem(
                    name=AGREES, value=YES if agrees else NO, relationship_type=RelationshipTypeValues.CONTAINS
                ),
            ]
        )
        items.append(block)
    root.ContentSequence = ContentSequence(items)
    return ComprehensiveSR(
        evidence=[source],
        content=root,
        series_instance_uid=generate_uid(),
        series_number=SERIES_NUMBER,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
    )
