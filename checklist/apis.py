"""REST API for the checklist app: one class per operation, input and output serializers.

Each API class is thin: find the case the user may see (404 otherwise), check the role may do
the action on it (403), validate the input (400), call ONE service, return the output serializer.
Reads come from ``checklist.selectors``. Nothing here writes a model.
"""

from __future__ import annotations

from typing import Any, ClassVar, cast

from django.contrib.auth import authenticate
from django.http import Http404
from django.utils.http import parse_etags
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from knox.models import AuthToken
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from checklist import selectors, services
from checklist import serializers as s
from checklist.access import policies
from checklist.access.sign_in import address_throttled_message, sign_in_address_throttled
from checklist.level_check import level_evaluate
from checklist.models import Case, User
from checklist.services.downtime import PaperEntry
from checklist.services.record_access import (
    REFUSED_BAD_INPUT,
    REFUSED_THROTTLED,
    access_case_open,
    access_sign_in,
    access_sign_in_fail,
)
from checklist.services.tokens import REVOKED_LOGOUT, token_create, token_id, token_revoke
from checklist.views import LOCKED_OUT
from core.errors import ApplicationError, ForbiddenError
from core.parsers import FormParser, JSONParser
from levelverify.serializers import ErrorResponseSerializer

BAD_CREDENTIALS = "Unable to sign in with the username and password given."
API_AFTER_ADMIN_RESET = (
    "Your password was set by an administrator: choose your own password (Account: change password) "
    "before you get an API token."
)
REVOKE_TAKES_NOTHING = "Send no body, or {}: revoking takes nothing but the token in the Authorization header."
NOT_A_TOKEN = "This request was not authenticated with an API token: there is no token to revoke."  # noqa: S105


