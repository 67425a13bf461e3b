"""The difference between two playbook versions, as rows a page can show.

Python's ``difflib`` finds the changes (the same matcher ``diff -u`` output
comes from); this module only numbers the lines of both sides, so a reader
can find each change in either version, and groups them into hunks with a
few lines of context, as a unified diff does.

``difflib``'s exact matching takes time quadratic in the lines compared, and
a playbook may have 100,000 of them (a squad member's, shown on a page other
curators open). So the lines both versions begin and end with are set aside
first (most edits change a few lines in the middle), and a middle too large
to compare exactly is shown as replaced whole: still a true diff, a longer
one. (``difflib``'s heuristic, which skips the most repeated lines, is no
bound: a hundred lines repeated in another order still took minutes.)
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Literal

RowKind = Literal["hunk", "context", "removed", "added"]
#: One of difflib's opcodes: what to do, and the ranges of both sides it concerns.
Opcode = tuple[Literal["replace", "delete", "insert", "equal"], int, int, int, int]

#: Unchanged lines shown around each change.
CONTEXT_LINES = 3
#: Beyond this many pairs of lines (old times new) the changed middle is shown
#: as replaced whole: exact comparison of 1,400 by 1,400 lines takes ~0.1 s.
EXACT_PAIRS = 2_000_000


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


class _TrimmedMatcher(difflib.SequenceMatcher):
    """A matcher whose opcodes compare only what lies between the lines both
    sides share at their start and end. ``get_grouped_opcodes`` reads
    nothing but ``get_opcodes``, so difflib's own index of the texts is not
    built."""

    def __init__(self, old: list[str], new: list[str]) -> None:
        super().__init__(a=(), b=())
        shortest = min(len(old), len(new))
        start = 0
        while start < shortest and old[start] == new[start]:
            start += 1
        end = 0
        while end < shortest - start and old[-1 - end] == new[-1 - end]:
            end += 1
        old_to, new_to = len(old) - end, len(new) - end
        # The middle begins and ends with lines that differ, so its opcodes
        # neither begin nor end with an equal run: nothing to merge.
        codes: list[Opcode] = [("equal", 0, start, 0, start)] if start else []
        if (old_to - start) * (new_to - start) > EXACT_PAIRS:
            if old_to > start or new_to > start:
                codes.append(("replace", start, old_to, start, new_to))
        else:
            middle = difflib.SequenceMatcher(a=old[start:old_to], b=new[start:new_to], autojunk=False)
            codes += [
                (tag, old_from + start, old_end + start, new_from + start, new_end + start)
                for tag, old_from, old_end, new_from, new_end in middle.get_opcodes()
                if old_from != old_end or new_from != new_end
            ]
        if end:
            codes.append(("equal", old_to, len(old), new_to, len(new)))
        self._codes = codes or [("equal", 0, 0, 0, 0)]

    def get_opcodes(self) -> list[Opcode]:
        return list(self._codes)


def _hunk_header(old_start: int, old_count: int, new_start: int, new_count: int) -> str:
    # The header ``diff -u`` writes, so a reader used to it recognises it.
    return f"@@ -{old_start},{old_count} +{new_start},{new_count} @@"


def playbook_diff(old: str, new: str, *, context: int = CONTEXT_LINES) -> PlaybookDiff:
    """The unified diff of ``old`` to ``new`` (texts compared line by line)."""
    old_lines = old.splitlines()
    new_lines = new.splitlines()
    matcher = _TrimmedMatcher(old_lines, new_lines)
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
