"""Tablet pages and the health endpoint. Thin: reads come from selectors, writes from services."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views import View
from django.views.generic import TemplateView

from checklist import selectors

LOCKED_OUT = "Too many failed sign-in attempts for this username: it is locked for a while."


def lockout_response(request: HttpRequest, credentials: Any = None, *args: Any, **kwargs: Any) -> HttpResponse:
    """django-axes lockout: JSON for the API, a page for people. 429 either way."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": LOCKED_OUT, "errors": {}}, status=429)
    return render(
        request,
        "registration/locked_out.html",
        {"cooloff_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)},
        status=429,
    )


class HealthView(View):
    """GET /healthz: 200 when the database and the broker answer, 503 otherwise. No login."""

    def get(self, request: HttpRequest) -> JsonResponse:
        database = selectors.database_status()
        broker = selectors.broker_status()
        last_beat = selectors.worker_last_heartbeat() if database.ok else None
        healthy = database.ok and broker.ok
        body: dict[str, Any] = {
            "status": "ok" if healthy else "unavailable",
            "database": {"ok": database.ok, "detail": database.detail},
            "broker": {"ok": broker.ok, "detail": broker.detail},
            # Informational: a stale heartbeat means beat or the worker is down; reminders wait.
            "worker_last_heartbeat": last_beat.isoformat() if last_beat else None,
            "time": timezone.now().isoformat(),
        }
        response = JsonResponse(body, status=200 if healthy else 503)
        response["Cache-Control"] = "no-store"
        return response


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["timed_out"] = self.request.GET.get("timeout") == "1"
        return context


class SwitchUserView(View):
    """Shared tablets: end this person's session and hand the login screen to the next one."""

    def post(self, request: HttpRequest) -> HttpResponse:
        logout(request)
        return redirect("login")


class HomeView(LoginRequiredMixin, TemplateView):
    template_name = "checklist/home.html"
