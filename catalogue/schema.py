"""The order-form language: the subset of JSON Schema a product's form may use.

One schema per product drives the browser form, API validation and the
extra-vars its runbook receives, so every keyword accepted here must mean
something in all three places. Anything else is refused with a message that
names the property, rather than half-working somewhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

COMMON_KEYWORDS = {"type", "title", "description", "default", "examples"}
KEYWORDS_BY_TYPE: dict[str, set[str]] = {
    "string": {"enum", "pattern", "format", "minLength", "maxLength", "x-secret", "x-widget"},
    "integer": {"enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"},
    "number": {"enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"},
    "boolean": set(),
    "array": {"items", "minItems", "maxItems", "uniqueItems"},
}
ROOT_KEYWORDS = {
    "type",
    "title",
    "description",
    "properties",
    "required",
    "additionalProperties",
    "$schema",
}
STRING_FORMATS = {"email", "uri", "date", "date-time", "time", "ipv4", "ipv6", "hostname", "uuid"}
STRING_WIDGETS = {"textarea"}


@dataclass(frozen=True)
class SchemaProblem:
    """One thing wrong with a form schema; ``path`` points into the schema."""

    path: tuple[str | int, ...]
    message: str

    def __str__(self) -> str:
        where = ".".join(str(part) for part in self.path)
        return f"{where}: {self.message}" if where else self.message


def form_schema_problems(schema: object) -> list[SchemaProblem]:
    """Every reason ``schema`` is not an acceptable order form (empty if fine)."""
    if not isinstance(schema, dict):
        return [SchemaProblem((), "the form must be a JSON Schema object (a mapping)")]
    problems: list[SchemaProblem] = []
    if schema.get("type") != "object":
        problems.append(SchemaProblem(("type",), "the form's type must be 'object'"))
    for key in schema.keys() - ROOT_KEYWORDS:
        problems.append(SchemaProblem((key,), f"unsupported keyword {key!r} at the form's top level"))
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        problems.append(SchemaProblem(("properties",), "'properties' must be a mapping"))
        properties = {}
    for name, spec in properties.items():
        problems.extend(_property_problems(str(name), spec))
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(item, str) for item in required):
        problems.append(SchemaProblem(("required",), "'required' must be a list of property names"))
    else:
        for name in required:
            if name not in properties:
                problems.append(SchemaProblem(("required",), f"{name!r} is required but is not a property"))
    if not problems:
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as error:
            path = tuple(error.path) or tuple(error.schema_path)[:-1]
            problems.append(SchemaProblem(tuple(path), f"invalid JSON Schema: {error.message}"))
    return problems


def _property_problems(name: str, spec: object) -> list[SchemaProblem]:
    here: tuple[str | int, ...] = ("properties", name)
    if not isinstance(spec, dict):
        return [SchemaProblem(here, f"property {name!r} must be a mapping")]
    kind = spec.get("type")
    if kind not in KEYWORDS_BY_TYPE:
        return [
            SchemaProblem(
                (*here, "type"),
                f"property {name!r} has unsupported type {kind!r}; "
                f"use one of {', '.join(sorted(KEYWORDS_BY_TYPE))}",
            )
        ]
    problems = []
    allowed = COMMON_KEYWORDS | KEYWORDS_BY_TYPE[kind]
    for key in sorted(spec.keys() - allowed):
        problems.append(
            SchemaProblem((*here, key), f"property {name!r}: keyword {key!r} is not supported for {kind}")
        )
    if kind == "string":
        problems.extend(_string_problems(name, spec, here))
    if kind == "array":
        items = spec.get("items")
        if (
            not isinstance(items, dict)
            or items.get("type") != "string"
            or not isinstance(items.get("enum"), list)
            or not items["enum"]
            or set(items) - {"type", "enum"}
        ):
            problems.append(
                SchemaProblem(
                    (*here, "items"),
                    f"property {name!r}: an array must be a multiple choice, "
                    "items: {type: string, enum: [...]}",
                )
            )
    if "enum" in spec and (not isinstance(spec["enum"], list) or not spec["enum"]):
        problems.append(SchemaProblem((*here, "enum"), f"property {name!r}: enum must be a non-empty list"))
    problems.extend(_bound_problems(name, spec, here))
    if "default" in spec and not problems:
        errors = list(Draft202012Validator(spec).iter_errors(spec["default"]))
        if errors:
            problems.append(
                SchemaProblem(
                    (*here, "default"),
                    f"property {name!r}: the default does not fit the property: {errors[0].message}",
                )
            )
    return problems


#: Lower and upper bounds that no value could satisfy together if crossed.
BOUND_PAIRS = (
    ("minimum", "maximum"),
    ("exclusiveMinimum", "exclusiveMaximum"),
    ("minimum", "exclusiveMaximum"),
    ("exclusiveMinimum", "maximum"),
    ("minLength", "maxLength"),
    ("minItems", "maxItems"),
)


def _bound_problems(name: str, spec: dict, here: tuple[str | int, ...]) -> list[SchemaProblem]:
    """Crossed bounds (minimum above maximum…): no input could ever fit, so
    every order would be refused."""
    problems = []
    for low, high in BOUND_PAIRS:
        lower, upper = spec.get(low), spec.get(high)
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lower, upper))
        if not numbers:
            continue
        strict = low.startswith("exclusive") or high.startswith("exclusive")
        if lower > upper or (strict and lower >= upper):  # type: ignore[operator]
            problems.append(
                SchemaProblem(
                    (*here, low), f"property {name!r}: {low} {lower} is above {high} {upper}: no value fits"
                )
            )
    return problems


def _string_problems(name: str, spec: dict, here: tuple[str | int, ...]) -> list[SchemaProblem]:
    problems = []
    if "pattern" in spec:
        try:
            re.compile(str(spec["pattern"]))
        except re.error as error:
            problems.append(
                SchemaProblem(
                    (*here, "pattern"), f"property {name!r}: pattern is not a regular expression: {error}"
                )
            )
    if "format" in spec and spec["format"] not in STRING_FORMATS:
        problems.append(
            SchemaProblem(
                (*here, "format"),
                f"property {name!r}: format {spec['format']!r} is not supported; "
                f"use one of {', '.join(sorted(STRING_FORMATS))}",
            )
        )
    if "x-widget" in spec and spec["x-widget"] not in STRING_WIDGETS:
        problems.append(SchemaProblem((*here, "x-widget"), f"property {name!r}: x-widget must be 'textarea'"))
    if "x-secret" in spec and not isinstance(spec["x-secret"], bool):
        problems.append(
            SchemaProblem((*here, "x-secret"), f"property {name!r}: x-secret must be true or false")
        )
    return problems


def secret_fields(schema: dict) -> set[str]:
    """Names of the properties whose values are secrets (``x-secret: true``)."""
    properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
    return {name for name, spec in properties.items() if isinstance(spec, dict) and spec.get("x-secret")}
