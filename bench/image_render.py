"""Level image rendering (issue 16): p95 time to render one 1024x1024 16-bit frame to PNG on the
server (parse the DICOM file, modality and VOI transforms, 8-bit, Pillow PNG) against bare Pillow
encoding of the same display pixels, measured interleaved in the same run (goal <= 2x).

Run: .venv/bin/python -m bench.image_render [--samples N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from io import BytesIO

from PIL import Image
from pydicom import dcmread

from bench.common import print_table
from imaging.dicom import part10_bytes
from imaging.render import PNG_COMPRESS_LEVEL, frame_pixels, render_png
from imaging.synthetic import lateral_lumbar


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=60)
    args = parser.parse_args(argv)

    ds, _ = lateral_lumbar(rows=1024, columns=1024, lumbar=5, marker="L3")
    assert (ds.Rows, ds.Columns, ds.BitsAllocated) == (1024, 1024, 16)
    data = part10_bytes(ds)
    display = frame_pixels(dcmread(BytesIO(data)))
    raw16 = dcmread(BytesIO(data)).pixel_array

    def render() -> bytes:
        return render_png(dcmread(BytesIO(data)))  # a fresh parse each time: the view does the same

    def bare(pixels: object) -> bytes:
        out = BytesIO()
        Image.fromarray(pixels).save(out, format="PNG", compress_level=PNG_COMPRESS_LEVEL)  # type: ignore[arg-type]
        return out.getvalue()

    assert Image.open(BytesIO(render())).tobytes() == Image.open(BytesIO(bare(display))).tobytes()
    samples: dict[str, list[float]] = {"render": [], "bare": [], "bare16": []}
    jobs = {"render": render, "bare": lambda: bare(display), "bare16": lambda: bare(raw16)}
    for job in jobs.values():  # warm up
        job()
    for _ in range(args.samples):
        for name, job in jobs.items():
            start = time.perf_counter()
            job()
            samples[name].append(time.perf_counter() - start)
    render_p95, bare_p95, bare16_p95 = (p95(samples[k]) for k in ("render", "bare", "bare16"))
    ratio = render_p95 / bare_p95
    print_table(
        f"Level image render, 1024x1024 16-bit frame, {args.samples} interleaved samples each (p95)",
        [
            ("render_png (parse, VOI, 8-bit, PNG)", f"{render_p95 * 1000:.1f} ms", "", ""),
            ("bare Pillow PNG of the same 8-bit pixels", f"{bare_p95 * 1000:.1f} ms", "", ""),
            ("bare Pillow PNG of the 16-bit pixels", f"{bare16_p95 * 1000:.1f} ms", "", ""),
            ("render / bare 8-bit", "", f"{ratio:.2f}", "<= 2 " + ("OK" if ratio <= 2 else "MISSED")),
            ("render / bare 16-bit", "", f"{render_p95 / bare16_p95:.2f}", ""),
        ],
    )


if __name__ == "__main__":
    main()
