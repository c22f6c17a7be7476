"""POST /api/v1/level-checks/: the level check over HTTP."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.parsers import JSONParser, read_limited
from levelverify.check import check_levels
from levelverify.errors import NON_FIELD_ERRORS, LevelInputError
from levelverify.serializers import (
    ErrorResponseSerializer,
    LevelCheckRequestSerializer,
    LevelCheckResponseSerializer,
)
from levelverify.strict_json import loads_strict

EXAMPLE_REQUEST = {
    "stage": "time_out",
    "anatomy": {"thoracic": 12, "lumbar": 5, "lowest_rib": "T12", "lowest_mobile": "L5", "source": "whole_spine"},
    "plan": {"procedure": "selective_nerve_root_block", "levels": "L2", "side": "left"},
    "consent": {"procedure": "selective_nerve_root_block", "levels": "L2", "side": "left"},
    "marking": {"region": "lumbar", "side": "left"},
    "preop_imaging": {"levels": "L2"},
    "localizations": [{"reference": "sacrum", "count": 4, "level": "L2", "marker_in_place": True}],
}


class StrictLevelJSONParser(JSONParser):
    """JSON read as contract v2 asks: duplicated keys named, long numbers, NaN and deep nesting refused."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        return loads_strict(read_limited(stream).getvalue())


class LevelCheckApi(APIView):
    """Does the evidence agree on one level? Stateless: nothing is stored."""

    parser_classes = [StrictLevelJSONParser]

    @extend_schema(
        operation_id="level_check_create",
        request=LevelCheckRequestSerializer,
        responses={200: LevelCheckResponseSerializer, 400: ErrorResponseSerializer},
        examples=[OpenApiExample("Left L2 nerve root block, all agreeing", value=EXAMPLE_REQUEST, request_only=True)],
        tags=["level check"],
    )
    def post(self, request: Request) -> Response:
        if not isinstance(request.data, dict):
            raise LevelInputError({NON_FIELD_ERRORS: ["The request body must be a JSON object."]})
        return Response(check_levels(request.data))
