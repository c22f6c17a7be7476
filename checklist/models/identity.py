"""Positive patient identification: each wristband scan, kept whether it matched or not."""

from __future__ import annotations

from django.db import models

from checklist.models.cases import Case, Patient
from checklist.models.checklist import StepAttestation
from checklist.models.people import User


class ScanInput(models.TextChoices):
    SCANNER = "scanner", "Barcode scanner"
    CAMERA = "camera", "Tablet camera"


class IdentityScan(models.Model):
    """One wristband scan at sign-in. Append-only: a wrong wristband stays in the record, and the
    stop it raised lasts until a scan names this case's patient."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="identity_scans")
    scanned_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    scanned_at = models.DateTimeField()
    source = models.CharField(max_length=10, choices=ScanInput.choices, default=ScanInput.SCANNER)
    # What the barcode named: a GSRN (GS1 AI 8018) or an MRN, and the GS1 symbology identifier if sent.
    kind = models.CharField(max_length=4, choices=[("gsrn", "GSRN"), ("mrn", "MRN")])
    value = models.CharField(max_length=40)
    symbology = models.CharField(max_length=3, blank=True)
    matched = models.BooleanField()
    # The case's patient at the scan, and the patient the wristband names when it is someone else.
    expected_patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    named_patient = models.ForeignKey(Patient, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    attestation = models.ForeignKey(
        StepAttestation, on_delete=models.PROTECT, null=True, blank=True, related_name="identity_scans"
    )

    class Meta:
        ordering = ["case", "scanned_at", "id"]
        indexes = [models.Index(fields=["case", "-scanned_at"])]

    def __str__(self) -> str:
        outcome = "match" if self.matched else "MISMATCH"
        return f"{self.kind.upper()} {self.value} on case {self.case_id}: {outcome}"

    def label(self) -> str:
        return f"{self.kind.upper()} {self.value}"
