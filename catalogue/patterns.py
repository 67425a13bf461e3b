"""Squads' regular expressions (a form field's ``pattern``), run with RE2.

A pattern is written by a squad and run on every order's input, on the
server. Python's ``re`` backtracks: ``^(a+)+$`` against 28 ``a`` and a ``!``
held a web process for 10 s, doubling with each more character. RE2 matches
in time linear in the input whatever the pattern, and refuses the features
that need backtracking (backreferences, lookaround), so every place the
server runs a squad's pattern goes through this module; a pattern RE2 cannot
compile is refused when the form is curated.

``FormValidator`` is jsonschema's Draft 2020-12 validator with every keyword
that runs a regular expression (``pattern``, ``patternProperties``,
``additionalProperties`` beside them, the ``regex`` format) answered by RE2.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Any

import re2
from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import ValidationError

#: Memory RE2 may use for one compiled pattern (program and matching cache).
#: Ample for a form field's pattern; a pattern that needs more is refused
#: ("pattern too large") instead of growing the web process, and a search
#: whose cache fills falls back to RE2's slower, still linear, matcher.
MAX_PATTERN_MEMORY = 1 << 20

#: The longest pattern accepted: far beyond any sensible field check, and it
#: keeps the compile cost of a pattern (paid once per process) small.
MAX_PATTERN_LENGTH = 1000

#: What a curator needs to know beside RE2's own reason, by that reason's start.
HINTS = {
    "invalid escape sequence": "RE2 has no backreferences such as \\1",
    "invalid perl operator": "RE2 has no lookaround ((?=…), (?!…), (?<=…), (?<!…)) and no (?P=name)",
    "invalid named capture group": "RE2 names a group (?P<name>…)",
    "invalid repetition size": "RE2 repeats at most 1000 times, nested repetitions multiplied",
    "bad repetition operator": "RE2 repeats at most 1000 times, nested repetitions multiplied",
    "pattern too large": "the pattern is too large once compiled: split it or use fewer repetitions",
}


class PatternError(ValueError):
    """A pattern that RE2 cannot run; the message says why, for people."""


def _options() -> re2.Options:
    options = re2.Options()
    options.max_mem = MAX_PATTERN_MEMORY
    # RE2 prints every refused pattern on stderr; the caller reports it.
    options.log_errors = False
    # Only "does it match?" is ever asked: no group needs capturing.
    options.never_capture = True
    return options


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> Any:
    """The compiled pattern, or the ``PatternError`` saying why not (cached
    too, so a refused pattern is not compiled again on every order)."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        return PatternError(f"it is longer than {MAX_PATTERN_LENGTH} characters")
    try:
        return re2.compile(pattern, _options())
    except re2.error as error:
        reason = error.args[0] if error.args else "not a regular expression"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        hints = [hint for start, hint in HINTS.items() if str(reason).startswith(start)]
        return PatternError("; ".join([str(reason), *hints]))
    except UnicodeEncodeError:
        return PatternError("it contains a character that is not valid text (a lone surrogate)")


def compile_pattern(pattern: object) -> Any:
    """The RE2 form of ``pattern``; raises ``PatternError`` if it has none."""
    if not isinstance(pattern, str):
        raise PatternError("a pattern must be text")
    compiled = _compiled(pattern)
    if isinstance(compiled, PatternError):
        raise compiled
    return compiled


def pattern_problem(pattern: object) -> str | None:
    """Why RE2 refuses ``pattern`` (``None`` if it runs)."""
    try:
        compile_pattern(pattern)
    except PatternError as error:
        return str(error)
    return None


def pattern_search(pattern: object, text: str) -> bool:
    """Whether ``pattern`` matches somewhere in ``text`` (JSON Schema's
    unanchored semantics). Raises ``PatternError`` for a pattern RE2 refuses:
    never falls back to a backtracking engine."""
    compiled = compile_pattern(pattern)
    try:
        return compiled.search(text) is not None
    except UnicodeEncodeError:
        # RE2 matches UTF-8; text with a lone surrogate matches nothing.
        return False


# --- jsonschema keywords answered by RE2 ----------------------------------


def _unchecked(pattern: object) -> ValidationError:
    return ValidationError(f"the pattern {pattern!r} cannot be checked: {pattern_problem(pattern)}")


def _pattern(validator: Any, pattern: object, instance: Any, schema: Mapping) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "string"):
        return
    try:
        matched = pattern_search(pattern, instance)
    except PatternError:
        yield _unchecked(pattern)
        return
    if not matched:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_matches(patterns: Mapping, name: str) -> Iterator[object]:
    """The patterns of ``patternProperties`` that match ``name``; raises
    ``PatternError`` for one RE2 refuses."""
    return (pattern for pattern in patterns if pattern_search(pattern, name))


def _pattern_properties(
    validator: Any, patterns: object, instance: Any, schema: Mapping
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object") or not isinstance(patterns, Mapping):
        return
    for pattern, subschema in patterns.items():
        for name, value in instance.items():
            try:
                matched = pattern_search(pattern, name)
            except PatternError:
                yield _unchecked(pattern)
                return
            if matched:
                yield from validator.descend(value, subschema, path=name, schema_path=pattern)


def _additional_properties(
    validator: Any, additional: object, instance: Any, schema: Mapping
) -> Iterator[ValidationError]:
    """jsonschema's own, with the names that ``patternProperties`` covers
    found by RE2 (jsonschema joins the patterns and runs ``re``)."""
    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties") or {}
    patterns = schema.get("patternProperties") or {}
    extras = []
    for name in instance:
        if name in properties:
            continue
        try:
            if patterns and any(_pattern_matches(patterns, name)):
                continue
        except PatternError as error:
            yield ValidationError(f"patternProperties cannot be checked: {error}")
            return
        extras.append(name)
    if validator.is_type(additional, "object"):
        for name in extras:
            yield from validator.descend(instance[name], additional, path=name)
    elif additional is False and extras:
        listed = ", ".join(repr(name) for name in sorted(extras))
        verb = "was" if len(extras) == 1 else "were"
        yield ValidationError(f"Additional properties are not allowed ({listed} {verb} unexpected)")


def _unevaluated_properties(
    validator: Any, unevaluated: object, instance: object, schema: Mapping
) -> Iterator[ValidationError]:
    """jsonschema finds the evaluated names with ``re`` (through
    ``patternProperties`` anywhere below). No order form may use this
    keyword (``catalogue.schema`` refuses it), so a schema that still has
    it is refused here rather than run with a backtracking engine."""
    if validator.is_type(instance, "object"):
        yield ValidationError("unevaluatedProperties is not supported in an order form")


def _is_regex(value: object) -> bool:
    return not isinstance(value, str) or pattern_problem(value) is None


#: Draft 2020-12's format checks, with ``regex`` meaning "RE2 runs it".
FORMAT_CHECKER = FormatChecker()
FORMAT_CHECKER.checkers.update(Draft202012Validator.FORMAT_CHECKER.checkers)
FORMAT_CHECKER.checkers["regex"] = (_is_regex, ())

FormValidator = validators.extend(
    Draft202012Validator,
    validators={
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties,
        "unevaluatedProperties": _unevaluated_properties,
    },
    format_checker=FORMAT_CHECKER,
)
"""The validator every order form's schema runs with (inputs, defaults)."""


def check_schema(schema: object) -> None:
    """Raise jsonschema's ``SchemaError`` if ``schema`` is not valid JSON
    Schema, with a ``format: regex`` (the meta-schema's ``pattern``) judged
    by RE2."""
    FormValidator.check_schema(schema, format_checker=FORMAT_CHECKER)
