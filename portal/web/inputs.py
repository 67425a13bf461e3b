"""An order's inputs as people read them, on every page that shows them (the
review before placing, the order page, the approvals inbox): in the form's
order, under their titles, secrets as dots."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from catalogue.dynamic_choices import LABELS
from catalogue.schema import secret_fields

SECRET_DISPLAY = "••••••••"  # noqa: S105 - what a hidden secret looks like, not a secret


def field_title(name: str, spec: Mapping[str, Any]) -> str:
    """A form field's title: its schema's ``title``, else its name in words."""
    title = spec.get("title")
    return str(title) if title else name.replace("_", " ").capitalize()


@dataclass(frozen=True)
class InputRow:
    name: str
    label: str
    value: str
    secret: bool
    empty: bool


def _display(value: Any) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if value is None:
        return ""
    return str(value)


def _labelled(spec: dict, value: object) -> object:
    """A live choice (``x-choices-from``) as its label, when the schema
    carries the labels (``live_schema``); any other value as it is."""
    labels, values = spec.get(LABELS), spec.get("enum")
    if isinstance(labels, list) and isinstance(values, list) and value in values:
        return labels[values.index(value)]
    return value


def input_rows(schema: dict, inputs: dict) -> list[InputRow]:
    """The inputs in the form's order with their titles; a secret is shown as
    dots whatever the value holds (clear on the review page, masked in an order)."""
    properties = (schema or {}).get("properties") or {}
    secrets = secret_fields(schema or {})
    names = [name for name in properties if name in inputs] + [
        name for name in inputs if name not in properties
    ]
    rows = []
    for name in names:
        value = inputs[name]
        secret = name in secrets and value not in (None, "")
        shown = SECRET_DISPLAY if secret else _display(_labelled(properties.get(name) or {}, value))
        rows.append(
            InputRow(
                name=name,
                label=field_title(name, properties.get(name) or {}),
                value=shown,
                secret=secret,
                empty=shown == "",
            )
        )
    return rows
