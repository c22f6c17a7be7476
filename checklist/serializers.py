"""Input and output serializers of the checklist REST API.

Input serializers check shape and types only (and resolve usernames and room names); every rule
about the case lives in ``checklist.services``. Output serializers describe exactly what the API
returns, so the OpenAPI schema is the contract.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from checklist.models import (
    AnatomyRecord,
    AuditEvent,
    Case,
    CaseState,
    Consent,
    IdentityScan,
    Localization,
    LocalizationPhase,
    MarkingRegion,
    Modality,
    NearMiss,
    Patient,
    PlanVersion,
    PreopImaging,
    Room,
    ScanInput,
    Signature,
    SiteMarking,
    StepAttestation,
    User,
)
from checklist.templates_catalog import ATTESTING_ROLES
from levelverify.check import PROCEDURES, REFERENCES, SIDES, VERDICTS
from levelverify.serializers import (
    FindingSerializer,
    LevelCheckRequestSerializer,
    LevelCheckResponseSerializer,
    TargetSerializer,
)
from levelverify.spine import SOURCES

MAX_VERSION = 2**31 - 1
# The same value lists as the level-check serializers, so the schema has one enum per name.
PROCEDURE_CHOICES = list(PROCEDURES)
SIDE_CHOICES = list(SIDES)
REFERENCE_CHOICES = list(REFERENCES)
VERDICT_CHOICES = list(VERDICTS)
SOURCE_CHOICES = list(SOURCES)
DOB_IN_FUTURE = "The date of birth cannot be in the future."

# ------------------------------------------------------------------------------------------------
# Input
# ------------------------------------------------------------------------------------------------


class _NamedObjectField(serializers.SlugRelatedField):
    """A user by username or a room by name. Text the database cannot hold is refused as 400."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str) or "\x00" in data or any("\ud800" <= c <= "\udfff" for c in data):
            self.fail("invalid")
        return super().to_internal_value(data)


def username_field(**kwargs: Any) -> _NamedObjectField:
    return _NamedObjectField(
        slug_field="username", queryset=User.objects.filter(is_active=True), help_text="A username.", **kwargs
    )


class CaseListQuerySerializer(serializers.Serializer):
    date = serializers.DateField(required=False, help_text="Only cases scheduled on this day (YYYY-MM-DD).")
    room = serializers.CharField(required=False, max_length=40, help_text="Only cases in this room (its name).")
    state = serializers.ChoiceField(choices=CaseState.choices, required=False)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=200)
    offset = serializers.IntegerField(required=False, min_value=0, max_value=MAX_VERSION, default=0)


class CaseScheduleInputSerializer(serializers.Serializer):
    mrn = serializers.CharField(max_length=40)
    family_name = serializers.CharField(max_length=120)
    given_name = serializers.CharField(max_length=120)
    date_of_birth = serializers.DateField()
    room = _NamedObjectField(slug_field="name", queryset=Room.objects.all(), help_text="The room's name.")
    scheduled_start = serializers.DateTimeField()
    surgeon = username_field()
    anesthesia = username_field(required=False, allow_null=True)
    co_surgeons = serializers.ListField(child=username_field(), required=False, max_length=10)
    procedure = serializers.ChoiceField(choices=PROCEDURE_CHOICES)

    def validate_date_of_birth(self, value: Any) -> Any:
        if value > timezone.localdate():
            raise serializers.ValidationError(DOB_IN_FUTURE)
        return value


class VersionedInputSerializer(serializers.Serializer):
    """Every write names the case's ``evidence_version`` the device displayed (409 when stale)."""

    expected_version = serializers.IntegerField(
        min_value=1,
        max_value=MAX_VERSION,
        help_text="The case's evidence_version as the device showed it; a stale value gets 409.",
    )


class CaseInRoomInputSerializer(VersionedInputSerializer):
    pass


class PlanReviseInputSerializer(VersionedInputSerializer):
    procedure = serializers.ChoiceField(choices=PROCEDURE_CHOICES)
    levels = serializers.CharField(max_length=200, help_text="e.g. 'L2', 'L2-L3', 'L1-L3'.")
    side = serializers.ChoiceField(choices=SIDE_CHOICES)
    approach = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    notes = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


class SigningInputSerializer(VersionedInputSerializer):
    password = serializers.CharField(max_length=256, trim_whitespace=False, style={"input_type": "password"})
    username = serializers.CharField(
        max_length=150,
        required=False,
        allow_blank=True,
        default="",
        help_text="Needed at the first signing of a browser session and always with token authentication.",
    )


