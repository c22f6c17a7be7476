from __future__ import annotations

from django.urls import path

from imaging import views

urlpatterns = [
    path("imaging/unmatched/", views.UnmatchedImagesView.as_view(), name="imaging-unmatched-page"),
    path("imaging/images/<int:image_id>.png", views.image_png, name="imaging-image-png"),
    path("imaging/images/<int:image_id>/read/", views.ImageReadView.as_view(), name="imaging-image-read"),
    path("imaging/reads/<int:read_id>/second/", views.SecondReadView.as_view(), name="imaging-second-read-page"),
]
