"""The imaging API: unmatched images and their assignment to a case (docs/imaging.md)."""

from __future__ import annotations

from typing import Any, cast

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from checklist.access import policies
from checklist.models import Case, LocalizationPhase, User
from core.errors import ApplicationError, field_error
from imaging import selectors, services
from imaging.models import LevelImage
from levelverify.check import REFERENCES
from levelverify.serializers import ErrorResponseSerializer

NO_SUCH_IMAGE = "No such image."
NO_SUCH_CASE = "No such case among the cases you may act on."
NO_SUCH_READ = "No such read of a level image among the cases you may act on."


class LevelImageSerializer(serializers.ModelSerializer):
    png_url = serializers.SerializerMethodField()

    class Meta:
        model = LevelImage
        fields = [
            "id",
            "version",
            "sop_instance_uid",
            "series_instance_uid",
            "study_instance_uid",
            "frame",
            "modality",
            "rows",
            "columns",
            "pixel_sha256",
            "acquired_at",
            "received_at",
            "accession_number",
            "patient_id",
            "calling_ae_title",
            "station_name",
            "case",
            "matched_by",
            "unmatched_reason",
            "png_url",
        ]
        read_only_fields = fields

    def get_png_url(self, image: LevelImage) -> str:
        return reverse("imaging-image-png", args=[image.pk])


class UnmatchedImagesApi(APIView):
    """Images that match no case, newest first, for a radiographer (or nurse, surgeon) to assign."""

    @extend_schema(
        operation_id="imaging_unmatched_list", responses={200: LevelImageSerializer(many=True)}, tags=["imaging"]
    )
    def get(self, request: Request) -> Response:
        policies.require(cast(User, request.user), "localization.record")
        images = selectors.unmatched_images()[:200]
        return Response(LevelImageSerializer(images, many=True).data)


class ImageAssignApi(APIView):
    """Assign an unmatched image to a case (audited on the case's trail)."""

    class InputSerializer(serializers.Serializer):
        case_id = serializers.IntegerField(min_value=1)
        version = serializers.IntegerField(min_value=1, help_text="The image's version as last seen.")

        class Meta:
            ref_name = "LevelImageAssign"

    @extend_schema(
        operation_id="imaging_image_assign",
        request=InputSerializer,
        responses={
            200: LevelImageSerializer,
            400: OpenApiResponse(ErrorResponseSerializer, description="No such case, or another patient's case."),
            403: OpenApiResponse(ErrorResponseSerializer, description="Not your role or not your case."),
            404: OpenApiResponse(ErrorResponseSerializer, description="No such image."),
            409: OpenApiResponse(ErrorResponseSerializer, description="Stale version, or already matched."),
        },
        tags=["imaging"],
    )
    def post(self, request: Request, image_id: int) -> Response:
        actor = cast(User, request.user)
        policies.require(actor, "localization.record")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        image = selectors.image_get(image_id)
        if image is None:
            raise ApplicationError(NO_SUCH_IMAGE, status_code=404)
        case = policies.visible_cases(actor).filter(pk=data.validated_data["case_id"]).select_related("patient").first()
        if case is None:
            raise field_error("case_id", NO_SUCH_CASE)
        image = services.level_image_assign(actor=actor, image=image, case=case, version=data.validated_data["version"])
        return Response(LevelImageSerializer(image).data)


class ImageReadApi(APIView):
    """Count on the image: the taps (reference first, then each vertebra up to the marker) become
    the case's localization, whose count is the taps after the reference; the level check runs."""

    class InputSerializer(serializers.Serializer):
        taps = serializers.JSONField(help_text="[[x, y], ...] in image pixels: the reference, then each vertebra.")
        reference = serializers.ChoiceField(choices=list(REFERENCES))  # the same enum as the level check's
        label = serializers.CharField(max_length=20, help_text="The level the team named.")  # type: ignore[assignment]
        phase = serializers.ChoiceField(choices=LocalizationPhase.choices, default=LocalizationPhase.PRE_INCISION)
        marker_in_place = serializers.BooleanField(help_text="The reader confirms the marker is visible on this image.")
        side = serializers.CharField(max_length=5, required=False, allow_blank=True, default="")
        read_by = serializers.IntegerField(required=False, min_value=1, help_text="Who read the image (default: you).")
        expected_version = serializers.IntegerField(required=False, min_value=1)

        class Meta:
            ref_name = "LevelImageReadInput"

    class OutputSerializer(serializers.Serializer):
        read_id = serializers.IntegerField()
        localization_id = serializers.IntegerField()
        count = serializers.IntegerField()
        verdict = serializers.CharField()

        class Meta:
            ref_name = "LevelImageReadResult"

    @extend_schema(
        operation_id="imaging_image_read",
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            400: OpenApiResponse(
                ErrorResponseSerializer, description="Bad taps, an image of another case, too old or counted."
            ),
            403: OpenApiResponse(ErrorResponseSerializer, description="Not your role or not your case."),
            404: OpenApiResponse(ErrorResponseSerializer, description="No such image."),
            409: OpenApiResponse(ErrorResponseSerializer, description="The case changed (expected_version)."),
        },
        tags=["imaging"],
    )
    def post(self, request: Request, image_id: int) -> Response:
        actor = cast(User, request.user)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        image = selectors.image_get(image_id)
        if image is None:
            raise ApplicationError(NO_SUCH_IMAGE, status_code=404)
        if image.case is None:
            raise field_error("image", services.UNMATCHED)
        case = policies.visible_cases(actor).filter(pk=int(image.case.pk)).first()
        if case is None:
            raise ApplicationError(policies.NOT_YOUR_CASE, status_code=403)
        read_by = actor
        if values.get("read_by"):
            found = User.objects.filter(pk=values["read_by"], is_active=True).first()
            if found is None:
                raise field_error("read_by", "No such active user.")
            read_by = found
        read = services.image_read_record(
            actor=actor,
            image=image,
            case=case,
            phase=values["phase"],
            reference=values["reference"],
            taps=values["taps"],
            label=values["label"],
            marker_in_place=values["marker_in_place"],
            read_by=read_by,
            side=values["side"],
            expected_version=values.get("expected_version"),
        )
        verdict = Case.objects.values_list("verdict", flat=True).get(pk=case.pk)
        out = {"read_id": read.pk, "localization_id": read.localization_id, "count": read.count, "verdict": verdict}
        return Response(self.OutputSerializer(out).data, status=201)


