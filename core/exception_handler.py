"""The one DRF exception handler, and Django's error views for the API.

Every error the API returns has the same shape::

    {"detail": "Invalid input.", "errors": {"<field>": ["<reason>", ...]}}

Validation errors (DRF's, Django's and the level engine's) become 400 with field-level reasons;
application errors carry their own status (409 for a stale write, 423 for a locked signature).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler

from core.errors import INVALID_INPUT, ApplicationError
from levelverify.errors import LevelInputError


def _as_field_errors(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        return {str(key): _flatten(value) for key, value in detail.items()}
    return {"non_field_errors": _flatten(detail)}


def _flatten(value: Any) -> list[str]:
    if isinstance(value, list):
        out: list[str] = []
        for item in value:
            out.extend(_flatten(item))
        return out
    if isinstance(value, dict):
        return [f"{key}: {message}" for key, inner in value.items() for message in _flatten(inner)]
    return [str(value)]


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, LevelInputError):
        return Response({"detail": INVALID_INPUT, "errors": exc.errors}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ApplicationError):
        body: dict[str, Any] = {"detail": exc.message, "errors": exc.errors, **exc.extra}
        return Response(body, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"detail": INVALID_INPUT, "errors": _as_field_errors(exc.detail)}
    elif isinstance(exc, exceptions.ParseError):
        response.data = {"detail": INVALID_INPUT, "errors": {"non_field_errors": [str(exc.detail)]}}
    else:
        response.data = {"detail": str(response.data.get("detail", exc)), "errors": {}}
    return response


# Django's own error views, for what never reaches a DRF view: a URL under /api/ that matches no
# route (a case id that is not a number) or an exception outside DRF. The API answers in its one
# error shape; the pages keep Django's HTML (templates/404.html and 500.html when present).
NOT_FOUND = "Not found."
SERVER_ERROR = "A server error occurred."


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": NOT_FOUND, "errors": {}}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": SERVER_ERROR, "errors": {}}, status=500)
    return defaults.server_error(request)
