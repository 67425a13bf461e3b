"""Validation of order inputs against a product's form schema.

The browser form, the API and the runbook's extra-vars all go through
``validate_inputs`` so the three can never disagree about what is valid.
"""

from __future__ import annotations

import copy
import re
from datetime import datetime, time
from urllib.parse import urlsplit

from jsonschema import FormatChecker
from jsonschema.exceptions import ValidationError

from catalogue.conditions import hidden_fields
from catalogue.dynamic_choices import EXTENSION, choice_message
from catalogue.patterns import FORMAT_CHECKER as RE2_FORMAT_CHECKER
from catalogue.patterns import FormValidator, pattern_problem
from catalogue.schema import secret_fields
from runbooks.extravars import contains_surrogate

MASK = "********"
_HOSTNAME = re.compile(r"^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$")

FORMAT_CHECKER = FormatChecker()
# Draft 2020-12's checks, with ``regex`` judged by RE2 (no input reaches ``re``).
FORMAT_CHECKER.checkers.update(RE2_FORMAT_CHECKER.checkers)


@FORMAT_CHECKER.checks("hostname")
def _is_hostname(value: object) -> bool:
    return not isinstance(value, str) or bool(_HOSTNAME.match(value))


@FORMAT_CHECKER.checks("uri", raises=ValueError)
def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme and (parts.netloc or parts.path))


@FORMAT_CHECKER.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    return "T" in value.upper() and datetime.fromisoformat(value.replace("Z", "+00:00")) is not None


@FORMAT_CHECKER.checks("time", raises=ValueError)
def _is_time(value: object) -> bool:
    return not isinstance(value, str) or time.fromisoformat(value) is not None


#: Key under which errors that belong to no single field are reported.
NON_FIELD = "__all__"

#: For a field whose stored pattern RE2 cannot run (saved before patterns
#: were checked at curation): nothing passes it, and the person ordering is
#: told whom to ask, since no value of theirs could fix it.
UNCHECKABLE_PATTERN = (
    "This field cannot be checked: its pattern is not supported. Ask the squad to fix its form."
)

#: Refused where inputs are checked (see ``contains_surrogate``).
NOT_TEXT = "Contains a character that is not valid text (a lone UTF-16 surrogate such as \\ud800)."


def apply_defaults(schema: dict, inputs: dict) -> dict:
    """The inputs with each absent property's ``default`` filled in."""
    completed = dict(inputs)
    for name, spec in (schema.get("properties") or {}).items():
        if name not in completed and isinstance(spec, dict) and "default" in spec:
            completed[name] = copy.deepcopy(spec["default"])
    return completed


def validate_inputs(schema: dict, inputs: object) -> tuple[dict, dict[str, list[str]]]:
    """Return ``(inputs with defaults, errors by field)``; errors empty if valid.

    Unknown fields are refused: a typo in an integration's payload must not
    be silently dropped (the runbook would then run without the value).
    Fields a condition hides (``catalogue.conditions``) are dropped, what
    was sent for them included: the person could not see them, and the
    playbook must not act on them. Dynamic choices are checked against the
    ``enum`` that ``catalogue.dynamic_choices.live_schema`` put in ``schema``.
    """
    if not isinstance(inputs, dict):
        return {}, {NON_FIELD: ["Inputs must be an object of field values."]}
    if any(contains_surrogate(name) for name in inputs):
        # Not even the field's name can be shown back.
        return {}, {NON_FIELD: ["A field name " + NOT_TEXT[0].lower() + NOT_TEXT[1:]]}
    completed = apply_defaults(schema, inputs)
    properties = schema.get("properties") or {}
    for name in hidden_fields(schema, {key: value for key, value in completed.items() if key in properties}):
        completed.pop(name, None)
    errors: dict[str, list[str]] = {}
    for name, value in completed.items():
        if contains_surrogate(value):
            errors.setdefault(name, []).append(NOT_TEXT)
    if errors:
        return completed, errors
    for name in sorted(set(completed) - set(properties)):
        errors.setdefault(name, []).append("This field is not part of the product's form.")
    # A squad's ``pattern`` runs with RE2 (see ``catalogue.patterns``).
    validator = FormValidator(schema, format_checker=FORMAT_CHECKER)
    for error in sorted(validator.iter_errors(completed), key=lambda e: list(e.absolute_path)):
        if error.validator in ("additionalProperties", "dependentRequired"):
            continue
        if error.validator == "required":
            field = error.message.split("'")[1] if "'" in error.message else NON_FIELD
            errors.setdefault(field, []).append("This field is required.")
            continue
        field = str(error.absolute_path[0]) if error.absolute_path else NON_FIELD
        errors.setdefault(field, []).append(_message(error, properties.get(field, {})))
    _dependent_errors(schema, properties, completed, errors)
    if not errors:
        _integers_as_int(properties, completed)
    return completed, errors


