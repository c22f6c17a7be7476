from __future__ import annotations

from django.urls import path

from quality import apis

urlpatterns = [
    path("cases/<int:case_id>/fhir/", apis.CaseFhirApi.as_view(), name="api-case-fhir"),
]
