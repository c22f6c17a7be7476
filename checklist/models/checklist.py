"""The checklist run of a case and its step attestations."""

from __future__ import annotations

from datetime import datetime

from django.db import models

from checklist.models.cases import Case
from checklist.models.evidence import PlanVersion
from checklist.models.people import User

# The source marker of what was back-entered from the downtime paper (issue 18), in its audit
# event's ``after`` (beside ``acted_at``, the time written on the paper).
DOWNTIME_PAPER = "downtime_paper"


class ChecklistRun(models.Model):
    case = models.OneToOneField(Case, on_delete=models.PROTECT, related_name="checklist_run")
    template_code = models.CharField(max_length=60)
    template_version = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    started_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")

    def __str__(self) -> str:
        return f"{self.template_code} v{self.template_version} for case {self.case_id}"


class StepAttestation(models.Model):
    """One role's attestation of one checklist step. Voided (never deleted) when the plan changes."""

    run = models.ForeignKey(ChecklistRun, on_delete=models.PROTECT, related_name="attestations")
    step_code = models.CharField(max_length=80)
    phase = models.CharField(max_length=20)
    role = models.CharField(max_length=20)
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    attested_at = models.DateTimeField()
    evidence_version = models.PositiveIntegerField()
    plan_version = models.ForeignKey(PlanVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    voided_at = models.DateTimeField(null=True, blank=True)
    voided_reason = models.CharField(max_length=200, blank=True)
    # Back-entered after a downtime (issue 18): ``user`` initialled the paper at ``paper_time``;
    # ``attested_at`` is when it was entered, by ``entered_by``.
    recorded_from_paper = models.BooleanField(default=False)
    paper_time = models.DateTimeField(null=True, blank=True)
    entered_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["run", "attested_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "step_code", "role"],
                condition=models.Q(voided_at__isnull=True),
                name="one_live_attestation_per_step_and_role",
            ),
            models.CheckConstraint(
                condition=models.Q(recorded_from_paper=False, paper_time__isnull=True, entered_by__isnull=True)
                | models.Q(recorded_from_paper=True, paper_time__isnull=False, entered_by__isnull=False),
                name="paper_attestation_has_paper_time_and_entrant",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.step_code} by {self.role} (run {self.run_id})"

    @property
    def acted_at(self) -> datetime:
        """When the step was done: the paper's time for a back-entry, else when it was attested."""
        return self.paper_time if self.recorded_from_paper and self.paper_time else self.attested_at
