from __future__ import annotations

from django.apps import AppConfig


class ImagingConfig(AppConfig):
    name = "imaging"
    verbose_name = "Level images (DICOM)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The level check asks the imaging app about second reads without importing it.
        from checklist.level_check import findings_provider_register
        from checklist.periodic_tasks import periodic_task_specs_register
        from imaging import tasks
        from imaging.selectors import image_records_for_export, second_read_findings
        from quality.image_records import image_records_provider_register

        findings_provider_register(second_read_findings)
        # With a PACS, a beat task looks there for the C-arm's images.
        periodic_task_specs_register(tasks.periodic_specs)
        # The FHIR and PDF exports name the image each count was made on.
        image_records_provider_register(image_records_for_export)
