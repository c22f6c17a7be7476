from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from checklist import views

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("switch-user/", views.SwitchUserView.as_view(), name="switch-user"),
    path("", views.HomeView.as_view(), name="home"),
]
