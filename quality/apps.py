from django.apps import AppConfig


class QualityConfig(AppConfig):
    """Quality officers' read-only review: audit trails, near misses, compliance, exports. No models."""

    name = "quality"
    verbose_name = "RightLevel quality review"