class TokenObtainApi(APIView):
    """Exchange a username and password for an API token (login lockout applies). The token is
    in this answer only: the database keeps its SHA-512 digest, and it expires after
    ``REST_KNOX["TOKEN_TTL"]`` (12 hours by default)."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=256, trim_whitespace=False)

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField(help_text="Send as `Authorization: Token <token>`. Shown once, never again.")
        token_id = serializers.CharField(help_text="The token's name in the audit trail (not a credential).")
        expires_at = serializers.DateTimeField(allow_null=True)

        class Meta:
            ref_name = "TokenIssued"

    @extend_schema(
        operation_id="auth_token_create",
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            400: OpenApiResponse(ErrorResponseSerializer, description="Missing fields or wrong credentials."),
            403: OpenApiResponse(
                ErrorResponseSerializer, description="The password was set by an administrator: choose your own first."
            ),
            429: OpenApiResponse(ErrorResponseSerializer, description="Too many failures: the username is locked."),
        },
        examples=[OpenApiExample("Nurse", value={"username": "nurse", "password": "rightlevel-demo"})],
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        typed = request.data.get("username") if hasattr(request.data, "get") else None
        typed = typed if isinstance(typed, str) else ""
        if not serializer.is_valid():
            if typed and "username" in serializer.errors:
                access_sign_in_fail(username=typed, channel="api", reason=REFUSED_BAD_INPUT)
            raise ValidationError(serializer.errors)
        if sign_in_address_throttled(request._request):
            access_sign_in_fail(username=typed, channel="api", reason=REFUSED_THROTTLED)
            raise ApplicationError(address_throttled_message(), status_code=status.HTTP_429_TOO_MANY_REQUESTS)
        # Axes needs the Django request (it tracks failures and raises lockouts on it).
        user = authenticate(
            request=request._request,
            username=serializer.validated_data["username"],
            password=serializer.validated_data["password"],
        )
        if getattr(request._request, "axes_locked_out", False):
            # Normally AxesMiddleware answers first (checklist.views.lockout_response); this is
            # the same answer should the middleware ever be absent.
            raise ApplicationError(LOCKED_OUT, status_code=status.HTTP_429_TOO_MANY_REQUESTS)
        if user is None or not user.is_active:
            raise ApplicationError(BAD_CREDENTIALS, errors={"non_field_errors": [BAD_CREDENTIALS]})
        if user.password_set_by_admin_at is not None:
            # Whoever set the password must not get a token for the user: they choose their own first.
            access_sign_in_fail(username=user.username, channel="api", reason=API_AFTER_ADMIN_RESET)
            raise ForbiddenError(API_AFTER_ADMIN_RESET)
        access_sign_in(user=user, channel="api")
        token, plaintext = token_create(actor=user, user=user, channel="api")
        data = {"token": plaintext, "token_id": token_id(token), "expires_at": token.expiry}
        return Response(self.OutputSerializer(data).data)


class TokenRevokeApi(APIView):
    """Sign out an API client: the token that authenticates this request stops working."""

    @extend_schema(
        operation_id="auth_token_revoke",
        request=None,
        responses={
            204: OpenApiResponse(description="The token is revoked."),
            400: OpenApiResponse(ErrorResponseSerializer, description="A body was sent, or the request has no token."),
            401: OpenApiResponse(ErrorResponseSerializer, description="No valid token."),
        },
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        # Nothing to send; anything but an empty body or {} is refused rather than ignored.
        if not isinstance(request.data, dict) or request.data:
            raise ApplicationError(REVOKE_TAKES_NOTHING, errors={"non_field_errors": [REVOKE_TAKES_NOTHING]})
        if not isinstance(request.auth, AuthToken):
            raise ApplicationError(NOT_A_TOKEN, errors={"non_field_errors": [NOT_A_TOKEN]})
        token_revoke(actor=actor_of(request), token=request.auth, reason=REVOKED_LOGOUT)
        return Response(status=status.HTTP_204_NO_CONTENT)


# ------------------------------------------------------------------------------------------------
# Shared plumbing
# ------------------------------------------------------------------------------------------------

# Set in a browser session after its first good signature: later ones need the password only
# (21 CFR 11.200). Token clients always give both components.
SESSION_SIGNED = "rightlevel_signed"

READ_ERRORS: dict[int, Any] = {
    403: OpenApiResponse(ErrorResponseSerializer, description="Your role may not do this on this case."),
    404: OpenApiResponse(ErrorResponseSerializer, description="No such case, or not one you may see."),
}
WRITE_ERRORS: dict[int, Any] = {
    400: OpenApiResponse(ErrorResponseSerializer, description="Invalid input or a workflow rule refused it."),
    **READ_ERRORS,
    409: OpenApiResponse(
        s.ConflictResponseSerializer,
        description="The case changed since the device loaded it (stale expected_version) or the step was "
        "just attested on another device; `current` is the case now.",
    ),
}
SIGNING_ERRORS: dict[int, Any] = {
    **WRITE_ERRORS,
    403: OpenApiResponse(
        ErrorResponseSerializer, description="Not your case to sign, or the password (and username) did not match."
    ),
    423: OpenApiResponse(ErrorResponseSerializer, description="Signing is locked after repeated failed attempts."),
}


def actor_of(request: Request) -> User:
    return cast(User, request.user)


def validated(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def first_signing_in_session(request: Request) -> bool:
    if isinstance(request.successful_authenticator, SessionAuthentication):
        return not request.session.get(SESSION_SIGNED)
    return True


def signing_remembered(request: Request) -> None:
    if isinstance(request.successful_authenticator, SessionAuthentication):
        request.session[SESSION_SIGNED] = True


def etag_matches(header: str, etag: str) -> bool:
    """Weak comparison (RFC 9110 13.1.2): W/"5" matches "5"; '*' matches anything."""
    if not header:
        return False
    wanted = etag.removeprefix("W/")
    return any(tag == "*" or tag.removeprefix("W/") == wanted for tag in parse_etags(header))


class CaseApi(APIView):
    """Base: the case in the URL, seen through the user's scope, checked against the matrix."""

    policy_action: ClassVar[str] = "case.view"

    def case_for(self, request: Request, case_id: int) -> Case:
        user = actor_of(request)
        # A write's service locks the case and reads it again: the check needs the row alone.
        related = selectors.CASE_RELATED if request.method == "GET" else ()
        case = selectors.case_visible_get(user=user, case_id=case_id, related=related)
        policies.require(user, self.policy_action, case)
        return case


