"""What an import did, or in a dry run would do, row by row: the lines the
``import_catalogue`` command prints come from here."""

from __future__ import annotations

from dataclasses import dataclass, field

from catalogue.importing.sections import all_kinds, singular
from catalogue.importing.specs import (
    CREATED,
    FILE_KEY_FOR_FIELD,
    UNCHANGED,
    UPDATED,
    PlanStep,
)


@dataclass(frozen=True)
class Change:
    """What an import did (or, in a dry run, would do) to one row."""

    kind: str
    key: str
    action: str
    fields: tuple[str, ...] = ()


@dataclass
class ImportReport:
    """The outcome of an import: one ``Change`` per row the file names."""

    dry_run: bool
    changes: list[Change] = field(default_factory=list)

    def count(self, kind: str, action: str) -> int:
        return sum(1 for change in self.changes if change.kind == kind and change.action == action)

    @property
    def created_users(self) -> list[str]:
        return [change.key for change in self.changes if change.kind == "users" and change.action == CREATED]

    def user_lines(self) -> list[str]:
        verb = "would create" if self.dry_run else "created"
        return [f"{verb} user {username} (no usable password)" for username in self.created_users]

    def change_lines(self) -> list[str]:
        """One line per row created or updated (users excepted: see ``user_lines``)."""
        lines = []
        for change in self.changes:
            if change.kind == "users" or change.action == UNCHANGED:
                continue
            verb = change.action.removesuffix("d")
            verb = f"would {verb}" if self.dry_run else change.action
            fields = f" ({', '.join(change.fields)})" if change.action == UPDATED else ""
            lines.append(f"{verb} {singular(change.kind)} {change.key}{fields}")
        return lines

    def summary_lines(self) -> list[str]:
        return [
            f"{kind}: {self.count(kind, CREATED)} created, {self.count(kind, UPDATED)} updated, "
            f"{self.count(kind, UNCHANGED)} unchanged"
            for kind in all_kinds()
        ]


def change_of(step: PlanStep) -> Change:
    fields = tuple(FILE_KEY_FOR_FIELD.get(name, name) for name in step.fields)
    return Change(kind=step.kind, key=step.key, action=step.action, fields=fields)
