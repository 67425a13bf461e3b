"""Parts of the catalogue file that the apps above the catalogue read and
write (``business_units``: ``portal.consumption``).

The catalogue imports nothing of the apps that depend on it (import-linter's
layers), yet the file also carries what they keep. Such an app registers a
``Section`` when it is ready (``portal.apps``); the import then runs the
section through its four stages beside the catalogue's own (parsed after
the products, resolved against the file and the database, planned row by
row, written last in the same transaction, every problem located in the
file) and the exporter writes what it exports. The people a section names
are created like squad members (``ParsedFile.extra_usernames``).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from catalogue.importing.specs import (
    KINDS,
    SINGULAR,
    TOP_LEVEL_KEYS,
    DocPath,
    ExistingRows,
    ParsedFile,
    PlanStep,
)
from catalogue.importing.values import EntryReader

#: Reports what a model refuses at a place in the file (``Writer.located``).
Located = Callable[[DocPath], AbstractContextManager[None]]


class Section(Protocol):
    """One top-level key of the file that an app above the catalogue owns."""

    #: The top-level key (``business_units``), after the catalogue's own.
    key: str
    #: The kinds of rows it plans, in the order written, with their singular.
    kinds: dict[str, str]

    def parse(self, value: object, where: DocPath, reader: EntryReader, parsed: ParsedFile) -> None:
        """Check the value of ``key``; keep what it asks for in
        ``parsed.sections[key]`` and log every problem with ``reader``."""

    def resolve(self, parsed: ParsedFile, rows: ExistingRows, reader: EntryReader) -> None:
        """Check its references against the file and the database."""

    def plan(self, parsed: ParsedFile, rows: ExistingRows) -> list[PlanStep]:
        """One step per row, as the catalogue plans its own."""

    def write(self, steps: list[PlanStep], rows: ExistingRows, located: Located) -> None:
        """Write the steps (inside the import's transaction, after the products)."""

    def export(self) -> list[dict[str, Any]]:
        """The section as the file writes it (empty: left out)."""


_sections: dict[str, Section] = {}


def section_register(section: Section) -> None:
    """Make ``section`` part of the file (registering a key again replaces
    it: the app's ready() may run twice in tests)."""
    if section.key in TOP_LEVEL_KEYS:
        raise ValueError(f"{section.key!r} is one of the catalogue's own keys")
    _sections[section.key] = section


def sections() -> list[Section]:
    return list(_sections.values())


def top_level_keys() -> tuple[str, ...]:
    """Every key the file accepts at its top, in the order the exporter writes them."""
    return (*TOP_LEVEL_KEYS, *_sections)


def all_kinds() -> tuple[str, ...]:
    """Every kind of row an import reports on, in the order written."""
    return (*KINDS, *(kind for section in _sections.values() for kind in section.kinds))


def singular(kind: str) -> str:
    for section in _sections.values():
        if kind in section.kinds:
            return section.kinds[kind]
    return SINGULAR[kind]
