"""Give the application's database role exactly its privileges (run as the owner role)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from checklist.audit.db_roles import grants_apply


class Command(BaseCommand):
    help = "Grant DATABASE_APP_ROLE (or --role) its least privileges on every table; run as the owner role."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--role", default=None, help="the application role (default: DATABASE_APP_ROLE)")

    def handle(self, *args: Any, **options: Any) -> None:
        role = options["role"] or settings.DATABASE_APP_ROLE
        if not role:
            raise CommandError("Name the application role: --role or DATABASE_APP_ROLE.")
        count = grants_apply(role=role)
        if not count:
            raise CommandError("Nothing granted: PostgreSQL only, and run it as the role that owns the tables.")
        self.stdout.write(f"Granted {role} its privileges ({count} statements).")
