"""The difference between two playbook versions, as rows a page can show.

Python's ``difflib`` finds the changes (the same matcher ``diff -u`` output
comes from); this module only numbers the lines of both sides, so a reader
can find each change in either version, and groups them into hunks with a
few lines of context, as a unified diff does.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Literal

RowKind = Literal["hunk", "context", "removed", "added"]

#: Unchanged lines shown around each change.
CONTEXT_LINES = 3


@dataclass(frozen=True)
class DiffRow:
    """One line of a unified diff: its kind, its number in the old and the
    new version (None on the side it is not in), and its text."""

    kind: RowKind
    old_number: int | None
    new_number: int | None
    text: str

    @property
    def sign(self) -> str:
        return {"removed": "-", "added": "+", "context": " ", "hunk": ""}[self.kind]


@dataclass(frozen=True)
class PlaybookDiff:
    """What changed between two texts: the rows of every hunk and the counts."""

    rows: list[DiffRow] = field(default_factory=list)
    added: int = 0
    removed: int = 0

    @property
    def identical(self) -> bool:
        return not self.rows


def _hunk_header(old_start: int, old_count: int, new_start: int, new_count: int) -> str:
    # The header ``diff -u`` writes, so a reader used to it recognises it.
    return f"@@ -{old_start},{old_count} +{new_start},{new_count} @@"


def playbook_diff(old: str, new: str, *, context: int = CONTEXT_LINES) -> PlaybookDiff:
    """The unified diff of ``old`` to ``new`` (texts compared line by line)."""
    old_lines = old.splitlines()
    new_lines = new.splitlines()
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    rows: list[DiffRow] = []
    added = removed = 0
    for group in matcher.get_grouped_opcodes(context):
        first, last = group[0], group[-1]
        rows.append(
            DiffRow(
                "hunk",
                None,
                None,
                _hunk_header(first[1] + 1, last[2] - first[1], first[3] + 1, last[4] - first[3]),
            )
        )
        for tag, old_from, old_to, new_from, new_to in group:
            if tag == "equal":
                rows.extend(
                    DiffRow(
                        "context", old_from + offset + 1, new_from + offset + 1, old_lines[old_from + offset]
                    )
                    for offset in range(old_to - old_from)
                )
                continue
            # "replace" is a removal followed by an addition, as in ``diff -u``.
            if tag in ("delete", "replace"):
                rows.extend(
                    DiffRow("removed", number + 1, None, old_lines[number])
                    for number in range(old_from, old_to)
                )
                removed += old_to - old_from
            if tag in ("insert", "replace"):
                rows.extend(
                    DiffRow("added", None, number + 1, new_lines[number])
                    for number in range(new_from, new_to)
                )
                added += new_to - new_from
    return PlaybookDiff(rows=rows, added=added, removed=removed)
