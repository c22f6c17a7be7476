"""The level image: one DICOM instance received from a C-arm, matched to a case or waiting."""

from __future__ import annotations

from django.db import models

from checklist.models import Case, Localization, Reference, User


class MatchedBy(models.TextChoices):
    ACCESSION = "accession", "Accession number"
    PATIENT_ROOM_TIME = "patient_room_time", "Patient ID, room and time window"
    ASSIGNED = "assigned", "Assigned by hand"
    NONE = "", "Unmatched"


class LevelImage(models.Model):
    """What the record needs of an image; the pixels stay in the image store (``storage_key``)."""

    sop_instance_uid = models.CharField("SOP Instance UID", max_length=64, unique=True)
    series_instance_uid = models.CharField("Series Instance UID", max_length=64)
    study_instance_uid = models.CharField("Study Instance UID", max_length=64, db_index=True)
    sop_class_uid = models.CharField("SOP Class UID", max_length=64)
    modality = models.CharField(max_length=16)
    frame = models.PositiveIntegerField(default=1, help_text="The frame read (1-based).")
    number_of_frames = models.PositiveIntegerField(default=1)
    rows = models.PositiveIntegerField()
    columns = models.PositiveIntegerField()
    pixel_sha256 = models.CharField("SHA-256 of the pixel data", max_length=64)
    acquired_at = models.DateTimeField(null=True, blank=True)
    accession_number = models.CharField(max_length=16, blank=True, db_index=True)
    patient_id = models.CharField("patient ID", max_length=64, blank=True)
    calling_ae_title = models.CharField(max_length=16, blank=True)
    station_name = models.CharField(max_length=16, blank=True)
    storage_key = models.CharField(max_length=255, help_text="Where the image store keeps the instance.")
    received_at = models.DateTimeField()
    case = models.ForeignKey(Case, on_delete=models.PROTECT, null=True, blank=True, related_name="level_images")
    matched_by = models.CharField(max_length=20, choices=MatchedBy.choices, blank=True, default=MatchedBy.NONE)
    unmatched_reason = models.CharField(max_length=200, blank=True)
    assigned_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-received_at", "-pk"]
        indexes = [models.Index(fields=["case", "received_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(case__isnull=True, matched_by="")
                | models.Q(case__isnull=False) & ~models.Q(matched_by=""),
                name="imaging_level_image_matched_by_iff_case",
            ),
            models.CheckConstraint(condition=models.Q(frame__gte=1), name="imaging_level_image_frame_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.modality} {self.sop_instance_uid}"


class ImageRead(models.Model):
    """A count made by tapping on a level image: the reference first, then each vertebra up to
    the marker. It binds the image to the localization it produced (whose count is the taps')."""

    image = models.OneToOneField(LevelImage, on_delete=models.PROTECT, related_name="read")
    localization = models.OneToOneField(Localization, on_delete=models.PROTECT, related_name="image_read")
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="image_reads")
    reference = models.CharField(max_length=10, choices=Reference.choices)
    taps = models.JSONField(help_text="[[column, row], ...] in image pixels; the first is the reference.")
    count = models.PositiveSmallIntegerField()
    read_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(count__gte=1), name="imaging_image_read_count_positive")
        ]

    def __str__(self) -> str:
        return f"read of {self.image_id}: {self.count} from {self.reference}"


class SecondRead(models.Model):
    """An independent second read of a counted level image, by someone other than the first
    reader, made without seeing the first read's taps, count or label. ``differences`` says
    what disagrees (empty when the reads agree); a disagreement stops the level check."""

    first_read = models.OneToOneField(ImageRead, on_delete=models.PROTECT, related_name="second_read")
    image = models.ForeignKey(LevelImage, on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="image_second_reads")
    reference = models.CharField(max_length=10, choices=Reference.choices)
    taps = models.JSONField(help_text="[[column, row], ...] in image pixels; the first is the reference.")
    count = models.PositiveSmallIntegerField()
    label = models.CharField(max_length=20, help_text="The level the second reader named.")
    agrees = models.BooleanField()
    differences = models.JSONField(
        default=list, blank=True, help_text="What differs from the first read, one sentence each."
    )
    read_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(count__gte=1), name="imaging_second_read_count_positive"),
            models.CheckConstraint(
                condition=models.Q(agrees=True, differences=[]) | models.Q(agrees=False) & ~models.Q(differences=[]),
                name="imaging_second_read_agrees_iff_no_difference",
            ),
        ]

    def __str__(self) -> str:
        return f"second read of {self.image_id}: {self.count} from {self.reference}"