def written(result_serializer: type[serializers.Serializer], case_id: int, code: int = 200, **created: Any) -> Response:
    data = result_serializer({"case": selectors.case_status(case_id), **created}).data
    return Response(data, status=code)


def _example(name: str, value: dict[str, Any]) -> list[OpenApiExample]:
    return [OpenApiExample(name, value=value, request_only=True)]


# ------------------------------------------------------------------------------------------------
# Cases
# ------------------------------------------------------------------------------------------------


class CaseListCreateApi(APIView):
    @extend_schema(
        operation_id="cases_list",
        summary="Cases you may see",
        parameters=[s.CaseListQuerySerializer],
        responses={200: s.CaseListSerializer, 400: ErrorResponseSerializer},
        tags=["cases"],
    )
    def get(self, request: Request) -> Response:
        query = validated(s.CaseListQuerySerializer, request.query_params)
        cases = selectors.case_list(
            user=actor_of(request), day=query.get("date"), room=query.get("room"), state=query.get("state")
        )
        page = cases[query["offset"] : query["offset"] + query["limit"]]
        return Response(s.CaseListSerializer({"count": cases.count(), "results": selectors.case_rows(page)}).data)

    @extend_schema(
        operation_id="cases_schedule",
        summary="Schedule a case",
        request=s.CaseScheduleInputSerializer,
        responses={201: s.CaseRowSerializer, 400: ErrorResponseSerializer, 403: ErrorResponseSerializer},
        examples=_example(
            "Left L2 nerve root block",
            {
                "mrn": "MRN0042",
                "family_name": "Doe",
                "given_name": "Jane",
                "date_of_birth": "1958-03-14",
                "room": "OR 1",
                "scheduled_start": "2025-06-02T08:30:00+02:00",
                "surgeon": "surgeon",
                "anesthesia": "anesthesia",
                "co_surgeons": [],
                "procedure": "selective_nerve_root_block",
            },
        ),
        tags=["cases"],
    )
    def post(self, request: Request) -> Response:
        policies.require(actor_of(request), "case.schedule")
        data = validated(s.CaseScheduleInputSerializer, request.data)
        case = services.case_schedule(actor=actor_of(request), **data)
        return Response(s.CaseRowSerializer(selectors.case_row_get(case.pk)).data, status=status.HTTP_201_CREATED)


class CaseDetailApi(CaseApi):
    @extend_schema(
        operation_id="cases_retrieve",
        summary="Everything about one case",
        responses={200: s.CaseDetailSerializer, **READ_ERRORS},
        tags=["cases"],
    )
    def get(self, request: Request, case_id: int) -> Response:
        case = self.case_for(request, case_id)
        if request.headers.get("X-RightLevel-Passive") != "1":  # a device's own refresh is not an opening
            access_case_open(actor=actor_of(request), case=case, channel="api")
        with_near_misses = policies.can(actor_of(request), "near_miss.view", case)
        return Response(s.CaseDetailSerializer(selectors.case_detail(case, with_near_misses=with_near_misses)).data)


