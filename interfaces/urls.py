from __future__ import annotations

from django.urls import path

from interfaces import views

urlpatterns = [
    path("interfaces/", views.InterfacePageView.as_view(), name="hl7-interface"),
    path("interfaces/messages/<int:id>/", views.MessageView.as_view(), name="hl7-message"),
    path(
        "interfaces/appointments/<int:id>/resolve",
        views.AppointmentResolveView.as_view(),
        name="hl7-appointment-resolve",
    ),
]
