"""What the admin's form designer shows while a curator edits a form,
before anything is saved: where the JSON text is broken (line and column),
which field each schema problem concerns, and how the form fits the
runbook's playbook.

The rules are the catalogue's own (``catalogue.schema``,
``catalogue.checks``): the designer only reads the draft with them, so
what it shows is what saving or publishing would say.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from catalogue.checks import form_fit
from catalogue.schema import form_schema_problems

#: A draft longer than this is not checked as the curator types (the
#: stored form has no such limit, but a real form is a few kilobytes).
MAX_DRAFT_CHARACTERS = 200_000


@dataclass(frozen=True)
class JsonProblem:
    """Where the JSON text cannot be read: 1-based line and column."""

    line: int
    column: int
    message: str


@dataclass(frozen=True)
class FieldProblem:
    """A schema problem, with the field (property) it concerns when it
    concerns one, and the keyword inside it (``minimum``…) when known."""

    field: str | None
    keyword: str | None
    path: str
    message: str


@dataclass
class DraftReport:
    """Everything the designer shows about one draft."""

    schema: dict[str, Any] | None = None
    json_error: JsonProblem | None = None
    problems: list[FieldProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        """Whether the draft is a form the customer's page can be built from."""
        return self.schema is not None and not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "json_error": asdict(self.json_error) if self.json_error else None,
            "problems": [asdict(problem) for problem in self.problems],
            "warnings": self.warnings,
        }


def read_draft(text: str) -> tuple[Any, JsonProblem | None]:
    """The JSON value of ``text``, or where it cannot be read. An empty text
    is an empty form, as the admin's field reads it."""
    if not text.strip():
        return {"type": "object", "properties": {}}, None
    if len(text) > MAX_DRAFT_CHARACTERS:
        return None, JsonProblem(1, 1, f"The form is longer than {MAX_DRAFT_CHARACTERS} characters.")
    try:
        return json.loads(text), None
    except json.JSONDecodeError as error:
        return None, JsonProblem(error.lineno, error.colno, error.msg)
    except RecursionError:
        return None, JsonProblem(1, 1, "This JSON is nested too deeply to read.")
    except ValueError as error:
        # A number too long to convert (Python's int limit).
        return None, JsonProblem(1, 1, f"This JSON cannot be read: {error}")


def _field_problem(path: tuple[str | int, ...], message: str) -> FieldProblem:
    concerned = str(path[1]) if len(path) >= 2 and path[0] == "properties" else None
    keyword = str(path[2]) if concerned is not None and len(path) >= 3 else None
    return FieldProblem(concerned, keyword, ".".join(str(part) for part in path), message)


def draft_report(
    text: str, *, product_name: str = "This product", playbook: str | None = None
) -> DraftReport:
    """Read a draft form as the designer shows it. ``playbook`` is the
    content of the runbook's current version, when the product has one."""
    schema, json_error = read_draft(text)
    if json_error is not None:
        return DraftReport(json_error=json_error)
    report = DraftReport(
        problems=[_field_problem(problem.path, problem.message) for problem in form_schema_problems(schema)]
    )
    if isinstance(schema, dict):
        report.schema = schema
    if report.usable and playbook:
        report.warnings = form_fit(schema, playbook).warnings(product_name)
    return report
