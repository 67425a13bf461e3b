"""Catalogue as code: check a whole catalogue file, then upsert it all or nothing.

The file format is the contract of DESIGN.md ("Catalogue as code"). An import
goes through four stages, each a module of ``catalogue.importing``, and
nothing is written before the last one:

1. parse: the YAML is composed into a node tree (to know the line of every
   key) and constructed into plain data; each entry is checked for its shape
   and its values against the models' own field validators; playbooks are read
   and checked, form schemas are checked;
2. resolve: references (squads, runbooks, categories, dependencies) are looked
   up in the file and in the database together; the dependency graph is
   searched for a cycle;
3. plan: every entry is compared with its row, field by field;
4. write: in one transaction, only what differs is written, through the same
   services the admin uses (``runbook_set_playbook``, ``product_changed``).

Stages 1 and 2 collect every problem instead of stopping at the first, so an
author fixes a file in one pass. Each problem names the file, the line and the
path inside the document (``products[2].runbook``, indexes counted from 0).

Upsert semantics: an entry declares the whole of what the file format covers,
so an optional key left out means the model's default (an empty description,
no unit cost…). What the format does not cover is never touched: credentials
of runbooks, users' details, and memberships (of squads and chapters) that the
file does not list: people are added and their squad role set, never removed.
"""

from __future__ import annotations

from pathlib import Path

from catalogue.importing.errors import CatalogueFileError, ErrorLog, LocatedError
from catalogue.importing.parse import parse_file
from catalogue.importing.plan import plan_import
from catalogue.importing.report import Change, ImportReport, change_of
from catalogue.importing.resolve import resolve_references
from catalogue.importing.write import write_plan

__all__ = ["CatalogueFileError", "Change", "ImportReport", "LocatedError", "import_catalogue"]


def import_catalogue(path: Path, *, dry_run: bool = False) -> ImportReport:
    """Import the catalogue file at ``path``: validate all of it, then upsert
    squads, members, chapters, categories, runbooks and products by slug in one
    transaction (nothing when ``dry_run``).

    Raises ``CatalogueFileError`` with every problem found; then nothing is
    written, not even a user.
    """
    log = ErrorLog(str(path))
    parsed = parse_file(path, log)
    rows = resolve_references(parsed, log)
    if log.errors:
        # In reading order; errors without a line (the file as a whole) first.
        raise CatalogueFileError(log.in_reading_order())
    steps = plan_import(parsed, rows)
    if not dry_run:
        write_plan(steps, rows, log)
    return ImportReport(dry_run=dry_run, changes=[change_of(step) for step in steps])
