from __future__ import annotations

import datetime as dt
from io import BytesIO

import numpy as np
import pytest
from pydicom import dcmread

from imaging import dicom
from imaging.synthetic import BITS_STORED, ap_lumbar, lateral_lumbar, lumbar_radiograph, main, vertebra_names


@pytest.mark.parametrize("lumbar", [4, 5, 6])
def test_the_spine_has_the_lumbar_vertebrae_asked_for_and_the_marker_at_the_level(lumbar: int) -> None:
    ds, layout = lateral_lumbar(lumbar=lumbar, marker=f"L{lumbar - 1}", rows=512, columns=512)
    assert list(layout.vertebrae) == vertebra_names(lumbar)
    assert [n for n in layout.vertebrae if n.startswith("L")] == [f"L{i}" for i in range(1, lumbar + 1)]
    pixels = ds.pixel_array
    row, col = layout.marker
    assert pixels[row, col] > 3800 > np.percentile(pixels, 99)  # the marker is the densest thing on the image
    assert layout.marker[0] == layout.vertebrae[f"L{lumbar - 1}"][0]
    # Vertebrae are drawn top-down, the sacrum last.
    rows = [r for r, _ in layout.vertebrae.values()]
    assert rows == sorted(rows)


def test_a_disc_marker_sits_between_its_two_vertebrae() -> None:
    _, layout = lateral_lumbar(marker="L4-5", rows=512, columns=512)
    assert layout.marker_level == "L4-L5"
    assert layout.vertebrae["L4"][0] < layout.marker[0] < layout.vertebrae["L5"][0]


@pytest.mark.parametrize("marker", ["L6", "L2-L4", "C3", ""])
def test_a_marker_that_is_not_in_the_drawn_anatomy_is_refused(marker: str) -> None:
    with pytest.raises(ValueError, match="marker"):
        lateral_lumbar(lumbar=5, marker=marker, rows=256, columns=256)


@pytest.mark.parametrize(
    "modality,sop_class",
    [
        ("DX", "1.2.840.10008.5.1.4.1.1.1.1"),
        ("XA", "1.2.840.10008.5.1.4.1.1.12.1"),
        ("RF", "1.2.840.10008.5.1.4.1.1.12.2"),
    ],
)
def test_the_instance_carries_realistic_tags_and_round_trips_as_a_part10_file(modality: str, sop_class: str) -> None:
    at = dt.datetime(2026, 3, 4, 9, 15, 30, 250000, tzinfo=dt.UTC)
    ds, _ = lateral_lumbar(
        accession="RL42", patient_id="MRN1", acquired_at=at, modality=modality, rows=256, columns=256
    )
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    back = dcmread(BytesIO(buffer.getvalue()))
    assert back.SOPClassUID == sop_class == back.file_meta.MediaStorageSOPClassUID
    assert back.Modality == modality
    assert back.AccessionNumber == "RL42" and back.PatientID == "MRN1" and str(back.PatientName) == "Doe^Jane"
    assert back.AcquisitionDate == "20260304" and back.AcquisitionTime.startswith("091530")
    assert back.AcquisitionDateTime.startswith("20260304091530.250000")
    assert len({back.StudyInstanceUID, back.SeriesInstanceUID, back.SOPInstanceUID}) == 3
    assert (
        back.BitsStored == BITS_STORED and back.BitsAllocated == 16 and back.PhotometricInterpretation == "MONOCHROME2"
    )
    assert float(back.WindowCenter) > 0 and float(back.WindowWidth) > 0 and back.VOILUTFunction == "LINEAR"
    assert back.pixel_array.dtype == np.uint16 and back.pixel_array.max() < 2**BITS_STORED


def test_the_command_writes_a_file(tmp_path) -> None:
    out = tmp_path / "x.dcm"
    assert main([str(out), "--lumbar", "6", "--marker", "L5", "--size", "256"]) == 0
    assert dcmread(out).Rows == 256


@pytest.mark.parametrize("lumbar", [4, 5, 6])
def test_the_ap_view_has_the_same_spine_with_the_marker_from_the_side(lumbar: int) -> None:
    ds, layout = ap_lumbar(lumbar=lumbar, marker=f"L{lumbar - 2}-L{lumbar - 1}", rows=512, columns=512, seed=3)
    assert list(layout.vertebrae) == vertebra_names(lumbar)
    assert ds.ViewPosition == "AP" and list(ds.PatientOrientation) == ["L", "F"] and ds.SeriesDescription == "AP lumbar"
    pixels = ds.pixel_array
    row, col = layout.marker
    assert pixels[row, col] > 3800 > np.percentile(pixels, 99)
    upper, lower = layout.vertebrae[f"L{lumbar - 2}"], layout.vertebrae[f"L{lumbar - 1}"]
    assert upper[0] < row < lower[0] and col < upper[1]  # on the disc, from the patient's right
    # The same receiver checks as a lateral instance: it is a proper level image.
    checked = dicom.check(
        dicom.parse_file(dicom.part10_bytes(ds), max_bytes=10**8), transfer_syntax=str(ds.file_meta.TransferSyntaxUID)
    )
    assert checked.rows == 512 and checked.modality == "DX"
    lateral, _ = lateral_lumbar(lumbar=lumbar, rows=512, columns=512)
    assert lateral.ViewPosition == "LL" and lateral.SeriesDescription == "Lateral lumbar"


def test_the_command_writes_an_ap_view_and_refuses_an_unknown_one(tmp_path) -> None:
    out = tmp_path / "ap.dcm"
    assert main([str(out), "--view", "ap", "--lumbar", "4", "--marker", "L2-L3", "--size", "256"]) == 0
    assert dcmread(out).ViewPosition == "AP"
    with pytest.raises(ValueError, match="view must be"):
        lumbar_radiograph(view="oblique")