class SecondReadApiReads(serializers.Serializer):
    """One read as shown after the second read is saved."""

    reference = serializers.CharField()
    count = serializers.IntegerField()
    label = serializers.CharField()  # type: ignore[assignment]
    taps = serializers.JSONField()

    class Meta:
        ref_name = "LevelImageReadSummary"


class SecondReadApi(APIView):
    """The independent second read of a counted image. GET shows the image to read, never the
    first read's taps, count or level while the second read is due; POST saves the second read
    (by someone other than the first reader), and only then are both reads and what differs shown."""

    class InputSerializer(serializers.Serializer):
        taps = serializers.JSONField(help_text="[[x, y], ...] in image pixels: the reference, then each vertebra.")
        reference = serializers.ChoiceField(choices=list(REFERENCES))
        label = serializers.CharField(max_length=20, help_text="The level the second reader names.")  # type: ignore[assignment]
        expected_version = serializers.IntegerField(required=False, min_value=1)

        class Meta:
            ref_name = "LevelImageSecondReadInput"

    class OutputSerializer(serializers.Serializer):
        read_id = serializers.IntegerField()
        image = LevelImageSerializer()
        status = serializers.ChoiceField(choices=["due", "done"])
        first = SecondReadApiReads(allow_null=True, help_text="Only once the second read is saved.")
        second = SecondReadApiReads(allow_null=True)
        agrees = serializers.BooleanField(allow_null=True)
        differences = serializers.ListField(child=serializers.CharField())
        verdict = serializers.CharField()

        class Meta:
            ref_name = "LevelImageSecondRead"

    def _read(self, request: Request, read_id: int) -> Any:
        actor = cast(User, request.user)
        read = selectors.read_for_second(read_id)
        if read is None or not policies.visible_cases(actor).filter(pk=read.case_id).exists():
            raise ApplicationError(NO_SUCH_READ, status_code=404)
        policies.require(actor, "localization.record", read.case)
        return read

    def _out(self, read: Any) -> dict[str, Any]:
        second = selectors.second_read_of(read)
        verdict = Case.objects.values_list("verdict", flat=True).get(pk=read.case_id)
        out: dict[str, Any] = {
            "read_id": read.pk,
            "image": read.image,
            "status": "done" if second else "due",
            "first": None,
            "second": None,
            "agrees": None,
            "differences": [],
            "verdict": verdict,
        }
        if second is not None:
            first_summary = {
                "reference": read.reference,
                "count": read.count,
                "label": read.localization.label,
                "taps": read.taps,
            }
            second_summary = {
                "reference": second.reference,
                "count": second.count,
                "label": second.label,
                "taps": second.taps,
            }
            out.update(first=first_summary, second=second_summary, agrees=second.agrees, differences=second.differences)
        return out

    @extend_schema(
        operation_id="imaging_second_read_get",
        responses={
            200: OutputSerializer,
            403: OpenApiResponse(ErrorResponseSerializer, description="Not your role or not your case."),
            404: OpenApiResponse(ErrorResponseSerializer, description="No such read."),
        },
        tags=["imaging"],
    )
    def get(self, request: Request, read_id: int) -> Response:
        read = self._read(request, read_id)
        return Response(self.OutputSerializer(self._out(read)).data)

    @extend_schema(
        operation_id="imaging_second_read_record",
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            400: OpenApiResponse(
                ErrorResponseSerializer, description="Bad taps or label, the first reader, or already read twice."
            ),
            403: OpenApiResponse(ErrorResponseSerializer, description="Not your role or not your case."),
            404: OpenApiResponse(ErrorResponseSerializer, description="No such read."),
            409: OpenApiResponse(ErrorResponseSerializer, description="The case changed (expected_version)."),
        },
        tags=["imaging"],
    )
    def post(self, request: Request, read_id: int) -> Response:
        read = self._read(request, read_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        services.image_second_read_record(
            actor=cast(User, request.user),
            read=read,
            reference=values["reference"],
            taps=values["taps"],
            label=values["label"],
            expected_version=values.get("expected_version"),
        )
        return Response(self.OutputSerializer(self._out(read)).data, status=201)
