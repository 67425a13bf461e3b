"""``manage.py import_catalogue FILE.yaml``: catalogue as code, into the database.

The work is done by ``catalogue.importer``; this command reads the arguments
and prints the outcome.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalogue.importer import CatalogueFileError, import_catalogue


class Command(BaseCommand):
    help = (
        "Import a catalogue file (YAML, see DESIGN.md 'Catalogue as code'): upsert squads, their members, "
        "chapters, categories, runbooks (with their playbooks) and products by slug. The whole file is "
        "checked first and every error is listed with its file:line; then everything is written in one "
        "transaction, or nothing is. Rows whose values are identical are left untouched. Users named in the "
        "file that do not exist yet are created without a usable password. Memberships of squads and "
        "chapters that the file does not list are left alone: people are added and their squad role set, "
        "never removed. Playbook paths are relative to the file."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="the catalogue YAML file")
        parser.add_argument(
            "--dry-run", action="store_true", help="check the file and show what would change; write nothing"
        )

    def handle(self, *args: Any, file: Path, dry_run: bool, **options: Any) -> None:
        try:
            report = import_catalogue(file, dry_run=dry_run)
        except CatalogueFileError as error:
            for problem in error.errors:
                self.stderr.write(str(problem))
            count = len(error.errors)
            raise CommandError(
                f"{file}: {count} error{'s' if count != 1 else ''}; nothing was imported."
            ) from None
        for line in report.user_lines():
            self.stdout.write(line)
        for line in report.change_lines():
            self.stdout.write(line)
        for line in report.summary_lines():
            self.stdout.write(line)
        if dry_run:
            self.stdout.write(self.style.WARNING("Dry run: nothing was written."))
        else:
            self.stdout.write(self.style.SUCCESS(f"Imported {file}."))
