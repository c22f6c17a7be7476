from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import include, path

from checklist import account_views, addon_views, offline_views, views

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/password/", account_views.OwnPasswordChangeView.as_view(), name="password-change"),
    path("account/password/done/", account_views.OwnPasswordChangeDoneView.as_view(), name="password-change-done"),
    path("switch-user/", views.SwitchUserView.as_view(), name="switch-user"),
    path("sw.js", offline_views.ServiceWorkerView.as_view(), name="service-worker"),
    path("offline/level-engine.zip", offline_views.LevelEngineView.as_view(), name="level-engine"),
    path("activity", views.ActivityView.as_view(), name="activity"),
    path("", views.RoleLandingView.as_view(), name="home"),
    path("cases/", views.CaseListView.as_view(), name="case-list"),
    path("cases/new/", addon_views.AddOnCaseView.as_view(), name="case-new"),
    path("cases/downtime-sheets.pdf", views.DowntimeSheetsView.as_view(), name="downtime-sheets"),
    path("cases/<int:case_id>/downtime-sheet.pdf", views.DowntimeSheetsView.as_view(), name="downtime-sheet"),
    path("cases/<int:case_id>/", views.CaseDetailView.as_view(), name="case-detail"),
    path(
        "cases/<int:case_id>/downtime-entry/",
        views.DowntimeBackEntryView.as_view(),
        name="downtime-backentry",
    ),
    path("cases/<int:case_id>/do/<slug:action>", views.CaseActionView.as_view(), name="case-action"),
    path("cases/<int:case_id>/levels-preview", views.LevelsPreviewView.as_view(), name="levels-preview"),
    path("cases/<int:case_id>/consents/<int:consent_id>/scan", views.ConsentScanView.as_view(), name="consent-scan"),
    path("notifications/", views.NotificationsView.as_view(), name="notifications"),
    path("quality/", include("quality.urls")),
]
