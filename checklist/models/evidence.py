"""The independent sources of evidence: plan, consent, marking, imaging, anatomy, localization."""

from __future__ import annotations

from django.db import models

from checklist.models.cases import Case, Procedure, Side
from checklist.models.people import User


class EvidenceBase(models.Model):
    """Evidence is never edited: a correction is a new row that supersedes the old one."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()
    superseded_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        abstract = True


class PlanVersion(models.Model):
    """One version of the surgeon's plan. Immutable once signed; a change is a new version."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="plan_versions")
    number = models.PositiveIntegerField()
    procedure = models.CharField(max_length=60, choices=Procedure.choices)
    structure = models.CharField(max_length=20)
    levels = models.CharField(max_length=200, help_text="Canonical units, comma-separated, e.g. 'L1-L2, L2-L3'.")
    side = models.CharField(max_length=12, choices=Side.choices)
    approach = models.CharField(max_length=200, blank=True)
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    signed_at = models.DateTimeField(null=True, blank=True)
    signature = models.OneToOneField(
        "Signature", on_delete=models.PROTECT, null=True, blank=True, related_name="signed_plan"
    )
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["case", "number"]
        constraints = [models.UniqueConstraint(fields=["case", "number"], name="plan_version_unique_number")]

    def __str__(self) -> str:
        return f"Plan v{self.number} of case {self.case_id}"


class Consent(EvidenceBase):
    procedure = models.CharField(max_length=60, choices=Procedure.choices)
    levels = models.CharField(max_length=200)
    side = models.CharField(max_length=12, choices=Side.choices)
    date_signed = models.DateField()
    witness = models.CharField(max_length=200)
    scan = models.FileField(upload_to="consent-scans/%Y/%m/", blank=True)
    scan_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["case", "recorded_at", "id"]

    def __str__(self) -> str:
        return f"Consent {self.procedure} {self.levels} {self.side} (case {self.case_id})"


class MarkingRegion(models.TextChoices):
    """The regions of contract v2 (rule 1): a junction is an exact list of vertebrae."""

    CERVICAL = "cervical", "Cervical"
    THORACIC = "thoracic", "Thoracic"
    LUMBAR = "lumbar", "Lumbar"
    SACRAL = "sacral", "Sacral"
    CERVICOTHORACIC = "cervicothoracic", "Cervicothoracic (C6 to T2)"
    THORACOLUMBAR = "thoracolumbar", "Thoracolumbar (last two thoracic, L1, L2)"
    LUMBOSACRAL = "lumbosacral", "Lumbosacral (last two lumbar, S1)"


class SiteMarking(EvidenceBase):
    region = models.CharField(max_length=20, choices=MarkingRegion.choices)
    side = models.CharField(max_length=12, choices=Side.choices)
    marked_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["case", "recorded_at", "id"]

    def __str__(self) -> str:
        return f"Marking {self.region} {self.side} (case {self.case_id})"


class Modality(models.TextChoices):
    MRI = "mri", "MRI"
    CT = "ct", "CT"
    XRAY = "xray", "X-ray"


class PreopImaging(EvidenceBase):
    modality = models.CharField(max_length=10, choices=Modality.choices)
    study_date = models.DateField()
    levels = models.CharField(max_length=200, help_text="Level of the pathology.")
    reviewed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["case", "recorded_at", "id"]

    def __str__(self) -> str:
        return f"Pre-op {self.get_modality_display()} {self.levels} (case {self.case_id})"


class AnatomySource(models.TextChoices):
    WHOLE_SPINE = "whole_spine", "Counted from C2 on whole-spine imaging"
    LUMBAR_ONLY = "lumbar_only", "Lumbar-only imaging"


class AnatomyRecord(EvidenceBase):
    thoracic = models.PositiveSmallIntegerField(default=12)
    lumbar = models.PositiveSmallIntegerField(default=5)
    lowest_rib = models.CharField(max_length=4)
    lowest_mobile = models.CharField(max_length=4)
    source = models.CharField(max_length=20, choices=AnatomySource.choices)

    class Meta:
        ordering = ["case", "recorded_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(thoracic__gte=11, thoracic__lte=13), name="anatomy_thoracic_range"
            ),
            models.CheckConstraint(condition=models.Q(lumbar__gte=4, lumbar__lte=6), name="anatomy_lumbar_range"),
        ]

    def __str__(self) -> str:
        return f"Anatomy T{self.thoracic}/L{self.lumbar} (case {self.case_id})"


class Reference(models.TextChoices):
    SACRUM = "sacrum", "Sacrum"
    C2 = "c2", "C2"
    LAST_RIB = "last_rib", "Last rib"


class LocalizationPhase(models.TextChoices):
    PRE_INCISION = "pre_incision", "Before incision"
    AFTER_EXPOSURE = "after_exposure", "After exposure"
    BEFORE_IRREVERSIBLE = "before_irreversible", "Before the irreversible step"


class Localization(EvidenceBase):
    """One read of the level image. ``superseded_at`` is set when the plan changes (its
    confirmation depended on the old plan) or when it is withdrawn."""

    phase = models.CharField(max_length=24, choices=LocalizationPhase.choices)
    reference = models.CharField(max_length=10, choices=Reference.choices)
    count = models.PositiveSmallIntegerField()
    label = models.CharField(max_length=20)
    # Where the marker or needle is on the image, when the view shows it (contract v2, rule 3).
    side = models.CharField(max_length=5, blank=True, default="")
    marker_in_place = models.BooleanField()
    durable_mark_placed = models.BooleanField(default=False)
    read_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    plan_version = models.ForeignKey(PlanVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    confirmed_signature = models.OneToOneField(
        "Signature", on_delete=models.PROTECT, null=True, blank=True, related_name="confirmed_localization"
    )

    class Meta:
        ordering = ["case", "recorded_at", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(count__gte=1), name="localization_count_positive"),
            models.CheckConstraint(condition=models.Q(side__in=["", "left", "right"]), name="localization_side_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} count {self.count} = {self.label} (case {self.case_id})"