def _dependent_errors(schema: dict, properties: dict, inputs: dict, errors: dict[str, list[str]]) -> None:
    """``dependentRequired``'s errors on the field that is missing, naming
    the one that needs it (jsonschema's own message names neither usefully)."""
    dependent = schema.get("dependentRequired")
    if not isinstance(dependent, dict):
        return
    for name, needed in dependent.items():
        if name not in inputs:
            continue
        for other in needed:
            if other not in inputs and other not in errors:
                title = (properties.get(name) or {}).get("title") or name
                errors.setdefault(other, []).append(f"This field is required when {title} is given.")


def _integers_as_int(properties: dict, inputs: dict) -> None:
    """JSON Schema counts 2.0 as an integer; store and hand Ansible 2, as the
    form's field said."""
    for name, value in inputs.items():
        spec = properties.get(name)
        if not isinstance(spec, dict):
            continue
        if spec.get("type") == "integer" and isinstance(value, float):
            inputs[name] = int(value)
        elif spec.get("type") == "array" and isinstance(value, list):
            items = spec.get("items")
            if isinstance(items, dict) and items.get("type") == "integer":
                inputs[name] = [int(item) if isinstance(item, float) else item for item in value]


def pattern_message(spec: dict) -> str:
    """What a value that misses the field's ``pattern`` should look like: an
    example where the form gives one (people do not read regular expressions),
    the pattern itself otherwise."""
    if not isinstance(spec, dict):
        return "Not in the expected format."
    examples = spec.get("examples")
    if isinstance(examples, list) and examples and not spec.get("x-secret"):
        return f"Not in the expected format; for example: {examples[0]}."
    description = spec.get("description")
    if isinstance(description, str) and description.strip():
        return f"Not in the expected format: {description.strip().replace('`', '')}"  # Markdown code marks
    return f"Must match the pattern {spec.get('pattern')}."


def _message(error: ValidationError, spec: dict) -> str:
    """A message for people; never echo a secret value back (only the
    fallback, jsonschema's own message, would)."""
    kind = error.validator
    if kind == "pattern":
        return UNCHECKABLE_PATTERN if pattern_problem(error.validator_value) else pattern_message(spec)
    if kind == "format":
        return f"Must be a valid {error.validator_value}."
    if kind == "enum" and isinstance(spec, dict) and EXTENSION in spec:
        return choice_message(spec)
    if kind == "enum":
        return "Must be one of: " + ", ".join(str(choice) for choice in error.validator_value) + "."
    if kind == "type":
        return f"Must be of type {error.validator_value}."
    if kind == "minLength":
        return f"Must be at least {error.validator_value} characters long."
    if kind == "maxLength":
        return f"Must be at most {error.validator_value} characters long."
    if kind == "minimum":
        return f"Must be at least {error.validator_value}."
    if kind == "maximum":
        return f"Must be at most {error.validator_value}."
    if kind == "exclusiveMinimum":
        return f"Must be more than {error.validator_value}."
    if kind == "exclusiveMaximum":
        return f"Must be less than {error.validator_value}."
    if kind == "multipleOf":
        return f"Must be a multiple of {error.validator_value}."
    if kind == "minItems":
        return f"Choose at least {error.validator_value}."
    if kind == "maxItems":
        return f"Choose at most {error.validator_value}."
    if kind == "uniqueItems":
        return "Choose each option only once."
    if isinstance(spec, dict) and spec.get("x-secret"):
        return f"This value is not valid ({kind})."
    return error.message


def split_secrets(schema: dict, inputs: dict) -> tuple[dict, dict]:
    """Split inputs into (inputs with secrets masked, the clear secret values)."""
    names = secret_fields(schema)
    masked = {
        key: (MASK if key in names and value not in (None, "") else value) for key, value in inputs.items()
    }
    secrets = {key: value for key, value in inputs.items() if key in names and value not in (None, "")}
    return masked, secrets
