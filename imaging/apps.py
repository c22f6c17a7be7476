from __future__ import annotations

from django.apps import AppConfig


class ImagingConfig(AppConfig):
    name = "imaging"
    verbose_name = "Level images (DICOM)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The level check asks the imaging app about second reads without importing it.
        from checklist.level_check import findings_provider_register
        from imaging import tasks  # noqa: F401 - registers the tasks, which services queue by name (core.queue)
        from imaging.selectors import image_records_for_export, second_read_findings
        from quality.image_records import image_records_provider_register

        findings_provider_register(second_read_findings)
        # The FHIR and PDF exports name the image each count was made on.
        image_records_provider_register(image_records_for_export)
