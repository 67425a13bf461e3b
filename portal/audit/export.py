"""The trail as a download, for the faces to write: rows for CSV, JSON lines
for a SIEM. Both read a chunk of entries per query, so a long trail never
sits whole in the web process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet

from portal.audit.models import AuditEntry

#: What an entry says, as the API and the JSON lines give it.
ENTRY_FIELDS = (
    "id",
    "at",
    "actor",
    "actor_id",
    "via",
    "address",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "changes",
    "note",
)
#: The CSV's columns: the same, but the database's own ids.
COLUMNS = tuple(name for name in ENTRY_FIELDS if name not in ("id", "actor_id"))
CHUNK = 500


def entry_as_dict(entry: AuditEntry) -> dict[str, Any]:
    values = {name: getattr(entry, name) for name in ENTRY_FIELDS}
    values["at"] = entry.at.isoformat()
    return values


def rows(entries: QuerySet[AuditEntry]) -> Iterator[list[str]]:
    """The header, then one row of text per entry (changes as JSON)."""
    yield list(COLUMNS)
    for entry in entries.iterator(chunk_size=CHUNK):
        values = entry_as_dict(entry)
        values["changes"] = json.dumps(values["changes"], sort_keys=True, ensure_ascii=False)
        yield ["" if values[column] is None else str(values[column]) for column in COLUMNS]


def json_lines(entries: QuerySet[AuditEntry]) -> Iterator[str]:
    for entry in entries.iterator(chunk_size=CHUNK):
        yield json.dumps(entry_as_dict(entry), sort_keys=True, ensure_ascii=False) + "\n"
