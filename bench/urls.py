"""The project's URLs plus the baselines the benchmarks compare against (never deployed).

- ``/bench/constant/``: an authenticated DRF endpoint returning a constant (GET), or parsing the
  body and returning a constant (POST): the floor of any API call.
- ``/bench/write/``: an authenticated DRF POST that parses the body and commits one INSERT in its
  own transaction: the floor of any durable write. The row is a ``WorkerHeartbeat`` under a fresh
  host name: the smallest real table of the schema (three columns, one unique index), so the
  baseline pays a real index update and commit without a bench-only migration.
"""

from __future__ import annotations

import uuid

from django.db import transaction
from django.urls import path
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from checklist.models import WorkerHeartbeat
from config.urls import handler404, handler500  # noqa: F401 - the project's error views
from config.urls import urlpatterns as project_urlpatterns


class ConstantApi(APIView):
    """Authenticated DRF endpoint that parses the body and returns a constant: the floor of any API call."""

    def get(self, request: Request) -> Response:
        return Response({"verdict": "pass"})

    def post(self, request: Request) -> Response:
        request.data  # noqa: B018 - parse the body like the real endpoint does
        return Response({"verdict": "pass"})


class TrivialWriteApi(APIView):
    """Authenticated DRF POST that inserts one trivial row in its own transaction."""

    def post(self, request: Request) -> Response:
        request.data  # noqa: B018 - parse the body like the real endpoint does
        with transaction.atomic():
            row = WorkerHeartbeat.objects.create(hostname=f"bench-{uuid.uuid4().hex}", last_seen=timezone.now())
        return Response({"id": row.pk}, status=201)


urlpatterns = [
    path("bench/constant/", ConstantApi.as_view()),
    path("bench/write/", TrivialWriteApi.as_view()),
    *project_urlpatterns,
]