class CaseStatusApi(APIView):
    """Polled by every device showing the case: one query, 304 while nothing changed."""

    @extend_schema(
        operation_id="cases_status",
        summary="The case's version, state and verdict (cheap; 304 when unchanged)",
        parameters=[
            OpenApiParameter(
                "If-None-Match",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description='The ETag last received, e.g. W/"7": answered with 304 while the version is the same.',
            ),
            OpenApiParameter(
                "ETag",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description='W/"<version>"',
                response=[200, 304],
            ),
        ],
        responses={
            200: s.CaseStatusSerializer,
            304: OpenApiResponse(description="Unchanged since the ETag given."),
            404: READ_ERRORS[404],
        },
        examples=[
            OpenApiExample(
                "Passing",
                value={"id": 12, "version": 31, "evidence_version": 9, "state": "time_out", "verdict": "pass"},
                response_only=True,
            )
        ],
        tags=["cases"],
    )
    def get(self, request: Request, case_id: int) -> Response:
        row = selectors.case_status_visible(user=actor_of(request), case_id=case_id)
        if row is None:
            raise Http404
        etag = f'W/"{row["version"]}"'
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        if etag_matches(request.headers.get("If-None-Match", ""), etag):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
        return Response(s.CaseStatusSerializer(row).data, headers=headers)


class CaseInRoomApi(CaseApi):
    policy_action = "case.patient_in_room"

    @extend_schema(
        operation_id="cases_patient_in_room",
        summary="The patient is in the room (opens the sign-in)",
        request=s.CaseInRoomInputSerializer,
        responses={200: s.CaseWriteResultSerializer, **WRITE_ERRORS},
        examples=_example("In the room", {"expected_version": 9}),
        tags=["checklist"],
    )
    def post(self, request: Request, case_id: int) -> Response:
        case = self.case_for(request, case_id)
        data = validated(s.CaseInRoomInputSerializer, request.data)
        services.case_patient_in_room(actor=actor_of(request), case=case.pk, **data)
        return written(s.CaseWriteResultSerializer, case.pk)


# ------------------------------------------------------------------------------------------------
# Plans and signatures
# ------------------------------------------------------------------------------------------------


class PlanReviseApi(CaseApi):
    policy_action = "plan.revise"

    @extend_schema(
        operation_id="plans_create",
        summary="Write the plan, or a new version of it (to be signed again)",
        request=s.PlanReviseInputSerializer,
        responses={201: s.PlanWriteResultSerializer, **WRITE_ERRORS},
        examples=_example(
            "Left L2 nerve root block",
            {
                "expected_version": 3,
                "procedure": "selective_nerve_root_block",
                "levels": "L2",
                "side": "left",
                "approach": "transforaminal, fluoroscopic guidance",
                "notes": "",
            },
        ),
        tags=["plans"],
    )
    def post(self, request: Request, case_id: int) -> Response:
        case = self.case_for(request, case_id)
        data = validated(s.PlanReviseInputSerializer, request.data)
        plan = services.plan_revise(actor=actor_of(request), case=case.pk, **data)
        return written(s.PlanWriteResultSerializer, case.pk, status.HTTP_201_CREATED, plan=plan)


class PlanSignApi(CaseApi):
    policy_action = "plan.sign"

    @extend_schema(
        operation_id="plans_sign",
        summary="E-sign a plan version (password again; username too at a session's first signing)",
        request=s.SigningInputSerializer,
        responses={201: s.SignatureWriteResultSerializer, **SIGNING_ERRORS},
        examples=_example(
            "First signing", {"expected_version": 4, "username": "surgeon", "password": "rightlevel-demo"}
        ),
        tags=["plans"],
    )
    def post(self, request: Request, case_id: int, number: int) -> Response:
        case = self.case_for(request, case_id)
        data = validated(s.SigningInputSerializer, request.data)
        signature = services.plan_sign(
            actor=actor_of(request),
            case=case.pk,
            plan_number=number,
            first_in_session=first_signing_in_session(request),
            **data,
        )
        signing_remembered(request)
        signature = selectors.signature_states([signature])[0]
        return written(s.SignatureWriteResultSerializer, case.pk, status.HTTP_201_CREATED, signature=signature)


class SignatureListApi(CaseApi):
    @extend_schema(
        operation_id="signatures_list",
        summary="The case's signatures, each with whether it is still valid",
        responses={200: s.SignatureListSerializer, **READ_ERRORS},
        tags=["plans"],
    )
    def get(self, request: Request, case_id: int) -> Response:
        case = self.case_for(request, case_id)
        return Response(s.SignatureListSerializer({"results": selectors.case_signatures(case)}).data)


