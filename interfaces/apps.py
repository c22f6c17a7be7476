from django.apps import AppConfig


class InterfacesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "interfaces"
    verbose_name = "Hospital interfaces (HL7 v2 over MLLP)"
