from __future__ import annotations

from django.apps import AppConfig


class ImagingConfig(AppConfig):
    name = "imaging"
    verbose_name = "Level images (DICOM)"
    default_auto_field = "django.db.models.BigAutoField"
