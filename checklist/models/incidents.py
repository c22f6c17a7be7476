"""Near misses caught by a stop, and adverse events (wrong level treated)."""

from __future__ import annotations

from django.db import models

from checklist.models.cases import Case, LevelVerdict
from checklist.models.people import User
from checklist.models.signatures import Signature


class NearMiss(models.Model):
    """A stop that was later resolved by new evidence: a wrong-level error caught in time."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="near_misses")
    codes = models.JSONField(help_text="Stop finding codes, e.g. ['CONSENT_MISMATCH'].")
    kind = models.CharField(max_length=20, help_text="consent, marking, imaging or count.")
    findings = models.JSONField()
    stop_verdict = models.ForeignKey(LevelVerdict, on_delete=models.PROTECT, related_name="+")
    resolving_verdict = models.ForeignKey(LevelVerdict, on_delete=models.PROTECT, related_name="+")
    caught_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    caught_at = models.DateTimeField()
    resolved_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    resolved_at = models.DateTimeField()
    resolution = models.CharField(max_length=300)
    learning_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-resolved_at", "id"]

    def __str__(self) -> str:
        return f"Near miss {self.kind} (case {self.case_id})"


class AdverseEvent(models.Model):
    """A wrong-level treatment, recorded as treated at sign-out: never a near miss. The surgeon's
    statement is e-signed; quality officers and administrators are alerted when it is recorded."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="adverse_events")
    kind = models.CharField(max_length=20, default="wrong_level")
    planned_levels = models.CharField(max_length=200)
    treated_levels = models.CharField(max_length=200)
    statement = models.TextField()
    signature = models.OneToOneField(Signature, on_delete=models.PROTECT, related_name="+")
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()
    alerted = models.JSONField(default=list, help_text="Usernames alerted at once (quality officers, admins).")

    class Meta:
        ordering = ["-recorded_at", "id"]

    def __str__(self) -> str:
        return f"Wrong-level event (case {self.case_id}): planned {self.planned_levels}, treated {self.treated_levels}"
