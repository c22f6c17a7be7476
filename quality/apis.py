"""GET /api/v1/cases/{id}/fhir/: the case as a FHIR R4 Bundle (quality officers and admins)."""

from __future__ import annotations

from typing import cast

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from checklist.access.policies import require
from checklist.models import User
from checklist.services.record_access import access_export
from levelverify.serializers import ErrorResponseSerializer
from quality.fhir import fhir_bundle
from quality.selectors import case_for_quality


class FhirJSONRenderer(JSONRenderer):
    media_type = "application/fhir+json"


class CaseFhirApi(APIView):
    """The case's FHIR R4 Bundle: Patient, Procedure, Consent, QuestionnaireResponse, Provenance,
    AuditEvent. The same JSON as ``manage.py export_fhir CASE_ID``."""

    renderer_classes = [FhirJSONRenderer, JSONRenderer]

    @extend_schema(
        operation_id="case_fhir_bundle",
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="A FHIR R4 Bundle of type collection."),
            403: ErrorResponseSerializer,
            404: ErrorResponseSerializer,
        },
        tags=["quality"],
    )
    def get(self, request: Request, case_id: int) -> Response:
        require(cast(User, request.user), "audit.view")
        case = case_for_quality(case_id)
        if case is None:
            raise Http404("No such case.")
        # Recorded before the bundle is built, so the export of record names itself.
        access_export(actor=cast(User, request.user), export="fhir", channel="api", case=case)
        return Response(fhir_bundle(case))
