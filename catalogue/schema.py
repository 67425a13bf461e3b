"""The order-form language: the subset of JSON Schema a product's form may use.

One schema per product drives the browser form, API validation and the
extra-vars its runbook receives, so every keyword accepted here must mean
something in all three places. Anything else is refused with a message that
names the property, rather than half-working somewhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from jsonschema.exceptions import SchemaError

from catalogue.conditions import CONDITION_KEYWORDS, condition_problems
from catalogue.dynamic_choices import EXTENSION, extension_problems
from catalogue.patterns import FormValidator, check_schema, pattern_problem
from runbooks.extravars import contains_surrogate, input_name_problem

COMMON_KEYWORDS = {"type", "title", "description", "default", "examples"}
KEYWORDS_BY_TYPE: dict[str, set[str]] = {
    "string": {"enum", "pattern", "format", "minLength", "maxLength", "x-secret", "x-widget", EXTENSION},
    "integer": {
        "enum",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        EXTENSION,
    },
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
    *CONDITION_KEYWORDS,
}
STRING_FORMATS = {"email", "uri", "date", "date-time", "time", "ipv4", "ipv6", "hostname", "uuid"}
STRING_WIDGETS = {"textarea"}

#: Bounds of the walk over a schema before any other check: far above any
#: real form (a few levels, a few hundred values), low enough that a pasted
#: monster costs nothing and recursive code further on cannot overflow.
MAX_DEPTH = 32
MAX_VALUES = 20_000


@dataclass(frozen=True)
class SchemaProblem:
    """One thing wrong with a form schema; ``path`` points into the schema."""

    path: tuple[str | int, ...]
    message: str

    def __str__(self) -> str:
        where = ".".join(str(part) for part in self.path)
        return f"{where}: {self.message}" if where else self.message


def form_schema_problems(schema: object) -> list[SchemaProblem]:
    """Every reason ``schema`` is not an acceptable order form (empty if fine).

    Never raises, whatever JSON-like value it is given: each check looks at
    the type of what it reads first, and jsonschema only sees a schema whose
    shape these checks have accepted (it assumes a valid schema and would
    raise on ``minimum: "a"``)."""
    problems = _value_problems(schema)
    if problems:
        return problems
    if not isinstance(schema, dict):
        return [SchemaProblem((), "the form must be a JSON Schema object (a mapping)")]
    if schema.get("type") != "object":
        problems.append(SchemaProblem(("type",), "the form's type must be 'object'"))
    for key in sorted(schema.keys() - ROOT_KEYWORDS):
        problems.append(SchemaProblem((key,), f"unsupported keyword {key!r} at the form's top level"))
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        problems.append(SchemaProblem(("properties",), "'properties' must be a mapping"))
        properties = {}
    for name, spec in properties.items():
        if (reason := input_name_problem(name)) is not None:
            # Each field reaches the playbook as a variable of its name: one
            # Ansible refuses (or that would steer Ansible) fails every order.
            problems.append(SchemaProblem(("properties", name), f"field {reason}: rename it"))
        problems.extend(_property_problems(str(name), spec))
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(item, str) for item in required):
        problems.append(SchemaProblem(("required",), "'required' must be a list of property names"))
    else:
        for name in required:
            if name not in properties:
                problems.append(SchemaProblem(("required",), f"{name!r} is required but is not a property"))
    if not problems:
        problems.extend(
            SchemaProblem(path, message)
            for path, message in condition_problems(schema, properties, property_keywords)
        )
    if not problems:
        try:
            check_schema(schema)
        except SchemaError as error:
            path = tuple(error.path) or tuple(error.schema_path)[:-1]
            problems.append(SchemaProblem(tuple(path), f"invalid JSON Schema: {error.message}"))
    if not problems:
        for name, spec in properties.items():
            problems.extend(_default_problems(str(name), spec))
    return problems


def _value_problems(schema: object) -> list[SchemaProblem]:
    """Values that are not JSON (NaN, a lone surrogate) or too deep or large
    to walk safely. Stored in a JSONField, the first are refused by
    PostgreSQL or cannot be shown back; the others are bounded here so no
    later step has to be."""
    pending: list[tuple[object, tuple[str | int, ...]]] = [(schema, ())]
    seen = 0
    while pending:
        value, path = pending.pop()
        seen += 1
        if seen > MAX_VALUES:
            return [SchemaProblem((), f"the form is too large (more than {MAX_VALUES} values)")]
        if len(path) > MAX_DEPTH:
            return [SchemaProblem(path[:MAX_DEPTH], f"nested too deeply (more than {MAX_DEPTH} levels)")]
        if isinstance(value, float) and not math.isfinite(value):
            return [SchemaProblem(path, f"{value} is not a JSON number")]
        if isinstance(value, str) and contains_surrogate(value):
            return [SchemaProblem(path, "contains a character that is not valid text (a lone surrogate)")]
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str) or contains_surrogate(key):
                    return [SchemaProblem(path, f"the key {key!r} is not valid text")]
                pending.append((item, (*path, key)))
        elif isinstance(value, list):
            pending.extend((item, (*path, index)) for index, item in enumerate(value))
        elif value is not None and not isinstance(value, str | bool | int | float):
            return [SchemaProblem(path, f"a {type(value).__name__} is not a JSON value")]
    return []


def _type_problem(name: str, kind: object, here: tuple[str | int, ...]) -> SchemaProblem:
    """Why ``kind`` is not one of the types a form field can have."""
    if isinstance(kind, list):
        # Valid JSON Schema, but one field is one control: a nullable field
        # is what a field left out of ``required`` already is.
        message = (
            f"property {name!r}: a list of types ({kind!r}) is not supported; give one type "
            "(a field that is not in 'required' may already be left empty)"
        )
    else:
        message = (
            f"property {name!r} has unsupported type {kind!r}; "
            f"use one of {', '.join(sorted(KEYWORDS_BY_TYPE))}"
        )
    return SchemaProblem((*here, "type"), message)


def _property_problems(name: str, spec: object) -> list[SchemaProblem]:
    here: tuple[str | int, ...] = ("properties", name)
    if not isinstance(spec, dict):
        return [SchemaProblem(here, f"property {name!r} must be a mapping")]
    kind = spec.get("type")
    if not (isinstance(kind, str) and kind in KEYWORDS_BY_TYPE):
        return [_type_problem(name, kind, here)]
    problems = []
    allowed = property_keywords(spec)
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
    if EXTENSION in spec and kind in ("string", "integer"):
        problems.extend(
            SchemaProblem(path, message) for path, message in extension_problems(name, spec, here)
        )
    return problems


def property_keywords(spec: dict) -> set[str]:
    """The keywords a property of ``spec``'s type may use."""
    return COMMON_KEYWORDS | KEYWORDS_BY_TYPE.get(str(spec.get("type")), set())


