"""The imaging API: unmatched images and their assignment to a case (docs/imaging.md)."""

from __future__ import annotations

from typing import cast

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from checklist import policies
from checklist.models import User
from config.api_errors import ApplicationError, field_error
from imaging import selectors, services
from imaging.models import LevelImage
from levelverify.serializers import ErrorResponseSerializer

NO_SUCH_IMAGE = "No such image."
NO_SUCH_CASE = "No such case among the cases you may act on."


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

    @extend_schema(
        operation_id="imaging_image_assign",
        request=InputSerializer,
        responses={
            200: LevelImageSerializer,
            400: OpenApiResponse(ErrorResponseSerializer, description="No such case, or another patient's case."),
            403: OpenApiResponse(ErrorResponseSerializer, description="Not your role or not your case."),
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
