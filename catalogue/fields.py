"""A JSON column that gives a form back in the order it was written.

A form's fields are shown in the order of its ``properties``, but
PostgreSQL's ``jsonb`` (Django's JSONField there) keeps an object's keys in
its own order, shortest first: every form saved on PostgreSQL came back with
its fields reordered by the length of their names. PostgreSQL's ``json``
type keeps the text as written, so a form column is ``json`` there; SQLite
keeps the text anyway. Such a column cannot be compared in SQL (no equality
on ``json``: no DISTINCT, GROUP BY or ``=`` on it), which no form needs.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.expressions import Expression


class OrderedJSONField(models.JSONField):
    """A JSONField whose objects keep their keys' order on every database."""

    def db_type(self, connection: BaseDatabaseWrapper) -> str | None:
        if connection.vendor == "postgresql":
            return "json"
        return super().db_type(connection)

    def get_db_prep_value(self, value: Any, connection: BaseDatabaseWrapper, prepared: bool = False) -> Any:
        if connection.vendor != "postgresql" or isinstance(value, Expression):
            return super().get_db_prep_value(value, connection, prepared)
        # Only there: psycopg is PostgreSQL's driver.
        from django.db.backends.postgresql.operations import get_json_dumps  # type: ignore[attr-defined]
        from psycopg.types.json import Json

        if not prepared:
            value = self.get_prep_value(value)
        # Sent as json, not as Django's jsonb: a jsonb value is reordered on
        # its way in, whatever the column.
        return Json(value, dumps=get_json_dumps(self.encoder))

    def from_db_value(self, value: Any, expression: Any, connection: BaseDatabaseWrapper) -> Any:
        # psycopg parses a json column itself (in the text's order): what it
        # gives is the value, a string included. Django has it read only
        # jsonb as text, to parse it here.
        if connection.vendor == "postgresql":
            return value
        return super().from_db_value(value, expression, connection)
