"""Give today's demo cases real level images: a synthetic lateral radiograph per case past its
time-out (this patient's lumbar count, the marker at the first planned level), received through
the same path as a C-arm's C-STORE into the configured image store. Idempotent."""

from __future__ import annotations

import datetime as dt
import zlib
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone
from pydicom.uid import generate_uid

from checklist.level_check import anatomy_of, current_evidence
from checklist.models import Case
from core.local_time import local_day_bounds
from imaging import dicom
from imaging.models import LevelImage
from imaging.selectors import accession_for
from imaging.services import level_image_receive
from imaging.store import image_store
from imaging.synthetic import lumbar_radiograph
from levelverify.check import STRUCTURE_BY_PROCEDURE
from levelverify.spine import NotationError, format_unit, parse_levels

DEMO_MRN_PREFIX = "DEMO-"
DEMO_AE = "DEMOCARM"


def _marker(case: Case) -> tuple[int, str]:
    evidence = current_evidence(case)
    lumbar = evidence.anatomy.lumbar if evidence.anatomy else 5
    if evidence.plan is None:
        return lumbar, "L3"
    structure = STRUCTURE_BY_PROCEDURE.get(evidence.plan.procedure, "vertebra")
    try:
        units = parse_levels(evidence.plan.levels, structure, anatomy_of(evidence.anatomy))
    except NotationError:
        return lumbar, "L3"
    name = format_unit(units[0]) if units else "L3"
    return lumbar, name if name.startswith("L") else "L3"


class Command(BaseCommand):
    help = "Give today's demo cases past their time-out a lateral and an AP level image (docs/imaging.md). Idempotent."

    def handle(self, *args: Any, **options: Any) -> None:
        start, end = local_day_bounds(timezone.localdate())
        cases = Case.objects.filter(
            patient__mrn__startswith=DEMO_MRN_PREFIX,
            scheduled_start__gte=start,
            scheduled_start__lt=end,
            time_out_completed_at__isnull=False,
        ).select_related("patient", "room")
        store = image_store()
        made = 0
        for case in cases.order_by("pk"):
            if LevelImage.objects.filter(case=case).exists():
                continue
            lumbar, marker = _marker(case)
            patient = case.patient
            time_out = case.time_out_completed_at or timezone.now()  # filtered: never None here
            study_uid = generate_uid(entropy_srcs=["rightlevel-demo-study", str(case.pk)])
            # A lateral and an AP view in one study, as a C-arm takes them, a minute apart.
            for n, view in enumerate(("lateral", "ap")):
                ds, _ = lumbar_radiograph(
                    view=view,
                    lumbar=lumbar,
                    marker=marker,
                    patient_id=patient.mrn,
                    patient_name=f"{patient.family_name}^{patient.given_name}",
                    birth_date=patient.date_of_birth.strftime("%Y%m%d"),
                    accession=accession_for(case),
                    acquired_at=time_out + dt.timedelta(minutes=2 + n),
                    rows=768,
                    columns=768,
                    station_name=DEMO_AE,
                    study_uid=study_uid,
                    seed=zlib.crc32(f"{patient.mrn}-{view}".encode()),
                )
                data = dicom.part10_bytes(ds)
                checked = dicom.check(
                    dicom.parse_file(data, max_bytes=64 * 1024 * 1024),
                    transfer_syntax=str(ds.file_meta.TransferSyntaxUID),
                )
                level_image_receive(
                    actor=None,
                    checked=checked,
                    data=data,
                    calling_ae_title=DEMO_AE,
                    room_name=case.room.name,
                    store=store,
                )
                made += 1
            self.stdout.write(
                f"Level images for case {case.pk} ({case.room.name}): {lumbar} lumbar, marker at {marker}"
            )
        self.stdout.write(f"Demo level images: {made} new.")