def _default_problems(name: str, spec: object) -> list[SchemaProblem]:
    """A default that its own property refuses (checked once the schema is
    known valid: jsonschema would raise on a malformed keyword). Runs the
    squad's pattern, so with RE2 like every order's input."""
    if not isinstance(spec, dict) or "default" not in spec:
        return []
    errors = list(FormValidator(spec).iter_errors(spec["default"]))
    if not errors:
        return []
    return [
        SchemaProblem(
            ("properties", name, "default"),
            f"property {name!r}: the default does not fit the property: {errors[0].message}",
        )
    ]


#: Lower and upper bounds that no value could satisfy together if crossed.
BOUND_PAIRS = (
    ("minimum", "maximum"),
    ("exclusiveMinimum", "exclusiveMaximum"),
    ("minimum", "exclusiveMaximum"),
    ("exclusiveMinimum", "maximum"),
    ("minLength", "maxLength"),
    ("minItems", "maxItems"),
)


def _number(value: object) -> float | None:
    """``value`` if it is a JSON number (a bool is none, though Python counts it an int)."""
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _bound_problems(name: str, spec: dict, here: tuple[str | int, ...]) -> list[SchemaProblem]:
    """Crossed bounds (minimum above maximum…): no input could ever fit, so
    every order would be refused."""
    problems = []
    for low, high in BOUND_PAIRS:
        lower, upper = _number(spec.get(low)), _number(spec.get(high))
        if lower is None or upper is None:
            continue
        strict = low.startswith("exclusive") or high.startswith("exclusive")
        if lower > upper or (strict and lower >= upper):
            problems.append(
                SchemaProblem(
                    (*here, low), f"property {name!r}: {low} {lower} is above {high} {upper}: no value fits"
                )
            )
    return problems


def _string_problems(name: str, spec: dict, here: tuple[str | int, ...]) -> list[SchemaProblem]:
    problems = []
    if "pattern" in spec:
        pattern = spec["pattern"]
        if not isinstance(pattern, str):
            problems.append(SchemaProblem((*here, "pattern"), f"property {name!r}: pattern must be text"))
        elif (reason := pattern_problem(pattern)) is not None:
            problems.append(
                SchemaProblem(
                    (*here, "pattern"),
                    f"property {name!r}: pattern {pattern!r} cannot be used: {reason} "
                    "(patterns are checked with RE2, which never backtracks)",
                )
            )
    text_format = spec.get("format")
    if "format" in spec and not (isinstance(text_format, str) and text_format in STRING_FORMATS):
        problems.append(
            SchemaProblem(
                (*here, "format"),
                f"property {name!r}: format {text_format!r} is not supported; "
                f"use one of {', '.join(sorted(STRING_FORMATS))}",
            )
        )
    widget = spec.get("x-widget")
    if "x-widget" in spec and not (isinstance(widget, str) and widget in STRING_WIDGETS):
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
