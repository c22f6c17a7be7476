"""Rooms, patients, cases and the level-check verdicts recorded on them."""

from __future__ import annotations

from django.db import models

from checklist.models.people import User
from checklist.models.vocabulary import engine_choices
from levelverify.check import PROCEDURES, SIDES, VERDICTS


class Room(models.Model):
    """An operating room. Nurses, anesthesia and radiographers act on the cases of their rooms."""

    name = models.CharField(max_length=40, unique=True)
    staff = models.ManyToManyField(User, related_name="rooms", blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Patient(models.Model):
    mrn = models.CharField("MRN", max_length=40, unique=True)
    family_name = models.CharField(max_length=120)
    given_name = models.CharField(max_length=120)
    date_of_birth = models.DateField()
    # GS1 Global Service Relation Number (AI 8018) printed on the wristband, when the hospital uses one.
    gsrn = models.CharField("GSRN", max_length=18, unique=True, null=True, blank=True)

    class Meta:
        ordering = ["family_name", "given_name"]

    def __str__(self) -> str:
        return f"{self.family_name.upper()}, {self.given_name} (MRN {self.mrn})"


Procedure = engine_choices(
    "Procedure",
    PROCEDURES,
    {
        "selective_nerve_root_block": "Selective nerve root block",
        "transforaminal_epidural_injection": "Transforaminal epidural injection",
        "interlaminar_epidural_injection": "Interlaminar epidural injection",
        "vertebral_augmentation": "Vertebral augmentation",
        "decompression": "Decompression",
        "discectomy": "Discectomy",
        "fusion": "Fusion",
    },
)
Side = engine_choices("Side", SIDES, {"left": "Left", "right": "Right", "bilateral": "Bilateral", "midline": "Midline"})


class CaseState(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    SIGN_IN = "sign_in", "Sign in"
    TIME_OUT = "time_out", "Time-out"
    LOCALIZATION = "localization", "Localization"
    SIGN_OUT = "sign_out", "Sign out"
    COMPLETED = "completed", "Completed"
    COMPLETED_WRONG_LEVEL = "completed_wrong_level", "Completed with a wrong-level event"
    CANCELLED = "cancelled", "Cancelled"


# States in which nothing more is recorded, and the room is free for the next patient.
CLOSED_STATES = (CaseState.COMPLETED, CaseState.COMPLETED_WRONG_LEVEL, CaseState.CANCELLED)


Verdict = engine_choices("Verdict", VERDICTS, {"pass": "Pass", "stop": "Stop", "incomplete": "Incomplete"})


class Case(models.Model):
    """One spine procedure. ``version`` changes on every write to the case or anything in it
    (devices poll it); ``evidence_version`` only when the level evidence changes (a write made
    on stale evidence is refused with 409)."""

    # Not a column: what the reminder rules read, as it was when a service locked the case
    # (services.common.case_lock); case_touch reconciles reminders only when it changed.
    reminder_inputs_at_lock: tuple[object, ...] | None = None

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="cases")
    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="cases")
    scheduled_start = models.DateTimeField(db_index=True)
    surgeon = models.ForeignKey(User, on_delete=models.PROTECT, related_name="cases_as_surgeon")
    co_surgeons = models.ManyToManyField(User, related_name="cases_as_co_surgeon", blank=True)
    anesthesia = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="cases_as_anesthesia", null=True, blank=True
    )
    procedure = models.CharField(max_length=60, choices=Procedure.choices)
    state = models.CharField(max_length=24, choices=CaseState.choices, default=CaseState.SCHEDULED)
    version = models.PositiveIntegerField(default=1)
    evidence_version = models.PositiveIntegerField(default=1)
    verdict = models.CharField(max_length=12, choices=Verdict.choices, default=Verdict.INCOMPLETE)
    latest_verdict = models.ForeignKey(
        "LevelVerdict", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The verdict that opened the current unresolved stop; its resolution becomes a near miss.
    open_stop_verdict = models.ForeignKey(
        "LevelVerdict", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    patient_in_room_at = models.DateTimeField(null=True, blank=True)
    time_out_completed_at = models.DateTimeField(null=True, blank=True)
    localization_passed_at = models.DateTimeField(null=True, blank=True)
    procedure_ended_at = models.DateTimeField(null=True, blank=True)
    signed_out_at = models.DateTimeField(null=True, blank=True)
    treated_levels = models.CharField(max_length=200, blank=True)
    # Set when an anatomy record changed after a level image was read (its counts were superseded);
    # the quality officers see these cases (contract v2: anatomy is never edited to fit a count).
    anatomy_changed_after_count_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["scheduled_start", "id"]
        indexes = [models.Index(fields=["room", "scheduled_start"])]
        permissions = []

    def __str__(self) -> str:
        return f"Case {self.pk} · {self.get_procedure_display()} · {self.room}"


class LevelVerdict(models.Model):
    """A level-check verdict the workflow acted on, with the exact input it was computed from."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="verdicts")
    computed_at = models.DateTimeField()
    stage = models.CharField(max_length=20)
    verdict = models.CharField(max_length=12, choices=Verdict.choices)
    findings = models.JSONField()
    request = models.JSONField()
    evidence_version = models.PositiveIntegerField()
    trigger = models.CharField(max_length=60)
    triggered_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["case", "computed_at", "id"]

    def __str__(self) -> str:
        return f"{self.verdict} at {self.stage} (case {self.case_id})"
