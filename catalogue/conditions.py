"""Conditional fields: JSON Schema's own ``if``/``then``/``else`` and
``dependentRequired`` at the top of a product's form.

A field named in a branch (``then`` or ``else``: its ``required`` or its
``properties``) is *conditional*: it is shown, and its value kept, only while
a branch naming it applies. Otherwise the form hides it and the server drops
its value before validating, so a hidden field is never required and never
reaches the playbook, whatever a browser or an integration sent.

``if`` is kept to what the browser can evaluate as the user types, exactly
as jsonschema does on the server: ``properties`` whose conditions are a
``const`` or an ``enum`` over scalar fields, and ``required``. Several
conditions go in ``allOf: [{if, then, else}, ...]``. ``dependentRequired``
(``{a: [b]}``: b is required once a is given) hides nothing, and may name a
conditional ``b`` only where ``b`` shows whenever ``a`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from catalogue.patterns import FormValidator

#: One problem: where in the schema, and what is wrong (``catalogue.schema``
#: makes a ``SchemaProblem`` of it; this module cannot import it back).
Problem = tuple[tuple[str | int, ...], str]

#: Top-level keywords this module gives meaning to.
CONDITION_KEYWORDS = {"if", "then", "else", "allOf", "dependentRequired"}
SCALAR_TYPES = {"string", "integer", "number", "boolean"}
#: What a branch may say of a field besides requiring it: the constraints
#: of its type, never a new type or a default (one field, one control).
BRANCH_EXCLUDED = {"type", "default", "title", "description", "examples", "x-secret", "x-widget"}

Path = tuple[str | int, ...]


def conditions_of(schema: dict) -> list[tuple[Path, dict]]:
    """Each ``{if, then, else}`` of the form with where it sits."""
    found: list[tuple[Path, dict]] = []
    if "if" in schema or "then" in schema or "else" in schema:
        found.append(((), {key: schema[key] for key in ("if", "then", "else") if key in schema}))
    all_of = schema.get("allOf")
    if isinstance(all_of, list):
        found.extend((("allOf", index), item) for index, item in enumerate(all_of) if isinstance(item, dict))
    return found


def condition_problems(
    schema: dict, properties: dict, property_keywords: Callable[[dict], set[str]]
) -> list[Problem]:
    """Why the form's conditions cannot be used (empty if fine): every field a
    condition names must be one of the form's properties."""

    problems: list[Problem] = []
    all_of = schema.get("allOf")
    if "allOf" in schema:
        if not isinstance(all_of, list) or not all_of:
            problems.append((("allOf",), "allOf must be a non-empty list of conditions"))
        else:
            for index, item in enumerate(all_of):
                if not isinstance(item, dict) or "if" not in item or set(item) - {"if", "then", "else"}:
                    problems.append(
                        (
                            ("allOf", index),
                            "each item of allOf is a condition: {if: ..., then: ..., else: ...}",
                        )
                    )
    if ("then" in schema or "else" in schema) and "if" not in schema:
        problems.append((("if",), "'then' and 'else' need an 'if'"))
    for where, condition in conditions_of(schema):
        if "if" not in condition:
            continue
        problems.extend(_if_problems(condition["if"], (*where, "if"), properties))
        if "then" not in condition and "else" not in condition:
            problems.append(((*where, "if"), "a condition needs a 'then' or an 'else'"))
        for branch in ("then", "else"):
            if branch in condition:
                problems.extend(
                    _branch_problems(condition[branch], (*where, branch), properties, property_keywords)
                )
    if "dependentRequired" in schema:
        problems.extend(_dependent_problems(schema["dependentRequired"], properties))
    if not problems:
        problems.extend(_hidden_requirement_problems(schema))
    return problems


def _hidden_requirement_problems(schema: dict) -> list[Problem]:
    """Fields the form requires where they may be hidden: hidden, a field's
    value is dropped, then it is missing, and no order could pass (the
    person told to fill in a field they cannot see)."""
    problems: list[Problem] = []
    conditional = conditional_fields(schema)
    required = schema.get("required")
    for index, name in enumerate(required if isinstance(required, list) else []):
        if name in conditional:
            problems.append(
                (
                    ("required", index),
                    f"{name!r} shows only under a condition: require it in the branch that shows it",
                )
            )
    dependent = schema.get("dependentRequired")
    for given, needed in (dependent if isinstance(dependent, dict) else {}).items():
        for index, name in enumerate(needed):
            if name in conditional and not _shows_with(given, name, conditional):
                problems.append(
                    (
                        ("dependentRequired", given, index),
                        f"{name!r} shows only under a condition: an order giving {given!r} while "
                        f"{name!r} is hidden could never pass; require {name!r} in the branch that "
                        f"shows it, or show {given!r} only under the conditions that show {name!r}",
                    )
                )
    return problems


