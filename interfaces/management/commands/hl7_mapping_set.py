"""Map a hospital service code (AIS-3) to a procedure, audited: ``manage.py hl7_mapping_set CODE
PROCEDURE --actor ADMIN``; ``--demo`` loads the codes the demo schedule uses."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from checklist.models import Procedure, User
from core.errors import ApplicationError
from interfaces import services
from interfaces.models import ServiceCodeMapping

# The demo hospital's codes (CPT-like; a hospital's own table is entered by its administrators).
DEMO_MAPPINGS: tuple[tuple[str, str, str], ...] = (
    ("SNRB-L", Procedure.SELECTIVE_NERVE_ROOT_BLOCK, "Selective nerve root block, lumbar"),
    ("64483", Procedure.TRANSFORAMINAL_EPIDURAL_INJECTION, "Transforaminal epidural injection, lumbar"),
    ("62323", Procedure.INTERLAMINAR_EPIDURAL_INJECTION, "Interlaminar epidural injection, lumbar"),
    ("22514", Procedure.VERTEBRAL_AUGMENTATION, "Vertebral augmentation, lumbar"),
    ("63047", Procedure.DECOMPRESSION, "Laminectomy decompression, lumbar"),
    ("63030", Procedure.DISCECTOMY, "Laminotomy with discectomy, lumbar"),
    ("22612", Procedure.FUSION, "Posterior arthrodesis, lumbar"),
)


class Command(BaseCommand):
    help = "Map a service code (AIS-3.1) to one of the seven procedures (audited)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("code", nargs="?")
        parser.add_argument("procedure", nargs="?", choices=Procedure.values)
        parser.add_argument("--description", default="")
        parser.add_argument("--actor", required=True, help="username of the administrator making the change")
        parser.add_argument("--demo", action="store_true", help="load the demo schedule's codes")

    def handle(self, *args: Any, code: str | None, procedure: str | None, **options: Any) -> None:
        actor = User.objects.filter(username=options["actor"]).first()
        if actor is None:
            raise CommandError(f"No user {options['actor']!r}.")
        if options["demo"]:
            wanted = list(DEMO_MAPPINGS)
        elif code and procedure:
            wanted = [(code, procedure, options["description"])]
        else:
            raise CommandError("Give CODE and PROCEDURE, or --demo.")
        for each_code, each_procedure, description in wanted:
            existing = ServiceCodeMapping.objects.filter(code=each_code).first()
            try:
                services.service_code_mapping_save(
                    actor=actor, code=each_code, procedure=each_procedure, description=description, mapping=existing
                )
            except (ApplicationError, ValidationError) as error:
                raise CommandError(str(error)) from None
            self.stdout.write(f"{each_code} -> {each_procedure}")
