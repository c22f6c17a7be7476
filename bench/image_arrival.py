"""From C-arm to tablet (issue 16): the time from the start of a C-STORE (association, send,
release, as a C-arm does it) of a 1024x1024 16-bit level image to the image listed on the case's
tablet page, through the embedded receiver, the local image store and the real case page
(goal <= 3 s). Printed with the render benchmark's figures of the same run.

Run: .venv/bin/python -m bench.image_arrival [--samples N]   (SQLite in a throwaway folder)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import django_setup, print_table

GOAL_SECONDS = 3.0
POLL_SECONDS = 0.02


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=10, help="images sent (at most 12: the page lists 12)")
    args = parser.parse_args()
    samples = max(1, min(args.samples, 12))
    django_setup("config.urls")
    import logging

    for name in ("imaging", "pynetdicom"):
        logging.getLogger(name).setLevel(logging.WARNING)
    from django.conf import settings
    from django.test import Client
    from pynetdicom import AE

    from imaging.receiver import STORAGE_SOP_CLASSES, StorageReceiver
    from imaging.selectors import accession_for
    from imaging.store import LocalImageStore
    from imaging.synthetic import lateral_lumbar
    from tests.support.workflow import case_schedule, team_create

    settings.ALLOWED_HOSTS = ["*"]
    team = team_create()
    case = case_schedule(team)
    settings.IMAGING_STORAGE_DIR = Path(tempfile.mkdtemp(prefix="rightlevel-bench-images-"))
    settings.IMAGING_DICOMWEB_URL = ""
    store = LocalImageStore(settings.IMAGING_STORAGE_DIR)
    receiver = StorageReceiver(allowed={"CARM1": team.room.name}, store=store)
    receiver.start("127.0.0.1", 0)
    client = Client()
    client.force_login(team.nurse)
    page = f"/cases/{case.pk}/"

    def listed() -> int:
        html = client.get(page).content.decode()
        return html.count("(CARM1)")

    carm = AE(ae_title="CARM1")
    for sop_class in STORAGE_SOP_CLASSES:
        carm.add_requested_context(sop_class)
    images = [
        lateral_lumbar(accession=accession_for(case), patient_id=case.patient.mrn, seed=n)[0] for n in range(samples)
    ]
    timings: list[float] = []
    render_ms: list[float] = []
    try:
        for n, ds in enumerate(images, start=1):
            assert (ds.Rows, ds.Columns, ds.BitsAllocated) == (1024, 1024, 16)
            start = time.perf_counter()
            assoc = carm.associate("127.0.0.1", receiver.port, ae_title=settings.IMAGING_AE_TITLE)
            assert assoc.is_established, "the receiver refused the association"
            status = assoc.send_c_store(ds)
            assoc.release()
            assert int(status.Status) == 0, f"C-STORE failed: 0x{int(status.Status):04X}"
            while listed() < n:
                if time.perf_counter() - start > 30:
                    raise SystemExit("the image did not appear on the case page within 30 s")
                time.sleep(POLL_SECONDS)
            timings.append(time.perf_counter() - start)
            # The tablet then fetches the rendered image.
            from imaging.models import LevelImage

            image = LevelImage.objects.filter(case=case).order_by("-pk").first()
            assert image is not None
            t = time.perf_counter()
            assert client.get(f"/imaging/images/{image.pk}.png").status_code == 200
            render_ms.append((time.perf_counter() - t) * 1000)
    finally:
        receiver.stop()
    worst = max(timings)
    median = statistics.median(timings)
    print_table(
        f"C-STORE to the image on the tablet's case page, 1024x1024 16-bit, {samples} images",
        [
            ("C-STORE start to listed on the case page (median)", f"{median * 1000:.0f} ms", "", ""),
            (
                "C-STORE start to listed on the case page (worst)",
                f"{worst * 1000:.0f} ms",
                "",
                f"<= {GOAL_SECONDS:.0f} s " + ("OK" if worst <= GOAL_SECONDS else "MISSED"),
            ),
            ("then the PNG from the server (median)", f"{statistics.median(render_ms):.0f} ms", "", ""),
        ],
    )
    from bench import image_render

    image_render.main([])


if __name__ == "__main__":
    main()
