"""The checks every entry of a catalogue file goes through: known keys, the
type of each value, and the models' own field validators. Each logs what is
wrong at the value's path and returns None (or the default) for it."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import models

from catalogue.importing.errors import ErrorLog, describe
from catalogue.importing.specs import DocPath


def model_field(model: type[models.Model], name: str) -> models.Field:
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field)  # a column, not a relation's reverse side
    return field


class EntryReader:
    """Reads values out of the file's mappings, logging every problem."""

    def __init__(self, log: ErrorLog) -> None:
        self.log = log

    def check_keys(self, entry: Mapping[Any, Any], where: DocPath, allowed: tuple[str, ...]) -> None:
        for key in entry:
            if key in allowed:
                continue
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"expected one of {', '.join(allowed)}"
            self.log.error((*where, str(key)), f"unknown key {str(key)!r}; {hint}")

    def entries(
        self, container: Mapping[str, Any], where: DocPath, key: str
    ) -> Iterator[tuple[DocPath, dict]]:
        """The mappings listed under ``key`` (a missing or empty list is none)."""
        value = container.get(key)
        if value is not None:
            yield from self.mappings(value, (*where, key))

    def mappings(self, value: object, where: DocPath) -> Iterator[tuple[DocPath, dict]]:
        """The mappings of the list ``value`` at ``where``, each with its path;
        anything else is logged (a section's whole value, or a key's)."""
        if not isinstance(value, list):
            self.log.error(where, f"must be a list, not {describe(value)}")
            return
        for index, item in enumerate(value):
            if isinstance(item, dict):
                yield (*where, index), item
            else:
                self.log.error((*where, index), f"must be a mapping of keys, not {describe(item)}")

    def first_definition(self, seen: dict[str, DocPath], entry: Mapping[str, Any], where: DocPath) -> bool:
        """Whether the entry's slug is met here for the first time (then it is
        recorded in ``seen``); a duplicate is logged naming both places. An
        entry with no text slug counts as first (its own check says why)."""
        raw = entry.get("slug")
        if not isinstance(raw, str):
            return True
        first = seen.get(raw)
        if first is not None:
            place = self.log.where_defined(first)
            self.log.error((*where, "slug"), f"duplicate slug {raw!r}: already defined at {place}")
            return False
        seen[raw] = where
        return True

    def present(self, entry: Mapping[str, Any], where: DocPath, key: str, *, required: bool) -> bool:
        """Whether ``key`` has a value; a null counts as left out."""
        if entry.get(key) is not None:
            return True
        if required:
            self.log.error(
                (*where, key), "required key is missing" if key not in entry else "must not be empty"
            )
        return False

    def valid(self, model_field: models.Field, value: object, where: DocPath) -> bool:
        """Run the model field's own validators (length, slug, ranges…)."""
        try:
            model_field.clean(value, None)
        except ValidationError as error:
            for message in error.messages:
                self.log.error(where, message)
            return False
        return True

    def text(
        self,
        entry: Mapping[str, Any],
        where: DocPath,
        key: str,
        model_field: models.Field,
        *,
        required: bool = False,
    ) -> str | None:
        if not self.present(entry, where, key, required=required):
            return None if required else ""
        value = entry[key]
        if not isinstance(value, str):
            self.log.error((*where, key), f"must be a string, not {describe(value)} (quote it)")
            return None
        return value if self.valid(model_field, value, (*where, key)) else None

    def username(self, value: object, where: DocPath) -> str | None:
        user_model = get_user_model()
        if not isinstance(value, str):
            self.log.error(where, f"must be a username (a string), not {describe(value)}")
            return None
        if not value:
            self.log.error(where, "must not be empty")
            return None
        return value if self.valid(model_field(user_model, user_model.USERNAME_FIELD), value, where) else None

    def count(
        self,
        entry: Mapping[str, Any],
        where: DocPath,
        key: str,
        model_field: models.Field,
        *,
        default: int,
        positive: bool,
    ) -> int | None:
        if not self.present(entry, where, key, required=False):
            return default
        value = entry[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.log.error((*where, key), f"must be a whole number, not {describe(value)}")
            return None
        if positive and value < 1:
            self.log.error((*where, key), f"must be a positive whole number, not {value}")
            return None
        if value < 0:
            self.log.error((*where, key), f"must not be negative, not {value}")
            return None
        return value if self.valid(model_field, value, (*where, key)) else None

    def choice(
        self,
        entry: Mapping[str, Any],
        where: DocPath,
        key: str,
        choices: type[models.TextChoices],
        *,
        default: str | None = None,
    ) -> str | None:
        if not self.present(entry, where, key, required=default is None):
            return default
        value = entry[key]
        if not isinstance(value, str) or value not in choices.values:
            shown = repr(value) if isinstance(value, str) else describe(value)
            self.log.error((*where, key), f"unknown {key} {shown}; use one of {', '.join(choices.values)}")
            return None
        return value

    def string_list(self, entry: Mapping[str, Any], where: DocPath, key: str) -> list[str] | None:
        if not self.present(entry, where, key, required=False):
            return []
        value = entry[key]
        if not isinstance(value, list):
            self.log.error((*where, key), f"must be a list, not {describe(value)}")
            return None
        items: list[str] = []
        valid = True
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item:
                self.log.error((*where, key, index), f"must be a non-empty string, not {describe(item)}")
                valid = False
            elif item in items:
                self.log.error((*where, key, index), f"{item!r} is listed twice")
                valid = False
            else:
                items.append(item)
        return items if valid else None

    def flag(self, entry: Mapping[str, Any], where: DocPath, key: str, *, default: bool) -> bool | None:
        if not self.present(entry, where, key, required=False):
            return default
        value = entry[key]
        if not isinstance(value, bool):
            self.log.error((*where, key), f"must be true or false, not {describe(value)}")
            return None
        return value