# ------------------------------------------------------------------------------------------------
# Evidence
# ------------------------------------------------------------------------------------------------


class ConsentRecordApi(CaseApi):
    policy_action = "consent.record"
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(
        operation_id="consent_record",
        summary="Record the consent the patient signed (JSON, or multipart with a scan)",
        request=s.ConsentInputSerializer,
        responses={201: s.ConsentWriteResultSerializer, **WRITE_ERRORS},
        examples=_example(
            "Left L2 consent",
            {
                "expected_version": 5,
                "procedure": "selective_nerve_root_block",
                "levels": "L2",
                "side": "left",
                "date_signed": "2025-05-28",
                "witness": "R. Witness",
            },
        ),
        tags=["evidence"],
    )
    def post(self, request: Request, case_id: int) -> Response:
        case = self.case_for(request, case_id)
        data = validated(s.ConsentInputSerializer, request.data)
        consent = services.consent_record(actor=actor_of(request), case=case.pk, **data)
        return written(s.ConsentWriteResultSerializer, case.pk, status.HTTP_201_CREATED, consent=consent)


class MarkingRecordApi(CaseApi):
    policy_action = "marking.record"

    @extend_schema(
        operation_id="marking_record",
        summary="Record the skin mark (region and side) and who made it",
        request=s.MarkingInputSerializer,
        responses={201: s.MarkingWriteResultSerializer, **WRITE_ERRORS},
        examples=_example(
            "Left lumbar", {"expected_version": 6, "region": "lumbar", "side": "left", "marked_by": "surgeon"}
        ),
        tags=["evidence"],
    )
    def post(self, request: Request, case_id: int) -> Response:
        case = self.case_for(request, case_id)
        data = validated(s.MarkingInputSerializer, request.data)
        marking = services.marking_record(actor=actor_of(request), case=case.pk, **data)
        return written(s.MarkingWriteResultSerializer, case.pk, status.HTTP_201_CREATED, marking=marking)


class ImagingRecordApi(CaseApi):
    policy_action = "imaging.record"

    @extend_schema(
        operation_id="imaging_record",
        summary="Record the pre-op imaging and the level of the pathology",
        request=s.ImagingInputSerializer,
        responses={201: s.ImagingWriteResultSerializer, **WRITE_ERRORS},
        examples=_example(
            "MRI at L2",
            {
                "expected_version": 7,
                "modality": "mri",
                "study_date": "2025-05-20",
                "levels": "L2",
                "reviewed_by": "surgeon",
            },
        ),
        tags=["evidence"],
    )
    def post(self, request: Request, case_id: int) -> Response:
        case = self.case_for(request, case_id)
        data = validated(s.ImagingInputSerializer, request.data)
        imaging = services.imaging_record(actor=actor_of(request), case=case.pk, **data)
        return written(s.ImagingWriteResultSerializer, case.pk, status.HTTP_201_CREATED, imaging=imaging)


class AnatomyRecordApi(CaseApi):
    policy_action = "anatomy.record"

    @extend_schema(
        operation_id="anatomy_record",
        summary="Record the vertebral anatomy counted from C2",
        request=s.AnatomyInputSerializer,
        responses={201: s.AnatomyWriteResultSerializer, **WRITE_ERRORS},
        examples=[
            *_example("Usual anatomy", {"expected_version": 2, "thoracic": 12, "lumbar": 5, "source": "whole_spine"}),
            *_example(
                "Six lumbar vertebrae",
                {"expected_version": 2, "thoracic": 12, "lumbar": 6, "lowest_mobile": "L6", "source": "whole_spine"},
            ),
        ],
        tags=["evidence"],
    )
    def post(self, request: Request, case_id: int) -> Response:
        case = self.case_for(request, case_id)
        data = validated(s.AnatomyInputSerializer, request.data)
        anatomy = services.anatomy_record(actor=actor_of(request), case=case.pk, **data)
        return written(s.AnatomyWriteResultSerializer, case.pk, status.HTTP_201_CREATED, anatomy=anatomy)