class ConsentInputSerializer(VersionedInputSerializer):
    procedure = serializers.ChoiceField(choices=PROCEDURE_CHOICES)
    levels = serializers.CharField(max_length=200)
    side = serializers.ChoiceField(choices=SIDE_CHOICES)
    date_signed = serializers.DateField()
    witness = serializers.CharField(max_length=200)
    scan = serializers.FileField(required=False, allow_empty_file=False, help_text="The signed form (optional).")


class MarkingInputSerializer(VersionedInputSerializer):
    region = serializers.ChoiceField(choices=MarkingRegion.choices)
    side = serializers.ChoiceField(choices=SIDE_CHOICES)
    marked_by = username_field()


class ImagingInputSerializer(VersionedInputSerializer):
    modality = serializers.ChoiceField(choices=Modality.choices)
    study_date = serializers.DateField()
    levels = serializers.CharField(max_length=200, help_text="The level of the pathology.")
    reviewed_by = username_field()


class AnatomyInputSerializer(VersionedInputSerializer):
    thoracic = serializers.IntegerField(min_value=11, max_value=13)
    lumbar = serializers.IntegerField(min_value=4, max_value=6)
    lowest_rib = serializers.CharField(max_length=4, required=False, allow_blank=True, default="")
    lowest_mobile = serializers.CharField(max_length=4, required=False, allow_blank=True, default="")
    source = serializers.ChoiceField(choices=SOURCE_CHOICES, required=False, default="whole_spine")  # type: ignore[assignment]  # DRF pops declared fields off the class


class LocalizationInputSerializer(VersionedInputSerializer):
    phase = serializers.ChoiceField(choices=LocalizationPhase.choices)
    reference = serializers.ChoiceField(choices=REFERENCE_CHOICES)
    count = serializers.IntegerField(min_value=1, max_value=99)
    label = serializers.CharField(max_length=20, help_text="The vertebra (or segment) the team named.")  # type: ignore[assignment]
    marker_in_place = serializers.BooleanField(help_text="The marker was still in place when the image was read.")
    # Checked by the service (left, right or blank); a CharField keeps one "side" enum in the schema.
    side = serializers.CharField(
        required=False,
        default="",
        allow_blank=True,
        max_length=5,
        help_text="Where the marker or needle is on the image, when the view shows it: left or right.",
    )
    read_by = username_field()
    durable_mark_placed = serializers.BooleanField(required=False, default=False)


class DurableMarkInputSerializer(VersionedInputSerializer):
    pass


class StepAttestInputSerializer(VersionedInputSerializer):
    role = serializers.ChoiceField(
        choices=list(ATTESTING_ROLES),
        required=False,
        allow_null=True,
        default=None,
        help_text="The role to attest under, for a user who holds several; default: the first that applies.",
    )


@extend_schema_field(OpenApiTypes.STR)
class PaperTimeField(serializers.Field):
    """A time written on the downtime paper: ``HH:MM`` (on the case's day) or an ISO date and time."""

    default_error_messages = {"invalid": "Give the time on the paper as HH:MM, or as a date and time (ISO 8601)."}

    def to_internal_value(self, data: Any) -> dt.time | dt.datetime:
        if isinstance(data, str) and len(data) <= 40:
            for parse in (dt.time.fromisoformat, dt.datetime.fromisoformat):
                try:
                    return parse(data)
                except ValueError:
                    continue
        self.fail("invalid")

    def to_representation(self, value: Any) -> str:
        return value.isoformat()


class PaperEntryInputSerializer(serializers.Serializer):
    step = serializers.CharField(max_length=80, help_text="The step's code.")
    role = serializers.ChoiceField(choices=list(ATTESTING_ROLES), help_text="The role whose box this is.")
    attested_by = username_field()  # who initialled the box on the paper
    paper_time = PaperTimeField(help_text="The time written beside the initials: HH:MM or ISO 8601.")


class DowntimeBackEntryInputSerializer(VersionedInputSerializer):
    entries = serializers.ListField(
        child=PaperEntryInputSerializer(), min_length=1, max_length=200, help_text="The boxes filled in on the paper."
    )


class PhaseCompleteInputSerializer(VersionedInputSerializer):
    pass


class IdentityScanInputSerializer(VersionedInputSerializer):
    barcode = serializers.CharField(
        max_length=400,
        trim_whitespace=False,
        help_text=(
            "Exactly what the scanner typed or the camera read: a GS1 element string with the GSRN (AI 8018), "
            "with its symbology identifier and group separators, or the human-readable '(8018)...'; or a plain MRN."
        ),
    )
    scanned_with = serializers.ChoiceField(
        choices=ScanInput.choices, default=ScanInput.SCANNER, help_text="What read the barcode."
    )


