from django.apps import AppConfig


class InterfacesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "interfaces"
    verbose_name = "Hospital interfaces (HL7 v2 over MLLP)"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from checklist.models import AuditEvent
        from interfaces.outbound import on_audit_event

        post_save.connect(on_audit_event, sender=AuditEvent, dispatch_uid="interfaces.outbox_on_sign_out")
