"""``manage.py export_catalogue [--output FILE]``: the catalogue as code, out of the database.

The work is done by ``catalogue.exporter``; this command reads the arguments
and prints the outcome.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalogue.exporter import ExportError, export_catalogue


class Command(BaseCommand):
    help = (
        "Export the catalogue (squads, members, chapters, categories, runbooks, products) as a YAML file "
        "that import_catalogue reads back unchanged. Each runbook's current playbook is written to "
        "<playbooks dir>/<runbook-slug>.yml; the YAML names it relative to the output file."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--output", "-o", type=Path, help="the YAML file to write (default: standard output)"
        )
        parser.add_argument(
            "--playbooks-dir",
            type=Path,
            help="where to write the playbooks (default: playbooks/ next to --output, "
            "or in the working directory when writing to standard output)",
        )

    def handle(self, *args: Any, output: Path | None, playbooks_dir: Path | None, **options: Any) -> None:
        try:
            result = export_catalogue(output=output, playbooks_dir=playbooks_dir)
        except ExportError as error:
            raise CommandError(str(error)) from None
        # With the YAML on stdout, anything else goes to stderr so the output can be piped.
        notes = self.stderr if output is None else self.stdout
        if output is None:
            self.stdout.write(result.text, ending="")
        else:
            notes.write(f"Wrote {output}.")
        if result.playbooks:
            notes.write(f"Wrote {len(result.playbooks)} playbook(s) to {result.playbooks[0].parent}.")
