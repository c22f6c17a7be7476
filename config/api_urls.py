"""Everything under /api/v1/."""

from __future__ import annotations

from django.urls import include, path

from checklist import apis as checklist_apis

urlpatterns = [
    path("auth/token/", checklist_apis.TokenObtainApi.as_view(), name="api-token"),
    path("auth/token/revoke/", checklist_apis.TokenRevokeApi.as_view(), name="api-token-revoke"),
    path("", include("levelverify.urls")),
    path("", include("checklist.api_urls")),
    path("", include("quality.api_urls")),
    path("", include("imaging.api_urls")),
]