class TreatedLevelsInputSerializer(VersionedInputSerializer):
    levels = serializers.CharField(max_length=200)


class AuditQuerySerializer(serializers.Serializer):
    after_seq = serializers.IntegerField(required=False, min_value=0, max_value=2**62, default=0)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=100)


class PageQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=100)
    offset = serializers.IntegerField(required=False, min_value=0, max_value=MAX_VERSION, default=0)


# ------------------------------------------------------------------------------------------------
# Output
# ------------------------------------------------------------------------------------------------


class UserRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["username", "full_name"]


def _user_slug() -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(slug_field="username", read_only=True)


def _choice_out(choices: Sequence[str]) -> serializers.ChoiceField:
    return serializers.ChoiceField(choices=choices, read_only=True)


class CaseStatusSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.IntegerField(help_text="Changes on every write to the case or anything in it.")
    evidence_version = serializers.IntegerField(help_text="Changes when the level evidence changes.")
    state = serializers.ChoiceField(choices=CaseState.choices)
    verdict = serializers.ChoiceField(choices=VERDICT_CHOICES)


class CaseStateSerializer(CaseStatusSerializer):
    findings = FindingSerializer(many=True, help_text="Findings of the latest verdict.")


class ConflictResponseSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))  # type: ignore[assignment]
    current = CaseStatusSerializer(required=False, help_text="The case as it is now.")


class PatientSerializer(serializers.ModelSerializer):
    class Meta:
        model = Patient
        fields = ["mrn", "family_name", "given_name", "date_of_birth"]


class CaseRowSerializer(serializers.ModelSerializer):
    procedure = _choice_out(PROCEDURE_CHOICES)
    verdict = _choice_out(VERDICT_CHOICES)
    patient = PatientSerializer()
    room: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="name", read_only=True)
    surgeon = UserRefSerializer()
    anesthesia = UserRefSerializer(allow_null=True)
    target_display = serializers.CharField(allow_null=True, default=None, help_text="e.g. 'left L2 nerve root'.")

    class Meta:
        model = Case
        fields = [
            "id",
            "patient",
            "room",
            "scheduled_start",
            "procedure",
            "surgeon",
            "anesthesia",
            "target_display",
            "state",
            "verdict",
            "version",
            "evidence_version",
        ]


class CaseListSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    results = CaseRowSerializer(many=True)


class SignatureSerializer(serializers.ModelSerializer):
    signer = _user_slug()
    valid = serializers.BooleanField(help_text="The signed content still hashes to the recorded hash.")
    current = serializers.BooleanField(help_text="What was signed is still in force (not superseded).")

    class Meta:
        model = Signature
        fields = [
            "id",
            "signer",
            "printed_name",
            "signer_role",
            "meaning",
            "signed_at",
            "subject_type",
            "subject_id",
            "content_hash",
            "valid",
            "current",
        ]


class PlanVersionSerializer(serializers.ModelSerializer):
    procedure = _choice_out(PROCEDURE_CHOICES)
    side = _choice_out(SIDE_CHOICES)
    created_by = _user_slug()
    signature = SignatureSerializer(allow_null=True, read_only=True)

    class Meta:
        model = PlanVersion
        fields = [
            "id",
            "number",
            "procedure",
            "structure",
            "levels",
            "side",
            "approach",
            "notes",
            "created_by",
            "created_at",
            "signed_at",
            "superseded_at",
            "signature",
        ]


EVIDENCE_FIELDS = ["id", "recorded_by", "recorded_at", "superseded_at", "version"]


class ConsentSerializer(serializers.ModelSerializer):
    procedure = _choice_out(PROCEDURE_CHOICES)
    side = _choice_out(SIDE_CHOICES)
    recorded_by = _user_slug()

    class Meta:
        model = Consent
        fields = [*EVIDENCE_FIELDS, "procedure", "levels", "side", "date_signed", "witness", "scan_sha256"]


class SiteMarkingSerializer(serializers.ModelSerializer):
    region = serializers.CharField(read_only=True)
    side = _choice_out(SIDE_CHOICES)
    recorded_by = _user_slug()
    marked_by = _user_slug()

    class Meta:
        model = SiteMarking
        fields = [*EVIDENCE_FIELDS, "region", "side", "marked_by"]


class PreopImagingRecordSerializer(serializers.ModelSerializer):
    recorded_by = _user_slug()
    reviewed_by = _user_slug()

    class Meta:
        model = PreopImaging
        fields = [*EVIDENCE_FIELDS, "modality", "study_date", "levels", "reviewed_by"]


