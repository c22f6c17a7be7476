"""Root URLs: tablet pages, the REST API under /api/v1/, its schema and docs, health, admin."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from checklist import views as checklist_views

# /api/ answers a URL no route matches (and an unexpected error) in its JSON error shape.
handler404 = "core.exception_handler.page_not_found"
handler500 = "core.exception_handler.server_error"

urlpatterns = [
    path("healthz", checklist_views.HealthView.as_view(), name="healthz"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("config.api_urls")),
    path("", include("imaging.urls")),
    path("", include("interfaces.urls")),
    path("", include("checklist.urls")),
]
