"""A frame of a level image as PNG: pixel data through the modality and VOI (window) transforms
of the instance itself, to 8 bits, encoded by Pillow."""

from __future__ import annotations

from io import BytesIO
from typing import Final

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut

PNG_COMPRESS_LEVEL: Final = 3  # zlib level: the tablet is on the theatre's LAN; speed over bytes
NO_SUCH_FRAME = "Frame {frame} does not exist; the image has {frames}."


def frame_pixels(ds: Dataset, frame: int = 1) -> np.ndarray:
    """8-bit display values of one frame (1-based)."""
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if not 1 <= frame <= frames:
        raise ValueError(NO_SUCH_FRAME.format(frame=frame, frames=frames))
    pixels = ds.pixel_array if frames == 1 else ds.pixel_array[frame - 1]
    values = apply_modality_lut(pixels, ds)
    if "WindowCenter" in ds or "VOILUTSequence" in ds:
        values = apply_voi_lut(values, ds, index=0)
    values = np.asarray(values, dtype=np.float32)
    low, high = float(values.min()), float(values.max())
    if "WindowCenter" in ds and "VOILUTSequence" not in ds:
        # After windowing the values span the output range of the stored bits.
        bits = int(ds.get("BitsStored", 16))
        signed = int(ds.get("PixelRepresentation", 0)) == 1
        low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    scale = 255.0 / (high - low) if high > low else 0.0
    out = np.clip((values - low) * scale, 0, 255).astype(np.uint8)
    if str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1":
        out = 255 - out
    return out


def png_encode(pixels: np.ndarray) -> bytes:
    buffer = BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def render_png(ds: Dataset, frame: int = 1) -> bytes:
    return png_encode(frame_pixels(ds, frame))