def _shows_with(given: str, needed: str, conditional: dict[str, list[tuple[dict, bool]]]) -> bool:
    """Whether ``needed`` shows whenever ``given`` does: ``given`` is itself
    conditional and every condition showing it shows ``needed`` too. (While
    ``given`` is hidden its value is dropped, so what it requires never applies.)"""
    showing = conditional.get(given, [])
    return bool(showing) and all(shown in conditional[needed] for shown in showing)


def _unknown(name: object, properties: dict, here: Path) -> list[Problem]:

    if isinstance(name, str) and name in properties:
        return []
    return [(here, f"{name!r} is not a field of this form")]


def _if_problems(condition: object, here: Path, properties: dict) -> list[Problem]:

    shape = "an 'if' is {properties: {field: {const: value} or {enum: [values]}}, required: [fields]}"
    if not isinstance(condition, dict) or not condition or set(condition) - {"properties", "required"}:
        return [(here, shape)]
    problems: list[Problem] = []
    tests = condition.get("properties", {})
    if not isinstance(tests, dict):
        return [((*here, "properties"), shape)]
    for name, test in tests.items():
        where = (*here, "properties", name)
        unknown = _unknown(name, properties, where)
        if unknown:
            problems.extend(unknown)
            continue
        if properties[name].get("type") not in SCALAR_TYPES:
            problems.append((where, f"a condition can test text, numbers and yes/no, not {name!r}"))
        if not isinstance(test, dict) or len(test) != 1 or not ({"const", "enum"} & set(test)):
            problems.append((where, f"test {name!r} with {{const: value}} or {{enum: [values]}}"))
        elif "enum" in test and (not isinstance(test["enum"], list) or not test["enum"]):
            problems.append(((*where, "enum"), "enum must be a non-empty list"))
    problems.extend(_names_problems(condition.get("required", []), (*here, "required"), properties))
    return problems


def _names_problems(names: object, here: Path, properties: dict) -> list[Problem]:

    if not isinstance(names, list):
        return [(here, "must be a list of field names")]
    problems: list[Problem] = []
    for index, name in enumerate(names):
        problems.extend(_unknown(name, properties, (*here, index)))
    return problems


def _branch_problems(
    branch: object, here: Path, properties: dict, property_keywords: Callable[[dict], set[str]]
) -> list[Problem]:

    if not isinstance(branch, dict) or set(branch) - {"properties", "required"}:
        return [(here, "a branch is {required: [fields], properties: {field: {constraints}}}")]
    problems = _names_problems(branch.get("required", []), (*here, "required"), properties)
    constraints = branch.get("properties", {})
    if not isinstance(constraints, dict):
        return [*problems, ((*here, "properties"), "must be a mapping of field names")]
    for name, spec in constraints.items():
        where = (*here, "properties", name)
        unknown = _unknown(name, properties, where)
        if unknown:
            problems.extend(unknown)
            continue
        if not isinstance(spec, dict):
            problems.append((where, f"the constraints on {name!r} must be a mapping"))
            continue
        allowed = property_keywords(properties[name]) - BRANCH_EXCLUDED
        for key in sorted(set(spec) - allowed):
            problems.append(((*where, key), f"{key!r} cannot be set on {name!r} in a branch"))
    return problems


def _dependent_problems(value: object, properties: dict) -> list[Problem]:

    here: Path = ("dependentRequired",)
    if not isinstance(value, dict):
        return [(here, "dependentRequired is {field: [fields it requires]}")]
    problems: list[Problem] = []
    for name, needed in value.items():
        problems.extend(_unknown(name, properties, (*here, name)))
        problems.extend(_names_problems(needed, (*here, name), properties))
    return problems


# --- Which fields show -----------------------------------------------------------


