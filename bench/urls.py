"""The project's URLs plus the baselines the benchmarks compare against (never deployed)."""

from __future__ import annotations

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as project_urlpatterns


class ConstantApi(APIView):
    """Authenticated DRF endpoint that parses the body and returns a constant: the floor of any API call."""

    def post(self, request: Request) -> Response:
        request.data  # noqa: B018 - parse the body like the real endpoint does
        return Response({"verdict": "pass"})


urlpatterns = [path("bench/constant/", ConstantApi.as_view()), *project_urlpatterns]