# ------------------------------------------------------------------------------------------------
# Localization
# ------------------------------------------------------------------------------------------------


class LocalizationRecordApi(CaseApi):
    policy_action = "localization.record"

    @extend_schema(
        operation_id="localizations_create",
        summary="Record one read of the level image",
        request=s.LocalizationInputSerializer,
        responses={201: s.LocalizationWriteResultSerializer, **WRITE_ERRORS},
        examples=_example(
            "Count 4 from the sacrum is L2",
            {
                "expected_version": 12,
                "phase": "pre_incision",
                "reference": "sacrum",
                "count": 4,
                "label": "L2",
                "marker_in_place": True,
                "read_by": "surgeon",
            },
        ),
        tags=["localization"],
    )
    def post(self, request: Request, case_id: int) -> Response:
        case = self.case_for(request, case_id)
        data = validated(s.LocalizationInputSerializer, request.data)
        localization = services.localization_record(actor=actor_of(request), case=case.pk, **data)
        return written(s.LocalizationWriteResultSerializer, case.pk, status.HTTP_201_CREATED, localization=localization)


class LocalizationDurableMarkApi(CaseApi):
    policy_action = "localization.mark_durable"

    @extend_schema(
        operation_id="localizations_durable_mark",
        summary="The durable mark is placed at the imaged level",
        request=s.DurableMarkInputSerializer,
        responses={200: s.LocalizationWriteResultSerializer, **WRITE_ERRORS},
        examples=_example("Placed", {"expected_version": 13}),
        tags=["localization"],
    )
    def post(self, request: Request, case_id: int, localization_id: int) -> Response:
        case = self.case_for(request, case_id)
        data = validated(s.DurableMarkInputSerializer, request.data)
        localization = services.localization_mark_durable(
            actor=actor_of(request), case=case.pk, localization_id=localization_id, **data
        )
        return written(s.LocalizationWriteResultSerializer, case.pk, localization=localization)


class LocalizationConfirmApi(CaseApi):
    policy_action = "localization.confirm"

    @extend_schema(
        operation_id="localization_confirm",
        summary="The operating surgeon confirms the level (e-signature 'confirmed level')",
        request=s.SigningInputSerializer,
        responses={201: s.SignatureWriteResultSerializer, **SIGNING_ERRORS},
        examples=_example("Confirm", {"expected_version": 13, "username": "surgeon", "password": "rightlevel-demo"}),
        tags=["localization"],
    )
    def post(self, request: Request, case_id: int) -> Response:
        case = self.case_for(request, case_id)
        data = validated(s.SigningInputSerializer, request.data)
        signature = services.localization_confirm(
            actor=actor_of(request), case=case.pk, first_in_session=first_signing_in_session(request), **data
        )
        signing_remembered(request)
        signature = selectors.signature_states([signature])[0]
        return written(s.SignatureWriteResultSerializer, case.pk, status.HTTP_201_CREATED, signature=signature)


# ------------------------------------------------------------------------------------------------
# Checklist steps and phases
# ------------------------------------------------------------------------------------------------


class StepAttestApi(CaseApi):
    policy_action = "step.attest"

    @extend_schema(
        operation_id="steps_attest",
        summary="Attest one checklist step under one of your roles",
        request=s.StepAttestInputSerializer,
        responses={201: s.AttestationWriteResultSerializer, **WRITE_ERRORS},
        examples=_example("As the circulating nurse", {"expected_version": 9, "role": "nurse"}),
        tags=["checklist"],
    )
    def post(self, request: Request, case_id: int, step_code: str) -> Response:
        case = self.case_for(request, case_id)
        data = validated(s.StepAttestInputSerializer, request.data)
        attestation = services.step_attest(actor=actor_of(request), case=case.pk, step_code=step_code, **data)
        return written(s.AttestationWriteResultSerializer, case.pk, status.HTTP_201_CREATED, attestation=attestation)