def _branch_fields(branch: object) -> set[str]:
    if not isinstance(branch, dict):
        return set()
    names = set(branch.get("required") or [])
    names |= set(branch.get("properties") or {})
    return {name for name in names if isinstance(name, str)}


def conditional_fields(schema: dict) -> dict[str, list[tuple[dict, bool]]]:
    """Each conditional field with the conditions that show it: ``(if, True)``
    when it shows while the ``if`` holds (named in ``then``), ``(if, False)``
    while it does not (named in ``else``)."""
    shown_by: dict[str, list[tuple[dict, bool]]] = {}
    for _, condition in conditions_of(schema):
        test = condition.get("if")
        if not isinstance(test, dict):
            continue
        for branch, holds in (("then", True), ("else", False)):
            for name in _branch_fields(condition.get(branch)):
                shown_by.setdefault(name, []).append((test, holds))
    return shown_by


class _Test:
    """One ``if`` of the form: its validator, built once (the same as every
    input's, RE2 patterns), and the fields its outcome depends on."""

    def __init__(self, test: dict) -> None:
        self.validator = FormValidator(test)
        names = set(test.get("properties") or {}) | set(test.get("required") or [])
        self.fields: set[str] | None = {name for name in names if isinstance(name, str)}
        if set(test) - {"properties", "required"}:
            self.fields = None  # not a curated condition: it reads every field

    def holds(self, inputs: dict, hidden: set[str]) -> bool:
        """Whether it holds for what the person sees: ``inputs`` less the
        ``hidden`` fields' values."""
        names = inputs.keys() if self.fields is None else self.fields
        visible = {name: inputs[name] for name in names if name in inputs and name not in hidden}
        return not any(True for _ in self.validator.iter_errors(visible))


def required_when_shown(schema: dict) -> set[str]:
    """The conditional fields every branch naming them requires: whenever
    they show, they must be filled in (the form says so beside them)."""
    named: dict[str, bool] = {}
    for _, condition in conditions_of(schema):
        for branch in ("then", "else"):
            part = condition.get(branch)
            required = set(part.get("required") or []) if isinstance(part, dict) else set()
            for name in _branch_fields(part):
                named[name] = named.get(name, True) and name in required
    return {name for name, always in named.items() if always}


def hidden_fields(schema: dict, inputs: dict) -> set[str]:
    """The conditional fields no applying branch names, given ``inputs``.

    A hidden field's value does not count in the conditions either (the
    person cannot see or change it), so this repeats until nothing more is
    hidden: a field shown by a field that is itself hidden is hidden. Each
    round weighs again only the conditions that read a field whose
    visibility changed, so a chain of a thousand fields each shown by the
    one before costs a thousand tests, not a million."""
    shown_by = conditional_fields(schema)
    if not shown_by:
        return set()
    tests: dict[int, _Test] = {}
    shows: dict[int, set[str]] = {}  # the fields each condition shows or hides
    for name, conditions in shown_by.items():
        for test, _ in conditions:
            tests.setdefault(id(test), _Test(test))
            shows.setdefault(id(test), set()).add(name)
    readers: dict[str | None, set[int]] = {}  # the conditions reading each field
    for key, weighed in tests.items():
        for field in weighed.fields if weighed.fields is not None else {None}:
            readers.setdefault(field, set()).add(key)

    def is_hidden(name: str) -> bool:
        return not any(outcome[id(test)] == holds for test, holds in shown_by[name])

    hidden: set[str] = set()
    outcome = {key: test.holds(inputs, hidden) for key, test in tests.items()}
    now = {name for name in shown_by if is_hidden(name)}
    for _ in range(len(shown_by) + 1):
        if now == hidden:
            break
        changed, hidden = now ^ hidden, now
        weigh = readers.get(None, set()).union(*(readers.get(name, set()) for name in changed))
        for key in weigh:
            outcome[key] = tests[key].holds(inputs, hidden)
        affected = set().union(*(shows[key] for key in weigh))
        now = (hidden - affected) | {name for name in affected if is_hidden(name)}
    return hidden


def browser_conditions(schema: dict) -> list[dict[str, Any]]:
    """What the page's script needs to show and hide fields as the user types
    (a data attribute, never an inline script): for each conditional field,
    the tests that show it."""
    return [
        {"field": name, "when": [{"if": test, "holds": holds} for test, holds in conditions]}
        for name, conditions in sorted(conditional_fields(schema).items())
    ]
