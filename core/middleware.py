"""Request ids and the device's time, a cap on request size, and automatic logoff after inactivity."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.defaultfilters import filesizeformat
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.http import urlencode

from core.request_context import ACTED_AT_HEADER, acted_at_parse, audit_context, client_address

SESSION_LAST_ACTIVITY = "rightlevel_last_activity"
# Requests a page makes by itself (live-sync polls) carry this header; they are not user activity.
PASSIVE_HEADER = "X-RightLevel-Passive"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Give every request an id (kept from a sane incoming X-Request-ID) for audit and logs, and
    put the device's ``X-Acted-At`` (when sent) in the audit context: every event the request
    appends records it beside the server's own time. A bad one is a 400 naming the header."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        # The address as the sign-in limits see it (X-Forwarded-For behind the proxy, else REMOTE_ADDR).
        address = client_address(request) or ""
        client = f"{address} {request.headers.get('User-Agent', '')[:150]}".strip()
        acted_at = None
        header = request.headers.get(ACTED_AT_HEADER)
        if header is not None:
            max_future = timedelta(hours=float(settings.RIGHTLEVEL_ACTED_AT_MAX_FUTURE_HOURS))
            try:
                acted_at = acted_at_parse(header, now=timezone.now(), max_future=max_future)
            except ValueError as exc:
                response = bad_header_response(request, ACTED_AT_HEADER, str(exc))
                response["X-Request-ID"] = request_id
                return response
        with audit_context(request_id=request_id, client=client, acted_at=acted_at):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


def bad_header_response(request: HttpRequest, header: str, message: str) -> HttpResponse:
    """A 400 naming the request header at fault: the API's error shape on ``/api/``, plain text
    on pages (a device's queue sends these headers, not a person)."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message, "errors": {header: [message]}}, status=400)
    return HttpResponse(f"{header}: {message}", status=400, content_type="text/plain; charset=utf-8")


def inactivity_timeout_seconds() -> int:
    seconds = getattr(settings, "RIGHTLEVEL_INACTIVITY_TIMEOUT_SECONDS", None)
    return int(seconds) if seconds else int(settings.RIGHTLEVEL_INACTIVITY_TIMEOUT_MINUTES) * 60


class InactivityLogoutMiddleware:
    """End a session after RIGHTLEVEL_INACTIVITY_TIMEOUT_MINUTES without user activity."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            now = time.time()
            last = request.session.get(SESSION_LAST_ACTIVITY)
            if isinstance(last, (int, float)) and now - last > inactivity_timeout_seconds():
                request._rightlevel_logout_reason = "inactivity"  # type: ignore[attr-defined]  # signals.LOGOUT_REASON_ATTR
                logout(request)
                if request.path == settings.LOGIN_URL_PATH:  # already on its way to sign in again
                    return self.get_response(request)
                return self._logged_out_response(request)
            # The browser's own fetch of the service worker script (its update check, marked by
            # the Service-Worker header) is not a person's activity either.
            if not request.headers.get(PASSIVE_HEADER) and request.headers.get("Service-Worker") != "script":
                request.session[SESSION_LAST_ACTIVITY] = now
        return self.get_response(request)

    @staticmethod
    def _logged_out_response(request: HttpRequest) -> HttpResponse:
        seconds = inactivity_timeout_seconds()
        span = f"{seconds // 60} minutes" if seconds % 60 == 0 else f"{seconds} seconds"
        reason = f"Signed out after {span} without activity."
        if request.path.startswith("/api/") or request.headers.get(PASSIVE_HEADER):
            return JsonResponse({"detail": reason, "errors": {}}, status=401)
        if request.headers.get("HX-Request"):
            response = HttpResponse(status=204)
            response["HX-Redirect"] = f"{settings.LOGIN_URL_PATH}?timeout=1"
            return response
        if request.method == "GET":  # back to this page after signing in again
            return redirect(f"{settings.LOGIN_URL_PATH}?{urlencode({'timeout': '1', 'next': request.get_full_path()})}")
        return redirect(f"{settings.LOGIN_URL_PATH}?timeout=1")


class RequestSizeLimitMiddleware:
    """Refuse a request body over ``RIGHTLEVEL_MAX_REQUEST_BYTES`` with 413 before anything reads
    it. ``DATA_UPLOAD_MAX_MEMORY_SIZE`` does not count uploaded files, which Django spools to disk:
    without this, one huge "consent scan" could fill the server's disk before the service's own
    20 MB check ever ran."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = int(settings.RIGHTLEVEL_MAX_REQUEST_BYTES)
        if length > limit:
            message = (
                f"This request is {_size(length)}; RightLevel accepts at most {_size(limit)} "
                "(a consent scan may be up to 20 MB). Choose a smaller file and try again."
            )
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": message, "errors": {"non_field_errors": [message]}}, status=413)
            return HttpResponse(render_to_string("request_too_large.html", {"message": message}), status=413)
        return self.get_response(request)


def _size(octets: int) -> str:
    """'21.0 MB' (Django's filesizeformat, with a plain space: the text also goes out as JSON)."""
    return str(filesizeformat(octets)).replace("\xa0", " ")


# The tablet uses none of these; a page (or an injected script) may not ask for them.
PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), serial=(), bluetooth=(), hid=(), "
    "midi=(), magnetometer=(), gyroscope=(), accelerometer=(), display-capture=(), browsing-topics=()"
)


class PermissionsPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response


class PrivateNoStoreMiddleware:
    """Every response to a signed-in user (session or API token) is ``Cache-Control: no-store,
    private``: shared tablets change hands ("Switch user"), and a page, an htmx partial or an API
    answer left in the browser's disk cache would hand the next person the last one's patients."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # DRF sets request.user on the Django request once it has authenticated a token; a request
        # that carries credentials DRF did not look at (the token endpoint) is covered as well.
        user = getattr(request, "user", None)
        if (user is not None and user.is_authenticated) or "Authorization" in request.headers:
            response["Cache-Control"] = "no-store, private"
        return response
