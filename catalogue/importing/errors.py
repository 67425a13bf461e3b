"""Problems of a catalogue file, each with where it is (file, line, path in
the document), and the log every stage reports them to."""

from __future__ import annotations

from dataclasses import dataclass

from catalogue.importing.specs import DocPath


def format_path(path: DocPath) -> str:
    """``("products", 2, "runbook")`` -> ``products[2].runbook``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


@dataclass(frozen=True)
class LocatedError:
    """One problem of a catalogue file, with where it is."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        parts = [self.file if self.line is None else f"{self.file}:{self.line}"]
        if self.path:
            parts.append(self.path)
        parts.append(self.message)
        return ": ".join(parts)


class CatalogueFileError(Exception):
    """A catalogue file that cannot be imported; ``errors`` holds every problem
    found, each with its location. Nothing was written."""

    def __init__(self, errors: list[LocatedError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(error) for error in errors))


class ErrorLog:
    """The problems found in one file so far, and the line of every path in
    it (known once the parse stage has composed the document)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.lines: dict[DocPath, int] = {}
        self.errors: list[LocatedError] = []

    def error(self, where: DocPath, message: str) -> None:
        error = LocatedError(self.label, self.line_of(where), format_path(where), message)
        # A model field may run the same validator twice (Squad.slug adds
        # validate_slug to SlugField's own): say it once.
        if error not in self.errors:
            self.errors.append(error)

    def line_of(self, where: DocPath) -> int | None:
        """The line of ``where``, or of its nearest ancestor the file spells out
        (a missing key is reported at its entry)."""
        for length in range(len(where), -1, -1):
            line = self.lines.get(where[:length])
            if line is not None:
                return line
        return None

    def where_defined(self, where: DocPath) -> str:
        line = self.line_of(where)
        return f"line {line} ({format_path(where)})" if line else format_path(where)

    def at(self, where: DocPath, message: str) -> LocatedError:
        """A problem at ``where``, not yet logged (for errors raised at once)."""
        return LocatedError(self.label, self.line_of(where), format_path(where), message)

    def at_line(self, line: int | None, message: str, path: DocPath = ()) -> None:
        """Log a problem whose line the YAML parser gives, not a document path."""
        self.errors.append(LocatedError(self.label, line, format_path(path), message))

    def in_reading_order(self) -> list[LocatedError]:
        # Errors without a line (the file as a whole) first.
        return sorted(self.errors, key=lambda error: error.line or 0)


def describe(value: object) -> str:
    """How a YAML value reads to the author, for 'must be X, not Y' messages."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"
