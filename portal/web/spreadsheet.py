"""What every CSV download shares: no cell runs as a formula."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator


def defuse(text: str) -> str:
    """Spreadsheets execute cells that start like a formula: such text gets a
    leading apostrophe (OWASP's advice for CSV injection), also when blanks
    come first (some spreadsheets skip them). Numbers stay numbers."""
    if text.lstrip(" \n")[:1] in ("=", "+", "-", "@", "\t", "\r"):
        try:
            float(text)
        except ValueError:
            return "'" + text
    return text


class _Echo:
    """A file for csv.writer that hands each line back instead of keeping it."""

    def write(self, value: str) -> str:
        return value


def csv_stream(rows: Iterable[Iterable[str]]) -> Iterator[str]:
    """CSV lines of ``rows`` as they come (for a streamed download), every
    cell defused."""
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow([defuse(cell) for cell in row])
