from __future__ import annotations

from django.urls import path

from imaging import apis

urlpatterns = [
    path("imaging/unmatched/", apis.UnmatchedImagesApi.as_view(), name="imaging-unmatched"),
    path("imaging/images/<int:image_id>/assign/", apis.ImageAssignApi.as_view(), name="imaging-image-assign"),
    path("imaging/images/<int:image_id>/reads/", apis.ImageReadApi.as_view(), name="imaging-image-read"),
    path("imaging/reads/<int:read_id>/second/", apis.SecondReadApi.as_view(), name="imaging-second-read"),
]