class AnatomyRecordSerializer(serializers.ModelSerializer):
    source = _choice_out(SOURCE_CHOICES)  # type: ignore[assignment]
    recorded_by = _user_slug()

    class Meta:
        model = AnatomyRecord
        fields = [*EVIDENCE_FIELDS, "thoracic", "lumbar", "lowest_rib", "lowest_mobile", "source"]


class LocalizationRecordSerializer(serializers.ModelSerializer):
    reference = _choice_out(REFERENCE_CHOICES)
    recorded_by = _user_slug()
    read_by = _user_slug()
    plan_version: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="number", read_only=True, allow_null=True
    )
    confirmed_signature: serializers.PrimaryKeyRelatedField = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True
    )

    class Meta:
        model = Localization
        fields = [
            *EVIDENCE_FIELDS,
            "phase",
            "reference",
            "count",
            "label",
            "side",
            "marker_in_place",
            "durable_mark_placed",
            "read_by",
            "plan_version",
            "confirmed_signature",
        ]


class AttestationSerializer(serializers.ModelSerializer):
    user = _user_slug()

    class Meta:
        model = StepAttestation
        fields = [
            "id",
            "step_code",
            "phase",
            "role",
            "user",
            "attested_at",
            "evidence_version",
            "recorded_from_paper",
            "paper_time",
        ]


class AttesterSerializer(serializers.Serializer):
    user = serializers.CharField()
    name = serializers.CharField()
    at = serializers.DateTimeField(help_text="When it was attested (for a back-entry: when it was entered).")
    from_paper = serializers.BooleanField(default=False, help_text="Back-entered from the downtime paper.")
    paper_time = serializers.DateTimeField(required=False, help_text="The time on the downtime paper.")


class StepStatusSerializer(serializers.Serializer):
    code = serializers.CharField()
    phase = serializers.CharField()
    text = serializers.CharField()
    help = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField(), help_text="Every role that must attest.")
    evidence = serializers.ListField(child=serializers.CharField())
    attested_by = serializers.DictField(child=AttesterSerializer(), help_text="role -> who attested and when.")
    complete = serializers.BooleanField()
    missing_roles = serializers.ListField(child=serializers.CharField())
    scan_role = serializers.CharField(
        allow_null=True,
        help_text="The role that attests this step by scanning the wristband (POST identity-scans/), not a tick.",
    )


class ChecklistSerializer(serializers.Serializer):
    template_code = serializers.CharField()
    template_version = serializers.IntegerField()
    steps = StepStatusSerializer(many=True)


class StoredVerdictSerializer(serializers.Serializer):
    verdict = serializers.ChoiceField(choices=VERDICT_CHOICES)
    stage = serializers.CharField()
    computed_at = serializers.DateTimeField()
    evidence_version = serializers.IntegerField()
    trigger = serializers.CharField()
    findings = FindingSerializer(many=True)
    target = TargetSerializer(allow_null=True)
    expected_counts = serializers.DictField(
        child=serializers.DictField(child=serializers.IntegerField(allow_null=True)),
        help_text="For each plan unit, the count to expect from each reference.",
    )
    anatomy = serializers.DictField(allow_null=True)


class NearMissSerializer(serializers.ModelSerializer):
    caught_by = _user_slug()
    resolved_by = _user_slug()
    codes = serializers.ListField(child=serializers.CharField())
    findings = FindingSerializer(many=True)

    class Meta:
        model = NearMiss
        fields = [
            "id",
            "case",
            "kind",
            "codes",
            "findings",
            "caught_by",
            "caught_at",
            "resolved_by",
            "resolved_at",
            "resolution",
            "learning_note",
        ]


class NearMissListSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    results = NearMissSerializer(many=True)


class TeamSerializer(serializers.Serializer):
    surgeon = UserRefSerializer()
    co_surgeons = UserRefSerializer(many=True)
    anesthesia = UserRefSerializer(allow_null=True)
    room_staff = UserRefSerializer(many=True)


class CaseDetailSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="case.id")
    patient = PatientSerializer(source="case.patient")
    room = serializers.CharField(source="case.room.name")
    scheduled_start = serializers.DateTimeField(source="case.scheduled_start")
    procedure = serializers.CharField(source="case.procedure")
    state = serializers.ChoiceField(choices=CaseState.choices, source="case.state")
    verdict = serializers.CharField(source="case.verdict")
    version = serializers.IntegerField(source="case.version")
    evidence_version = serializers.IntegerField(source="case.evidence_version")
    patient_in_room_at = serializers.DateTimeField(source="case.patient_in_room_at", allow_null=True)
    time_out_completed_at = serializers.DateTimeField(source="case.time_out_completed_at", allow_null=True)
    localization_passed_at = serializers.DateTimeField(source="case.localization_passed_at", allow_null=True)
    signed_out_at = serializers.DateTimeField(source="case.signed_out_at", allow_null=True)
    treated_levels = serializers.CharField(source="case.treated_levels")
    team = TeamSerializer()
    plan = PlanVersionSerializer(allow_null=True, help_text="The plan version in force (the latest).")
    plan_versions = PlanVersionSerializer(many=True)
    consent = ConsentSerializer(allow_null=True)
    marking = SiteMarkingSerializer(allow_null=True)
    imaging = PreopImagingRecordSerializer(allow_null=True)
    anatomy = AnatomyRecordSerializer(allow_null=True)
    localizations = LocalizationRecordSerializer(many=True, help_text="Every level image read, withdrawn ones too.")
    latest_verdict = StoredVerdictSerializer(allow_null=True)
    checklist = ChecklistSerializer()
    near_misses = NearMissSerializer(
        many=True, allow_null=True, help_text="Null unless your role may read near misses (quality, admin)."
    )


class AuditEventSerializer(serializers.ModelSerializer):
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)
    acted_at = serializers.DateTimeField(
        allow_null=True,
        read_only=True,
        help_text="When the person acted on their device (the request's X-Acted-At), null if it did not say; "
        "``at`` is when the server recorded the event.",
    )

    class Meta:
        model = AuditEvent
        fields = [
            "seq",
            "at",
            "acted_at",
            "actor_username",
            "actor_name",
            "actor_role",
            "action",
            "object_type",
            "object_id",
            "before",
            "after",
            "reason",
            "request_id",
            "client",
            "prev_hash",
            "event_hash",
        ]


class AuditPageSerializer(serializers.Serializer):
    case_id = serializers.IntegerField()
    events = AuditEventSerializer(many=True)
    next_after_seq = serializers.IntegerField(
        allow_null=True, help_text="Pass as after_seq for the next page; null on the last page."
    )


class CaseLevelCheckResultSerializer(LevelCheckResponseSerializer):
    anatomy = serializers.DictField(required=False, help_text="The anatomy the levels were read against.")


class CaseLevelCheckSerializer(serializers.Serializer):
    request = LevelCheckRequestSerializer(help_text="The level-check input built from the records in force.")
    result = CaseLevelCheckResultSerializer()


class SignatureListSerializer(serializers.Serializer):
    results = SignatureSerializer(many=True)


# --- write results: the case's new state and what was created --------------------------------------


class CaseWriteResultSerializer(serializers.Serializer):
    case = CaseStateSerializer()


class PlanWriteResultSerializer(CaseWriteResultSerializer):
    plan = PlanVersionSerializer()


class SignatureWriteResultSerializer(CaseWriteResultSerializer):
    signature = SignatureSerializer()


class BackEntryWriteResultSerializer(CaseWriteResultSerializer):
    attestations = AttestationSerializer(many=True)


class ConsentWriteResultSerializer(CaseWriteResultSerializer):
    consent = ConsentSerializer()


class MarkingWriteResultSerializer(CaseWriteResultSerializer):
    marking = SiteMarkingSerializer()


class ImagingWriteResultSerializer(CaseWriteResultSerializer):
    imaging = PreopImagingRecordSerializer()


class AnatomyWriteResultSerializer(CaseWriteResultSerializer):
    anatomy = AnatomyRecordSerializer()


class LocalizationWriteResultSerializer(CaseWriteResultSerializer):
    localization = LocalizationRecordSerializer()


class AttestationWriteResultSerializer(CaseWriteResultSerializer):
    attestation = AttestationSerializer()


class IdentityScanSerializer(serializers.ModelSerializer):
    scanned_by = _user_slug()
    expected_mrn = serializers.CharField(source="expected_patient.mrn")
    named_mrn = serializers.CharField(source="named_patient.mrn", allow_null=True, default=None)
    scanned_with = serializers.ChoiceField(source="source", choices=ScanInput.choices, read_only=True)

    class Meta:
        model = IdentityScan
        fields = [
            "id", "scanned_at", "scanned_by", "scanned_with", "kind", "value", "matched", "expected_mrn", "named_mrn",
        ]  # fmt: skip


class IdentityScanWriteResultSerializer(CaseWriteResultSerializer):
    scan = IdentityScanSerializer()
    attestation = AttestationSerializer(allow_null=True)
    note = serializers.CharField(allow_blank=True, help_text="Why a matching scan attested nothing, if it did not.")


class TreatedLevelsWriteResultSerializer(CaseWriteResultSerializer):
    treated_levels = serializers.CharField()
