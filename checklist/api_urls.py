"""/api/v1/ routes of the checklist app (see docs/api.md)."""

from __future__ import annotations

from django.urls import path

from checklist import apis

case = "cases/<int:case_id>/"

urlpatterns = [
    path("cases/", apis.CaseListCreateApi.as_view(), name="api-cases"),
    path(case, apis.CaseDetailApi.as_view(), name="api-case"),
    path(case + "status", apis.CaseStatusApi.as_view(), name="api-case-status"),
    path(case + "in-room/", apis.CaseInRoomApi.as_view(), name="api-case-in-room"),
    path(case + "plans/", apis.PlanReviseApi.as_view(), name="api-case-plans"),
    path(case + "plans/<int:number>/sign/", apis.PlanSignApi.as_view(), name="api-case-plan-sign"),
    path(case + "signatures/", apis.SignatureListApi.as_view(), name="api-case-signatures"),
    path(case + "consent/", apis.ConsentRecordApi.as_view(), name="api-case-consent"),
    path(case + "marking/", apis.MarkingRecordApi.as_view(), name="api-case-marking"),
    path(case + "imaging/", apis.ImagingRecordApi.as_view(), name="api-case-imaging"),
    path(case + "anatomy/", apis.AnatomyRecordApi.as_view(), name="api-case-anatomy"),
    path(case + "localizations/", apis.LocalizationRecordApi.as_view(), name="api-case-localizations"),
    path(
        case + "localizations/<int:localization_id>/durable-mark/",
        apis.LocalizationDurableMarkApi.as_view(),
        name="api-case-durable-mark",
    ),
    path(case + "localization/confirm/", apis.LocalizationConfirmApi.as_view(), name="api-case-localization-confirm"),
    path(case + "steps/<slug:step_code>/attest/", apis.StepAttestApi.as_view(), name="api-case-step-attest"),
    path(case + "identity-scans/", apis.IdentityScanApi.as_view(), name="api-case-identity-scan"),
    path(case + "downtime-entries/", apis.DowntimeBackEntryApi.as_view(), name="api-case-downtime-back-enter"),
    path(case + "time-out/complete/", apis.TimeOutCompleteApi.as_view(), name="api-case-time-out-complete"),
    path(case + "treated-levels/", apis.TreatedLevelsApi.as_view(), name="api-case-treated-levels"),
    path(case + "sign-out/complete/", apis.SignOutCompleteApi.as_view(), name="api-case-sign-out-complete"),
    path(case + "level-check/", apis.CaseLevelCheckApi.as_view(), name="api-case-level-check"),
    path(case + "audit/", apis.CaseAuditApi.as_view(), name="api-case-audit"),
    path(case + "near-misses/", apis.CaseNearMissListApi.as_view(), name="api-case-near-misses"),
    path("near-misses/", apis.NearMissListApi.as_view(), name="api-near-misses"),
]
