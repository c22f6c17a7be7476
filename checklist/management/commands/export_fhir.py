"""manage.py export_fhir CASE_ID: print the case's FHIR R4 Bundle (the same JSON as the API)."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from checklist.audit import audit_context
from checklist.services.record_access import access_export
from quality.fhir import fhir_bundle
from quality.selectors import case_for_quality

UNKNOWN_CASE = "No case {case_id}."


class Command(BaseCommand):
    help = "Print the FHIR R4 Bundle of one case (Patient, Procedure, Consent, checklist, signatures, audit)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("case_id", type=int, help="The case's id.")
        parser.add_argument("--compact", action="store_true", help="One line instead of indented JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        case = case_for_quality(options["case_id"])
        if case is None:
            self.stderr.write(UNKNOWN_CASE.format(case_id=options["case_id"]))
            sys.exit(2)
        with audit_context(client="manage.py export_fhir"):
            access_export(actor=None, export="fhir", channel="command", case=case)
        indent = None if options["compact"] else 2
        self.stdout.write(json.dumps(fhir_bundle(case), indent=indent, ensure_ascii=False))