class IdentityScanApi(CaseApi):
    policy_action = "identity.scan"

    @extend_schema(
        operation_id="identity_scan",
        summary="Scan the patient's wristband at sign-in (the nurse's attestation of patient identity)",
        description=(
            "A wristband naming this case's patient attests the identity step for the nurse. A wristband "
            "naming anyone else is recorded and stops the case (PATIENT_IDENTITY_MISMATCH) until the right "
            "wristband is scanned. A barcode that is not a wristband is a 400 naming `barcode`."
        ),
        request=s.IdentityScanInputSerializer,
        responses={201: s.IdentityScanWriteResultSerializer, **WRITE_ERRORS},
        examples=_example("A GS1 wristband", {"expected_version": 7, "barcode": "(8018)735005385000000011"}),
        tags=["checklist"],
    )
    def post(self, request: Request, case_id: int) -> Response:
        case = self.case_for(request, case_id)
        data = validated(s.IdentityScanInputSerializer, request.data)
        outcome = services.identity_scan_record(
            actor=actor_of(request),
            case=case.pk,
            barcode=data["barcode"],
            source=data["scanned_with"],
            expected_version=data["expected_version"],
        )
        return written(
            s.IdentityScanWriteResultSerializer,
            case.pk,
            status.HTTP_201_CREATED,
            scan=outcome.scan,
            attestation=outcome.attestation,
            note=outcome.note,
        )


class DowntimeBackEntryApi(CaseApi):
    policy_action = "downtime.back_enter"

    @extend_schema(
        operation_id="downtime_back_enter",
        summary="Enter the checklist boxes initialled and timed on the downtime paper (all or nothing)",
        request=s.DowntimeBackEntryInputSerializer,
        responses={201: s.BackEntryWriteResultSerializer, **WRITE_ERRORS},
        examples=_example(
            "The sign-in's consent box, initialled by the nurse at 08:12",
            {
                "expected_version": 9,
                "entries": [{"step": "consent_signed", "role": "nurse", "attested_by": "nurse", "paper_time": "08:12"}],
            },
        ),
        tags=["checklist"],
    )
    def post(self, request: Request, case_id: int) -> Response:
        case = self.case_for(request, case_id)
        data = validated(s.DowntimeBackEntryInputSerializer, request.data)
        entries = [
            PaperEntry(
                step_code=entry["step"],
                role=entry["role"],
                attested_by=entry["attested_by"],
                paper_time=entry["paper_time"],
                key=f"entries.{i}",
            )
            for i, entry in enumerate(data["entries"])
        ]
        done = services.steps_back_enter(
            actor=actor_of(request), case=case.pk, entries=entries, expected_version=data["expected_version"]
        )
        return written(s.BackEntryWriteResultSerializer, case.pk, status.HTTP_201_CREATED, attestations=done)


class TimeOutCompleteApi(CaseApi):
    policy_action = "time_out.complete"

    @extend_schema(
        operation_id="time_out_complete",
        summary="Close the time-out (every step attested by every role, level check passing)",
        request=s.PhaseCompleteInputSerializer,
        responses={200: s.CaseWriteResultSerializer, **WRITE_ERRORS},
        examples=_example("Complete", {"expected_version": 9}),
        tags=["checklist"],
    )
    def post(self, request: Request, case_id: int) -> Response:
        case = self.case_for(request, case_id)
        data = validated(s.PhaseCompleteInputSerializer, request.data)
        services.time_out_complete(actor=actor_of(request), case=case.pk, **data)
        return written(s.CaseWriteResultSerializer, case.pk)


