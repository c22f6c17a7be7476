"""manage.py check_levels FILE|-: the level check from the command line, same JSON as the API.

Exit status: 0 pass, 1 stop or incomplete, 2 invalid input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from levelverify.check import check_levels
from levelverify.errors import NON_FIELD_ERRORS, LevelInputError
from levelverify.strict_json import loads_strict

INVALID_INPUT = "Invalid input."
EXIT_PASS, EXIT_NOT_PASS, EXIT_INVALID = 0, 1, 2


class Command(BaseCommand):
    help = "Run the level check on a JSON request (a file, or - for stdin) and print the verdict JSON."
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="path to a JSON request, or - to read standard input")

    def handle(self, *args: Any, **options: Any) -> None:
        code, body = self._run(options["file"])
        self.stdout.write(json.dumps(body, indent=2, ensure_ascii=False))
        sys.exit(code)

    def _run(self, source: str) -> tuple[int, dict[str, Any]]:
        try:
            text = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
        except (OSError, UnicodeDecodeError) as exc:
            return EXIT_INVALID, _invalid(f"Cannot read {source}: {exc}")
        try:
            request = loads_strict(text)
            if not isinstance(request, dict):
                return EXIT_INVALID, _invalid("The request must be a JSON object.")
            verdict = check_levels(request)
        except LevelInputError as exc:
            return EXIT_INVALID, {"detail": INVALID_INPUT, "errors": exc.errors}
        return (EXIT_PASS if verdict["verdict"] == "pass" else EXIT_NOT_PASS), verdict


def _invalid(message: str) -> dict[str, Any]:
    return {"detail": INVALID_INPUT, "errors": {NON_FIELD_ERRORS: [message]}}
