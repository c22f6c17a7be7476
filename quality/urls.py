from __future__ import annotations

from django.urls import path

from quality import views

urlpatterns = [
    path("", views.DashboardView.as_view(), name="quality-dashboard"),
    path("audit/", views.AuditBrowserView.as_view(), name="quality-audit"),
    path("cases/<int:case_id>/", views.CaseTimelineView.as_view(), name="quality-case"),
    path("cases/<int:case_id>/record.pdf", views.CasePdfView.as_view(), name="quality-case-pdf"),
    path("integrity/", views.IntegrityView.as_view(), name="quality-integrity"),
    path("integrity/verify", views.VerifyNowView.as_view(), name="quality-verify"),
    path("integrity/runs/<int:run_id>/status", views.RunStatusView.as_view(), name="quality-run-status"),
    path("near-misses/", views.NearMissListView.as_view(), name="quality-near-misses"),
    path("near-misses/<int:near_miss_id>/note", views.NearMissNoteView.as_view(), name="quality-near-miss-note"),
    path("exports/", views.ExportsView.as_view(), name="quality-exports"),
    path("exports/<slug:kind>.csv", views.CsvExportView.as_view(), name="quality-export-csv"),
]