class TreatedLevelsApi(CaseApi):
    policy_action = "treated_levels.record"

    @extend_schema(
        operation_id="treated_levels_record",
        summary="Record the levels actually treated (must match the plan)",
        request=s.TreatedLevelsInputSerializer,
        responses={200: s.TreatedLevelsWriteResultSerializer, **WRITE_ERRORS},
        examples=_example("L2", {"expected_version": 14, "levels": "L2"}),
        tags=["checklist"],
    )
    def post(self, request: Request, case_id: int) -> Response:
        case = self.case_for(request, case_id)
        data = validated(s.TreatedLevelsInputSerializer, request.data)
        updated = services.treated_levels_record(actor=actor_of(request), case=case.pk, **data)
        return written(s.TreatedLevelsWriteResultSerializer, case.pk, treated_levels=updated.treated_levels)


class SignOutCompleteApi(CaseApi):
    policy_action = "sign_out.complete"

    @extend_schema(
        operation_id="sign_out_complete",
        summary="Close the sign-out (completes the case)",
        request=s.PhaseCompleteInputSerializer,
        responses={200: s.CaseWriteResultSerializer, **WRITE_ERRORS},
        examples=_example("Complete", {"expected_version": 15}),
        tags=["checklist"],
    )
    def post(self, request: Request, case_id: int) -> Response:
        case = self.case_for(request, case_id)
        data = validated(s.PhaseCompleteInputSerializer, request.data)
        services.sign_out_complete(actor=actor_of(request), case=case.pk, **data)
        return written(s.CaseWriteResultSerializer, case.pk)


# ------------------------------------------------------------------------------------------------
# Level check, audit trail, near misses
# ------------------------------------------------------------------------------------------------


class CaseLevelCheckApi(CaseApi):
    @extend_schema(
        operation_id="cases_level_check",
        summary="Run the level check on the records in force now (nothing is stored)",
        responses={200: s.CaseLevelCheckSerializer, **READ_ERRORS},
        tags=["level check"],
    )
    def get(self, request: Request, case_id: int) -> Response:
        case = self.case_for(request, case_id)
        level_request, result = level_evaluate(case)
        return Response(s.CaseLevelCheckSerializer({"request": level_request, "result": result}).data)


class CaseAuditApi(CaseApi):
    policy_action = "audit.view"

    @extend_schema(
        operation_id="cases_audit",
        summary="The case's audit trail in chain order (keyset pages by after_seq)",
        parameters=[s.AuditQuerySerializer],
        responses={200: s.AuditPageSerializer, 400: ErrorResponseSerializer, **READ_ERRORS},
        tags=["audit"],
    )
    def get(self, request: Request, case_id: int) -> Response:
        case = self.case_for(request, case_id)
        query = validated(s.AuditQuerySerializer, request.query_params)
        events, next_after = selectors.case_audit_events(case, after_seq=query["after_seq"], limit=query["limit"])
        page = {"case_id": case.pk, "events": events, "next_after_seq": next_after}
        return Response(s.AuditPageSerializer(page).data)


class CaseNearMissListApi(CaseApi):
    policy_action = "near_miss.view"

    @extend_schema(
        operation_id="cases_near_misses",
        summary="Stops on this case that were resolved by new evidence",
        responses={200: s.NearMissListSerializer, **READ_ERRORS},
        tags=["near misses"],
    )
    def get(self, request: Request, case_id: int) -> Response:
        case = self.case_for(request, case_id)
        near_misses = selectors.case_near_misses(case)
        return Response(s.NearMissListSerializer({"count": len(near_misses), "results": near_misses}).data)


class NearMissListApi(APIView):
    @extend_schema(
        operation_id="near_misses_list",
        summary="Every near miss, newest first",
        parameters=[s.PageQuerySerializer],
        responses={200: s.NearMissListSerializer, 400: ErrorResponseSerializer, 403: ErrorResponseSerializer},
        tags=["near misses"],
    )
    def get(self, request: Request) -> Response:
        policies.require(actor_of(request), "near_miss.view")
        query = validated(s.PageQuerySerializer, request.query_params)
        near_misses, count = selectors.near_misses_all(limit=query["limit"], offset=query["offset"])
        return Response(s.NearMissListSerializer({"count": count, "results": near_misses}).data)
