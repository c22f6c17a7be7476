"""Electronic signatures and failed signing attempts."""

from __future__ import annotations

from django.db import models

from checklist.models.cases import Case
from checklist.models.people import User


class SignatureMeaning(models.TextChoices):
    APPROVED_PLAN = "approved plan", "Approved plan"
    CONFIRMED_LEVEL = "confirmed level", "Confirmed level"
    WRONG_LEVEL_STATEMENT = "wrong-level statement", "Wrong-level event statement"


class Signature(models.Model):
    """An e-signature (21 CFR 11.50/11.70): who, printed name, when, meaning, and the hash of the
    exact content signed. A signature whose content no longer hashes the same is invalid."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="signatures")
    signer = models.ForeignKey(User, on_delete=models.PROTECT, related_name="signatures")
    printed_name = models.CharField(max_length=200)
    signer_role = models.CharField(max_length=20)
    meaning = models.CharField(max_length=40, choices=SignatureMeaning.choices)
    signed_at = models.DateTimeField()
    subject_type = models.CharField(max_length=40)
    subject_id = models.PositiveBigIntegerField()
    content_hash = models.CharField(max_length=64)
    content = models.JSONField(help_text="The canonical content that was signed.")
    # HMAC-SHA256 under the audit key of who signed what, when, with which meaning and the content
    # hash (audit.signature_binding): a signature re-hashed in the database no longer verifies.
    mac = models.CharField(max_length=64, blank=True, db_default="")
    mac_key_id = models.CharField(max_length=16, blank=True, db_default="")

    class Meta:
        ordering = ["case", "signed_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["subject_type", "subject_id", "meaning"], name="one_signature_per_subject")
        ]

    def __str__(self) -> str:
        return f"{self.printed_name}: {self.meaning} at {self.signed_at:%Y-%m-%d %H:%M}"


class SigningFailure(models.Model):
    """Consecutive failed signing attempts of a user (21 CFR 11.300); cleared by a good signature."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="signing_failures")
    at = models.DateTimeField()
    case = models.ForeignKey(Case, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    cleared_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"failed signing by user {self.user_id} at {self.at:%Y-%m-%d %H:%M:%S}"
