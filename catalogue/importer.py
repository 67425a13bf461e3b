"""Catalogue as code: check a whole catalogue file, then upsert it all or nothing.

The file format is the contract of DESIGN.md ("Catalogue as code"). An import
goes through four stages, and nothing is written before the last one:

1. parse: the YAML is composed into a node tree (to know the line of every
   key) and constructed into plain data; each entry is checked for its shape
   and its values against the models' own field validators; playbooks are read
   and checked, form schemas are checked;
2. resolve: references (squads, runbooks, categories, dependencies) are looked
   up in the file and in the database together; the dependency graph is
   searched for a cycle;
3. plan: every entry is compared with its row, field by field;
4. write: in one transaction, only what differs is written, through the same
   services the admin uses (``runbook_set_playbook``, ``product_changed``).

Stages 1 and 2 collect every problem instead of stopping at the first, so an
author fixes a file in one pass. Each problem names the file, the line and the
path inside the document (``products[2].runbook``, indexes counted from 0).

Upsert semantics: an entry declares the whole of what the file format covers,
so an optional key left out means the model's default (an empty description,
no unit cost…). What the format does not cover is never touched: credentials
of runbooks, users' details, and memberships (of squads and chapters) that the
file does not list: people are added and their squad role set, never removed.
"""

from __future__ import annotations

import difflib
import math
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import DatabaseError, models, transaction
from django.db.models import Prefetch
from django.utils.text import slugify

from catalogue.choices import ApprovalPolicy, Fulfilment, ProductStatus
from catalogue.models import ApprovalStep, Category, Product, empty_form
from catalogue.schema import form_schema_problems
from catalogue.selectors import approval_steps_in_order
from catalogue.services import dependency_edges, find_dependency_cycle, product_changed
from runbooks import yamlsafe
from runbooks.choices import RunbookNetwork
from runbooks.models import Runbook, queue_problem
from runbooks.playbooks import playbook_checksum, validate_playbook
from runbooks.services import runbook_set_playbook
from squads.choices import Role
from squads.models import Chapter, Membership, Squad
from squads.selectors import step_approvers

#: A location inside the document: mapping keys and list indexes.
DocPath = tuple[str | int, ...]

# The keys each part of the file accepts, in the order the exporter writes them.
TOP_LEVEL_KEYS = ("squads", "chapters", "categories", "runbooks", "products")
SQUAD_KEYS = ("slug", "name", "mission", "members")
MEMBER_KEYS = ("username", "role")
CHAPTER_KEYS = ("slug", "name", "description", "lead", "members")
CATEGORY_KEYS = ("slug", "name", "description", "position")
RUNBOOK_KEYS = (
    "slug",
    "name",
    "squad",
    "description",
    "playbook",
    "timeout",
    "queue",
    "network",
    "check_mode",
)
PRODUCT_KEYS = (
    "slug",
    "name",
    "category",
    "squad",
    "status",
    "summary",
    "description",
    "tags",
    "fulfilment",
    "runbook",
    "approval",
    "sla_minutes",
    "unit_cost",
    "depends_on",
    "form",
)

# ``approval`` is a policy name (none, squad) or a mapping with these keys.
APPROVAL_KEYS = ("policy", "steps", "remind_after_hours", "escalate_after_hours")
APPROVAL_STEP_KEYS = ("name", "squad", "chapter", "roles", "approvals")
DEFAULT_REMIND_AFTER_HOURS = 24
DEFAULT_ESCALATE_AFTER_HOURS = 72

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"
#: Kinds of rows an import reports on, in the order they are written.
KINDS = ("users", "squads", "members", "chapters", "categories", "runbooks", "products")
SINGULAR = {
    "users": "user",
    "squads": "squad",
    "members": "member",
    "chapters": "chapter",
    "categories": "category",
    "runbooks": "runbook",
    "products": "product",
}
# Where a model field's name differs from the file key that sets it.
FILE_KEY_FOR_FIELD = {
    "approval_policy": "approval",
    "approval_remind_after_hours": "approval",
    "approval_escalate_after_hours": "approval",
    "form_schema": "form",
    "supports_check_mode": "check_mode",
}

#: Values a catalogue file may hold. Its loader refuses anchors and aliases
#: (a "billion laughs" in a form's examples would otherwise expand when the
#: form is checked) and nesting deeper than ``yamlsafe.MAX_DEPTH``, so every
#: walk over the document is bounded by this.
MAX_NODES = 200_000
#: Largest playbook file read, well above any playbook a person maintains.
MAX_PLAYBOOK_BYTES = 2 * 1024 * 1024


class _CatalogueLoader(yamlsafe.BoundedSafeLoader):
    """The pure-Python loader, whose syntax errors the import reports as
    they are; it refuses aliases and anchors as it composes."""

    max_nodes = MAX_NODES


def format_path(path: DocPath) -> str:
    """``("products", 2, "runbook")`` -> ``products[2].runbook``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


@dataclass(frozen=True)
class LocatedError:
    """One problem of a catalogue file, with where it is."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        parts = [self.file if self.line is None else f"{self.file}:{self.line}"]
        if self.path:
            parts.append(self.path)
        parts.append(self.message)
        return ": ".join(parts)


class CatalogueFileError(Exception):
    """A catalogue file that cannot be imported; ``errors`` holds every problem
    found, each with its location. Nothing was written."""

    def __init__(self, errors: list[LocatedError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(error) for error in errors))


@dataclass(frozen=True)
class Change:
    """What an import did (or, in a dry run, would do) to one row."""

    kind: str
    key: str
    action: str
    fields: tuple[str, ...] = ()


@dataclass
class ImportReport:
    """The outcome of an import: one ``Change`` per row the file names."""

    dry_run: bool
    changes: list[Change] = field(default_factory=list)

    def count(self, kind: str, action: str) -> int:
        return sum(1 for change in self.changes if change.kind == kind and change.action == action)

    @property
    def created_users(self) -> list[str]:
        return [change.key for change in self.changes if change.kind == "users" and change.action == CREATED]

    def user_lines(self) -> list[str]:
        verb = "would create" if self.dry_run else "created"
        return [f"{verb} user {username} (no usable password)" for username in self.created_users]

    def change_lines(self) -> list[str]:
        """One line per row created or updated (users excepted: see ``user_lines``)."""
        lines = []
        for change in self.changes:
            if change.kind == "users" or change.action == UNCHANGED:
                continue
            verb = change.action.removesuffix("d")
            verb = f"would {verb}" if self.dry_run else change.action
            fields = f" ({', '.join(change.fields)})" if change.action == UPDATED else ""
            lines.append(f"{verb} {SINGULAR[change.kind]} {change.key}{fields}")
        return lines

    def summary_lines(self) -> list[str]:
        return [
            f"{kind}: {self.count(kind, CREATED)} created, {self.count(kind, UPDATED)} updated, "
            f"{self.count(kind, UNCHANGED)} unchanged"
            for kind in KINDS
        ]


# --- What the file asks for, once parsed ------------------------------------


@dataclass
class MemberSpec:
    where: DocPath
    username: str
    role: str


@dataclass
class SquadSpec:
    where: DocPath
    slug: str
    values: dict[str, Any]
    members: list[MemberSpec]


@dataclass
class ChapterSpec:
    where: DocPath
    slug: str
    values: dict[str, Any]
    lead: str | None
    members: list[str]


@dataclass
class CategorySpec:
    where: DocPath
    # None until resolved when the file leaves it out (see _resolve_categories).
    slug: str | None
    values: dict[str, Any]
    # A category only named by a product is created when missing, never updated.
    listed: bool = True


@dataclass
class RunbookSpec:
    where: DocPath
    slug: str
    squad: str
    values: dict[str, Any]
    playbook: str | None


@dataclass
class ApprovalStepSpec:
    """One step of a product's multi-step approval as the file gives it."""

    where: DocPath
    name: str
    squad: str | None
    chapter: str | None
    roles: list[str]
    required: int

    def key(self) -> tuple[str, str | None, str | None, tuple[str, ...], int]:
        return (self.name, self.squad, self.chapter, tuple(self.roles), self.required)


@dataclass
class ProductSpec:
    where: DocPath
    slug: str
    squad: str
    category: str
    runbook: str | None
    tags: list[str]
    depends_on: list[str]
    values: dict[str, Any]
    approval_steps: list[ApprovalStepSpec] = field(default_factory=list)


@dataclass
class RunbookRefs:
    """What a runbook entry refers to, recorded even when the entry has other
    errors, so that every wrong reference is reported in the same run."""

    where: DocPath
    slug: str | None
    squad: str | None


@dataclass
class ProductRefs:
    """What a product entry refers to (see ``RunbookRefs``); None where the
    value itself is invalid, already reported."""

    where: DocPath
    slug: str | None
    squad: str | None
    category: str | None
    runbook: str | None
    # Whether it must have a runbook (published and automated); None when unknown.
    needs_runbook: bool | None
    depends_on: list[str]
    approval_steps: list[ApprovalStepSpec] = field(default_factory=list)


@dataclass
class _Step:
    """One row to create, update or leave alone; ``fields`` are the changed
    model fields (or ``playbook``, ``members``, ``depends_on``)."""

    kind: str
    key: str
    action: str
    fields: list[str]
    spec: Any
    row: Any


def import_catalogue(path: Path, *, dry_run: bool = False) -> ImportReport:
    """Import the catalogue file at ``path``: validate all of it, then upsert
    squads, members, chapters, categories, runbooks and products by slug in one
    transaction (nothing when ``dry_run``).

    Raises ``CatalogueFileError`` with every problem found; then nothing is
    written, not even a user.
    """
    run = _ImportRun(path)
    run.parse()
    run.resolve()
    if run.errors:
        # In reading order; errors without a line (the file as a whole) first.
        raise CatalogueFileError(sorted(run.errors, key=lambda error: error.line or 0))
    steps = run.plan()
    if not dry_run:
        run.write(steps)
    return ImportReport(dry_run=dry_run, changes=[_change_of(step) for step in steps])


def _change_of(step: _Step) -> Change:
    fields = tuple(FILE_KEY_FOR_FIELD.get(name, name) for name in step.fields)
    return Change(kind=step.kind, key=step.key, action=step.action, fields=fields)


def _describe(value: object) -> str:
    """How a YAML value reads to the author, for 'must be X, not Y' messages."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def _field(model: type[models.Model], name: str) -> models.Field:
    return model._meta.get_field(name)  # type: ignore[return-value]


def _node_lines(root: yaml.Node) -> tuple[dict[DocPath, int], list[tuple[DocPath, int, int]]]:
    """The line (1-based) of every path in the document, and its duplicate keys
    as ``(path, line of the duplicate, line of the first one)``.

    A mapping key maps to the line of the key itself, so an error about a
    block value (``form:``) points at its key; a list item to its first line.
    """
    lines: dict[DocPath, int] = {(): root.start_mark.line + 1}
    duplicates: list[tuple[DocPath, int, int]] = []
    stack: list[tuple[yaml.Node, DocPath]] = [(root, ())]
    visited = 0
    while stack and visited < MAX_NODES:
        node, path = stack.pop()
        visited += 1
        if isinstance(node, yaml.MappingNode):
            first_line: dict[str, int] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key, line = key_node.value, key_node.start_mark.line + 1
                if key in first_line:
                    duplicates.append(((*path, key), line, first_line[key]))
                    continue
                first_line[key] = line
                lines.setdefault((*path, key), line)
                stack.append((value_node, (*path, key)))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines.setdefault((*path, index), item.start_mark.line + 1)
                stack.append((item, (*path, index)))
    return lines, duplicates


def _json_problems(value: object, path: DocPath) -> list[tuple[DocPath, str]]:
    """Values YAML can express but JSON cannot (dates, non-string keys, NaN):
    stored in a JSONField they would be refused or silently altered."""
    if value is None or isinstance(value, str | bool | int):
        return []
    if isinstance(value, float):
        return [] if math.isfinite(value) else [(path, f"{value} is not a JSON number")]
    if isinstance(value, list):
        return [
            problem for index, item in enumerate(value) for problem in _json_problems(item, (*path, index))
        ]
    if isinstance(value, dict):
        problems = []
        for key, item in value.items():
            if not isinstance(key, str):
                problems.append(((*path, str(key)), f"key {key!r} must be a string (quote it)"))
            else:
                problems.extend(_json_problems(item, (*path, key)))
        return problems
    return [(path, f"{_describe(value)} is not a JSON value (quote it to make it a string)")]


class _OutsideFolder(Exception):
    """A path in a catalogue file that would read outside its folder; the
    message says why, following the file's name."""


def _read_inside(folder: Path, relative: str) -> str:
    """The text of the regular file at ``relative`` under ``folder``.

    A catalogue file may come from anyone with a merge request, and the import
    runs with the service's rights: it must not read the service's own files.
    So the path may neither be absolute nor name ``..``, and no component of it
    may be a symbolic link, even one pointing inside (a link can be changed
    after review). Each component is opened relative to its parent with
    ``O_NOFOLLOW``, so a link swapped in after a check is refused too.
    """
    path = Path(relative)
    if path.is_absolute():
        raise _OutsideFolder("must be a path relative to the catalogue file, not absolute")
    if ".." in path.parts:
        raise _OutsideFolder("must stay inside the catalogue file's folder: '..' is not allowed")
    parts = [part for part in path.parts if part != "."]
    if not parts:
        raise _OutsideFolder("is not a file")
    directory = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            shown = folder.joinpath(*parts[: index + 1])
            try:
                details = os.lstat(part, dir_fd=directory)
            except FileNotFoundError:
                raise _OutsideFolder(f"does not exist (looked for {shown})") from None
            if stat.S_ISLNK(details.st_mode):
                raise _OutsideFolder(f"goes through a symbolic link ({shown}): links are not followed")
            if not last:
                if not stat.S_ISDIR(details.st_mode):
                    raise _OutsideFolder(f"does not exist (looked for {shown}, which is not a folder)")
                inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=directory)
                os.close(directory)
                directory = inner
                continue
            if not stat.S_ISREG(details.st_mode):
                raise _OutsideFolder(f"is not a file (looked for {shown})")
            # O_NONBLOCK: should a FIFO replace the file after lstat, opening
            # it must not wait for a writer; fstat then refuses it.
            handle = os.open(part, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=directory)
            with os.fdopen(handle, "rb") as file:
                opened = os.fstat(file.fileno())
                if not stat.S_ISREG(opened.st_mode):
                    raise _OutsideFolder(f"is not a file (looked for {shown})")
                if opened.st_size > MAX_PLAYBOOK_BYTES:
                    raise _OutsideFolder(f"is larger than {MAX_PLAYBOOK_BYTES // 1024} KiB")
                data = file.read(MAX_PLAYBOOK_BYTES + 1)
            if len(data) > MAX_PLAYBOOK_BYTES:
                raise _OutsideFolder(f"is larger than {MAX_PLAYBOOK_BYTES // 1024} KiB")
            return data.decode("utf-8")
    finally:
        os.close(directory)
    raise AssertionError("unreachable: the loop returns or raises at the last part")


class _ImportRun:
    """One import of one file: parse, resolve, plan, then write."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.label = str(path)
        self.lines: dict[DocPath, int] = {}
        self.errors: list[LocatedError] = []
        # Slug -> where the file first defines it, per section: finds duplicates,
        # and lets references to an entry that has other errors still resolve
        # (one mistake should not cascade into "unknown squad" elsewhere).
        self.declared: dict[str, dict[str, DocPath]] = {section: {} for section in TOP_LEVEL_KEYS}
        self.runbook_squads: dict[str, str] = {}
        self.runbook_refs: list[RunbookRefs] = []
        self.product_refs: list[ProductRefs] = []
        self.squads: list[SquadSpec] = []
        self.chapters: list[ChapterSpec] = []
        self.categories: list[CategorySpec] = []
        self.runbooks: list[RunbookSpec] = []
        self.products: list[ProductSpec] = []
        # Filled by resolve().
        self.category_slug_for_name: dict[str, str] = {}
        self.squad_rows: dict[str, Squad] = {}
        self.category_rows: dict[str, Category] = {}
        self.chapter_rows: dict[str, Chapter] = {}
        self.runbook_rows: dict[str, Runbook] = {}
        self.product_rows: dict[str, Product] = {}
        self.user_rows: dict[str, Any] = {}
        self.membership_rows: dict[tuple[str, str], Membership] = {}

    # --- Errors ---------------------------------------------------------------

    def error(self, where: DocPath, message: str) -> None:
        error = LocatedError(self.label, self.line_of(where), format_path(where), message)
        # A model field may run the same validator twice (Squad.slug adds
        # validate_slug to SlugField's own): say it once.
        if error not in self.errors:
            self.errors.append(error)

    def line_of(self, where: DocPath) -> int | None:
        """The line of ``where``, or of its nearest ancestor the file spells out
        (a missing key is reported at its entry)."""
        for length in range(len(where), -1, -1):
            line = self.lines.get(where[:length])
            if line is not None:
                return line
        return None

    def where_defined(self, where: DocPath) -> str:
        line = self.line_of(where)
        return f"line {line} ({format_path(where)})" if line else format_path(where)

    # --- Stage 1: parse -------------------------------------------------------

    def parse(self) -> None:
        document = self._load()
        if document is None:
            return
        if not isinstance(document, dict):
            self.error(
                (),
                f"the catalogue must be a mapping with the keys {', '.join(TOP_LEVEL_KEYS)}, "
                f"not {_describe(document)}",
            )
            return
        self._check_keys(document, (), TOP_LEVEL_KEYS)
        for where, entry in self._entries(document, (), "squads"):
            self._parse_squad(where, entry)
        for where, entry in self._entries(document, (), "chapters"):
            self._parse_chapter(where, entry)
        for where, entry in self._entries(document, (), "categories"):
            self._parse_category(where, entry)
        for where, entry in self._entries(document, (), "runbooks"):
            self._parse_runbook(where, entry)
        for where, entry in self._entries(document, (), "products"):
            self._parse_product(where, entry)

    def _load(self) -> object | None:
        """The document, or None after reporting why there is none."""
        try:
            text = self.path.read_bytes().decode("utf-8")
        except OSError as error:
            self.error((), f"cannot read the file: {error.strerror or error}")
            return None
        except UnicodeDecodeError as error:
            self.error((), f"the file is not UTF-8 text: {error.reason} at byte {error.start}")
            return None
        loader = None
        try:
            # The loader refuses non-printable characters as soon as it is made.
            loader = _CatalogueLoader(text)
            node = loader.get_single_node()
            if node is None:
                self.error((), "the file is empty; expected a mapping with squads, runbooks, products…")
                return None
            self.lines, duplicates = _node_lines(node)
            document = loader.construct_document(node)
        except yamlsafe.YAMLRefused as error:
            line = error.problem_mark.line + 1 if error.problem_mark else None
            self.errors.append(LocatedError(self.label, line, "", error.problem or "refused"))
            return None
        except yaml.MarkedYAMLError as error:
            self.errors.append(self._syntax_error(error))
            return None
        except yaml.YAMLError as error:
            self.errors.append(LocatedError(self.label, None, "", f"YAML syntax error: {error}"))
            return None
        finally:
            if loader is not None:
                loader.dispose()
        for path, line, first in duplicates:
            self.errors.append(
                LocatedError(
                    self.label,
                    line,
                    format_path(path),
                    f"duplicate key {path[-1]!r}: it is already set at line {first}, "
                    "and YAML would silently keep only the last one",
                )
            )
        return document

    def _syntax_error(self, error: yaml.MarkedYAMLError) -> LocatedError:
        mark = error.problem_mark or error.context_mark
        message = f"YAML syntax error, column {mark.column + 1}: " if mark else "YAML syntax error: "
        message += error.problem or error.context or "invalid YAML"
        if error.problem and error.context:
            # PyYAML's context says what it was reading when it failed ("while
            # scanning a quoted scalar"), often where the real mistake is.
            since = f" started at line {error.context_mark.line + 1}" if error.context_mark else ""
            message += f" ({error.context}{since})"
        return LocatedError(self.label, mark.line + 1 if mark else None, "", message)

    def _check_keys(self, entry: Mapping[Any, Any], where: DocPath, allowed: tuple[str, ...]) -> None:
        for key in entry:
            if key in allowed:
                continue
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"expected one of {', '.join(allowed)}"
            self.error((*where, str(key)), f"unknown key {str(key)!r}; {hint}")

    def _entries(
        self, container: Mapping[str, Any], where: DocPath, key: str
    ) -> Iterator[tuple[DocPath, dict]]:
        """The mappings listed under ``key`` (a missing or empty list is none)."""
        value = container.get(key)
        if value is None:
            return
        here = (*where, key)
        if not isinstance(value, list):
            self.error(here, f"must be a list, not {_describe(value)}")
            return
        for index, item in enumerate(value):
            if isinstance(item, dict):
                yield (*here, index), item
            else:
                self.error((*here, index), f"must be a mapping of keys, not {_describe(item)}")

    def _present(self, entry: Mapping[str, Any], where: DocPath, key: str, *, required: bool) -> bool:
        """Whether ``key`` has a value; a null counts as left out."""
        if entry.get(key) is not None:
            return True
        if required:
            self.error((*where, key), "required key is missing" if key not in entry else "must not be empty")
        return False

    def _valid(self, model_field: models.Field, value: object, where: DocPath) -> bool:
        """Run the model field's own validators (length, slug, ranges…)."""
        try:
            model_field.clean(value, None)
        except ValidationError as error:
            for message in error.messages:
                self.error(where, message)
            return False
        return True

    def _text(
        self,
        entry: Mapping[str, Any],
        where: DocPath,
        key: str,
        model_field: models.Field,
        *,
        required: bool = False,
    ) -> str | None:
        if not self._present(entry, where, key, required=required):
            return None if required else ""
        value = entry[key]
        if not isinstance(value, str):
            self.error((*where, key), f"must be a string, not {_describe(value)} (quote it)")
            return None
        return value if self._valid(model_field, value, (*where, key)) else None

    def _slug(
        self, entry: Mapping[str, Any], where: DocPath, section: str, model: type[models.Model]
    ) -> str | None:
        """The entry's slug, validated and declared; a duplicate names both places."""
        raw = entry.get("slug")
        if isinstance(raw, str):
            first = self.declared[section].get(raw)
            if first is not None:
                self.error(
                    (*where, "slug"),
                    f"duplicate slug {raw!r}: already defined at {self.where_defined(first)}",
                )
            else:
                self.declared[section][raw] = where
        return self._text(entry, where, "slug", _field(model, "slug"), required=True)

    def _username(self, value: object, where: DocPath) -> str | None:
        user_model = get_user_model()
        if not isinstance(value, str):
            self.error(where, f"must be a username (a string), not {_describe(value)}")
            return None
        if not value:
            self.error(where, "must not be empty")
            return None
        return value if self._valid(_field(user_model, user_model.USERNAME_FIELD), value, where) else None

    def _count(
        self,
        entry: Mapping[str, Any],
        where: DocPath,
        key: str,
        model_field: models.Field,
        *,
        default: int,
        positive: bool,
    ) -> int | None:
        if not self._present(entry, where, key, required=False):
            return default
        value = entry[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.error((*where, key), f"must be a whole number, not {_describe(value)}")
            return None
        if positive and value < 1:
            self.error((*where, key), f"must be a positive whole number, not {value}")
            return None
        if value < 0:
            self.error((*where, key), f"must not be negative, not {value}")
            return None
        return value if self._valid(model_field, value, (*where, key)) else None

    def _choice(
        self,
        entry: Mapping[str, Any],
        where: DocPath,
        key: str,
        choices: type[models.TextChoices],
        *,
        default: str | None = None,
    ) -> str | None:
        if not self._present(entry, where, key, required=default is None):
            return default
        value = entry[key]
        if not isinstance(value, str) or value not in choices.values:
            shown = repr(value) if isinstance(value, str) else _describe(value)
            self.error((*where, key), f"unknown {key} {shown}; use one of {', '.join(choices.values)}")
            return None
        return value

    def _string_list(self, entry: Mapping[str, Any], where: DocPath, key: str) -> list[str] | None:
        if not self._present(entry, where, key, required=False):
            return []
        value = entry[key]
        if not isinstance(value, list):
            self.error((*where, key), f"must be a list, not {_describe(value)}")
            return None
        items: list[str] = []
        valid = True
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item:
                self.error((*where, key, index), f"must be a non-empty string, not {_describe(item)}")
                valid = False
            elif item in items:
                self.error((*where, key, index), f"{item!r} is listed twice")
                valid = False
            else:
                items.append(item)
        return items if valid else None

    def _parse_squad(self, where: DocPath, entry: dict) -> None:
        before = len(self.errors)
        self._check_keys(entry, where, SQUAD_KEYS)
        slug = self._slug(entry, where, "squads", Squad)
        name = self._text(entry, where, "name", _field(Squad, "name"), required=True)
        mission = self._text(entry, where, "mission", _field(Squad, "mission"))
        members: list[MemberSpec] = []
        seen: dict[str, DocPath] = {}
        for member_where, member in self._entries(entry, where, "members"):
            self._check_keys(member, member_where, MEMBER_KEYS)
            username = (
                self._username(member["username"], (*member_where, "username"))
                if self._present(member, member_where, "username", required=True)
                else None
            )
            role = self._choice(member, member_where, "role", Role)
            if username in seen:
                self.error(
                    (*member_where, "username"),
                    f"{username!r} is already a member at {self.where_defined(seen[username])}",
                )
            elif username and role:
                seen[username] = member_where
                members.append(MemberSpec(member_where, username, role))
        if len(self.errors) == before and slug and name is not None:
            self.squads.append(SquadSpec(where, slug, {"name": name, "mission": mission}, members))

    def _parse_chapter(self, where: DocPath, entry: dict) -> None:
        before = len(self.errors)
        self._check_keys(entry, where, CHAPTER_KEYS)
        slug = self._slug(entry, where, "chapters", Chapter)
        name = self._text(entry, where, "name", _field(Chapter, "name"), required=True)
        description = self._text(entry, where, "description", _field(Chapter, "description"))
        lead = None
        if self._present(entry, where, "lead", required=False):
            lead = self._username(entry["lead"], (*where, "lead"))
        members = self._string_list(entry, where, "members") or []
        for index, username in enumerate(members):
            self._username(username, (*where, "members", index))
        if len(self.errors) == before and slug and name is not None:
            values = {"name": name, "description": description}
            self.chapters.append(ChapterSpec(where, slug, values, lead, members))

    def _parse_category(self, where: DocPath, entry: dict) -> None:
        before = len(self.errors)
        self._check_keys(entry, where, CATEGORY_KEYS)
        # The slug is optional here: left out, it is found or made from the name.
        slug = self._text(entry, where, "slug", _field(Category, "slug")) or None
        name = self._text(entry, where, "name", _field(Category, "name"), required=True)
        description = self._text(entry, where, "description", _field(Category, "description"))
        position = self._count(
            entry, where, "position", _field(Category, "position"), default=0, positive=False
        )
        if len(self.errors) == before and name is not None:
            values = {"name": name, "description": description, "position": position}
            self.categories.append(CategorySpec(where, slug, values))

    def _parse_runbook(self, where: DocPath, entry: dict) -> None:
        before = len(self.errors)
        self._check_keys(entry, where, RUNBOOK_KEYS)
        slug = self._slug(entry, where, "runbooks", Runbook)
        name = self._text(entry, where, "name", _field(Runbook, "name"), required=True)
        squad = self._text(entry, where, "squad", _field(Squad, "slug"), required=True)
        if slug and squad:
            self.runbook_squads.setdefault(slug, squad)
        self.runbook_refs.append(RunbookRefs(where, slug, squad))
        description = self._text(entry, where, "description", _field(Runbook, "description"))
        timeout = self._count(entry, where, "timeout", _field(Runbook, "timeout"), default=600, positive=True)
        queue = self._text(entry, where, "queue", _field(Runbook, "queue"))
        if queue and squad and (problem := queue_problem(queue, squad)):
            self.error((*where, "queue"), problem)
        network = self._choice(entry, where, "network", RunbookNetwork, default=RunbookNetwork.WORKER)
        check_mode = self._flag(entry, where, "check_mode", default=False)
        playbook = None
        if self._present(entry, where, "playbook", required=False):
            playbook = self._playbook(entry["playbook"], (*where, "playbook"))
        if len(self.errors) == before and slug and name is not None and squad:
            values = {
                "name": name,
                "description": description,
                "timeout": timeout,
                "queue": queue,
                "network": network,
                "supports_check_mode": check_mode,
            }
            self.runbooks.append(RunbookSpec(where, slug, squad, values, playbook))

    def _playbook(self, value: object, where: DocPath) -> str | None:
        """The content of the playbook file ``value`` names, relative to the
        catalogue file, once it passes the same checks as in the admin."""
        if not isinstance(value, str) or not value:
            self.error(where, f"must be the path of a playbook file, not {_describe(value)}")
            return None
        try:
            content = _read_inside(self.path.parent, value)
        except _OutsideFolder as error:
            self.error(where, f"playbook file {value!r} {error}")
            return None
        except OSError as error:
            self.error(where, f"cannot read playbook file {value!r}: {error.strerror or error}")
            return None
        except UnicodeDecodeError as error:
            self.error(where, f"cannot read playbook file {value!r}: not UTF-8 text ({error.reason})")
            return None
        try:
            validate_playbook(content)
        except ValidationError as error:
            for message in error.messages:
                self.error(where, f"playbook {value!r}: {message}")
            return None
        return content

    def _parse_product(self, where: DocPath, entry: dict) -> None:
        before = len(self.errors)
        self._check_keys(entry, where, PRODUCT_KEYS)
        slug = self._slug(entry, where, "products", Product)
        name = self._text(entry, where, "name", _field(Product, "name"), required=True)
        category = self._text(entry, where, "category", _field(Category, "name"), required=True)
        squad = self._text(entry, where, "squad", _field(Squad, "slug"), required=True)
        runbook_given = self._present(entry, where, "runbook", required=False)
        runbook = self._text(entry, where, "runbook", _field(Runbook, "slug")) or None
        values = {
            "name": name,
            "summary": self._text(entry, where, "summary", _field(Product, "summary")),
            "description": self._text(entry, where, "description", _field(Product, "description")),
            "status": self._choice(entry, where, "status", ProductStatus, default=ProductStatus.PUBLISHED),
            "fulfilment": self._choice(entry, where, "fulfilment", Fulfilment, default=Fulfilment.AUTOMATED),
            "sla_minutes": self._count(
                entry, where, "sla_minutes", _field(Product, "sla_minutes"), default=60, positive=True
            ),
            "unit_cost": self._unit_cost(entry, where),
            "form_schema": self._form(entry, where),
        }
        approval, approval_steps = self._approval(entry, where)
        values.update(approval or {"approval_policy": None})
        tags = self._tags(entry, where)
        depends_on = self._string_list(entry, where, "depends_on")
        needs_runbook = None
        if values["status"] and values["fulfilment"] and not (runbook_given and runbook is None):
            needs_runbook = (
                values["status"] == ProductStatus.PUBLISHED and values["fulfilment"] == Fulfilment.AUTOMATED
            )
        self.product_refs.append(
            ProductRefs(
                where, slug, squad, category, runbook, needs_runbook, depends_on or [], approval_steps
            )
        )
        if len(self.errors) == before and slug and name and category and squad and tags is not None:
            self.products.append(
                ProductSpec(
                    where, slug, squad, category, runbook, tags, depends_on or [], values, approval_steps
                )
            )

    def _flag(self, entry: Mapping[str, Any], where: DocPath, key: str, *, default: bool) -> bool | None:
        if not self._present(entry, where, key, required=False):
            return default
        value = entry[key]
        if not isinstance(value, bool):
            self.error((*where, key), f"must be true or false, not {_describe(value)}")
            return None
        return value

    def _approval(
        self, entry: Mapping[str, Any], where: DocPath
    ) -> tuple[dict[str, Any] | None, list[ApprovalStepSpec]]:
        """The approval policy fields and steps of a product: ``approval`` is
        a policy name, or a mapping with ``steps`` and the reminder and
        escalation thresholds. The fields are None after reporting what is
        wrong; the steps that are well formed are returned anyway, so that
        their references are checked in the same run."""
        here = (*where, "approval")
        value = entry.get("approval")
        defaults = {
            "approval_remind_after_hours": DEFAULT_REMIND_AFTER_HOURS,
            "approval_escalate_after_hours": DEFAULT_ESCALATE_AFTER_HOURS,
        }
        if value is None or isinstance(value, str):
            if value == ApprovalPolicy.STEPS:
                self.error(here, "the steps policy needs its steps: write approval: {steps: [...]}")
                return None, []
            policy = self._choice(entry, where, "approval", ApprovalPolicy, default=ApprovalPolicy.NONE)
            return ({"approval_policy": policy, **defaults} if policy else None), []
        if not isinstance(value, dict):
            self.error(here, f"must be a policy name or a mapping, not {_describe(value)}")
            return None, []
        before = len(self.errors)
        self._check_keys(value, here, APPROVAL_KEYS)
        has_steps = value.get("steps") is not None
        policy = self._choice(
            value, here, "policy", ApprovalPolicy, default=ApprovalPolicy.STEPS if has_steps else None
        )
        steps: list[ApprovalStepSpec] = []
        if policy == ApprovalPolicy.STEPS:
            items = value.get("steps")
            if not isinstance(items, list) or not items:
                self.error((*here, "steps"), "the steps policy needs a non-empty list of steps")
            else:
                for index, item in enumerate(items):
                    step = self._approval_step(item, (*here, "steps", index))
                    if step is not None:
                        steps.append(step)
        elif policy is not None and has_steps:
            self.error((*here, "steps"), f"steps belong to the steps policy, not to {policy!r}")
        remind = self._count(
            value,
            here,
            "remind_after_hours",
            _field(Product, "approval_remind_after_hours"),
            default=DEFAULT_REMIND_AFTER_HOURS,
            positive=False,
        )
        escalate = self._count(
            value,
            here,
            "escalate_after_hours",
            _field(Product, "approval_escalate_after_hours"),
            default=DEFAULT_ESCALATE_AFTER_HOURS,
            positive=False,
        )
        if remind and escalate and escalate <= remind:
            self.error(
                (*here, "escalate_after_hours"),
                f"must be later than remind_after_hours ({remind}), or the reminder never comes first",
            )
        if len(self.errors) != before:
            return None, steps
        fields = {
            "approval_policy": policy,
            "approval_remind_after_hours": remind,
            "approval_escalate_after_hours": escalate,
        }
        return fields, steps

    def _approval_step(self, item: object, where: DocPath) -> ApprovalStepSpec | None:
        if not isinstance(item, dict):
            self.error(where, f"must be a mapping of keys, not {_describe(item)}")
            return None
        before = len(self.errors)
        self._check_keys(item, where, APPROVAL_STEP_KEYS)
        name = self._text(item, where, "name", _field(ApprovalStep, "name"), required=True)
        squad = self._text(item, where, "squad", _field(Squad, "slug")) or None
        chapter = self._text(item, where, "chapter", _field(Chapter, "slug")) or None
        roles = self._string_list(item, where, "roles")
        if squad and chapter:
            self.error((*where, "chapter"), "a step names a squad or a chapter, not both")
        for index, role in enumerate(roles or []):
            if role not in Role.values:
                self.error(
                    (*where, "roles", index), f"unknown role {role!r}; use one of {', '.join(Role.values)}"
                )
        if chapter and roles:
            self.error(
                (*where, "roles"), "a chapter step has no roles: the chapter's lead and members approve"
            )
        required = self._count(
            item, where, "approvals", _field(ApprovalStep, "required_approvals"), default=1, positive=True
        )
        if len(self.errors) != before or not name or roles is None or required is None:
            return None
        return ApprovalStepSpec(where, name, squad, chapter, roles, required)

    def _tags(self, entry: dict, where: DocPath) -> list[str] | None:
        tags = self._string_list(entry, where, "tags")
        if tags is None:
            return None
        valid = True
        for index, tag in enumerate(tags):
            # Tags are stored comma-separated and read back stripped: anything
            # else would not survive the round trip.
            if "," in tag or tag != tag.strip():
                self.error(
                    (*where, "tags", index), f"tag {tag!r} must not contain commas or surrounding spaces"
                )
                valid = False
        return (
            tags
            if valid and self._valid(_field(Product, "tags"), ", ".join(tags), (*where, "tags"))
            else None
        )

    def _unit_cost(self, entry: dict, where: DocPath) -> Decimal | None:
        if not self._present(entry, where, "unit_cost", required=False):
            return None
        value = entry["unit_cost"]
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            self.error((*where, "unit_cost"), f"must be a number, not {_describe(value)}")
            return None
        try:
            # Through str(), so that 12.1 is Decimal("12.1") and not the float's binary expansion.
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            self.error((*where, "unit_cost"), f"must be a number, not {_describe(value)}")
            return None
        return amount if self._valid(_field(Product, "unit_cost"), amount, (*where, "unit_cost")) else None

    def _form(self, entry: dict, where: DocPath) -> dict | None:
        here = (*where, "form")
        if not self._present(entry, where, "form", required=False):
            return empty_form()
        form = entry["form"]
        json_problems = _json_problems(form, here)
        for path, message in json_problems:
            self.error(path, message)
        if json_problems:
            return None
        problems = form_schema_problems(form)
        for problem in problems:
            self.error(here + problem.path, problem.message)
        return None if problems else form

    # --- Stage 2: resolve references against the file and the database --------

    def resolve(self) -> None:
        self._load_rows()
        self._resolve_categories()
        declared_squads = self.declared["squads"].keys() | self.squad_rows.keys()
        for refs in [*self.runbook_refs, *self.product_refs]:
            if refs.squad is not None and refs.squad not in declared_squads:
                self.error(
                    (*refs.where, "squad"),
                    f"unknown squad {refs.squad!r} (not in this file nor in the database)",
                )
        for runbook in self.runbook_refs:
            self._check_runbook_move(runbook)
        declared_chapters = self.declared["chapters"].keys() | self.chapter_rows.keys()
        for product in self.product_refs:
            self._check_product_runbook(product)
            self._check_dependencies(product)
            for step in product.approval_steps:
                if step.squad and step.squad not in declared_squads:
                    self.error(
                        (*step.where, "squad"),
                        f"unknown squad {step.squad!r} (not in this file nor in the database)",
                    )
                if step.chapter and step.chapter not in declared_chapters:
                    self.error(
                        (*step.where, "chapter"),
                        f"unknown chapter {step.chapter!r} (not in this file nor in the database)",
                    )
                    continue
                self._check_approvers(step, product.squad)
        self._check_cycles()

    def _check_approvers(self, step: ApprovalStepSpec, product_squad: str | None) -> None:
        """As in the admin: a step needing more approvals than there are
        people to give them (after this import) would keep orders waiting
        forever."""
        people = self._approvers_after_import(step, product_squad)
        if people is not None and step.required > len(people):
            count = f"{len(people)} {'person' if len(people) == 1 else 'people'}"
            self.error(
                (*step.where, "approvals"),
                f"needs {step.required} approvals but only {count} can give them "
                "(counting this file's members): every order would wait forever",
            )

    def _approvers_after_import(self, step: ApprovalStepSpec, product_squad: str | None) -> set[str] | None:
        """Usernames who may decide ``step`` once the file is imported (members
        are added, never removed), or None when the squad is unknown."""
        if step.chapter:
            people: set[str] = set()
            row = self.chapter_rows.get(step.chapter)
            if row is not None:
                people |= set(
                    step_approvers(squad_id=None, chapter_id=row.pk).values_list("username", flat=True)
                )
            for spec in self.chapters:
                if spec.slug == step.chapter:
                    people |= set(spec.members) | ({spec.lead} if spec.lead else set())
            return people
        squad = step.squad or product_squad
        if squad is None:
            return None
        roles: dict[str, str] = {}
        if squad in self.squad_rows:
            roles.update(
                Membership.objects.filter(squad=self.squad_rows[squad]).values_list("user__username", "role")
            )
        for spec in self.squads:
            if spec.slug == squad:
                roles.update({member.username: member.role for member in spec.members})
        return {name for name, role in roles.items() if not step.roles or role in step.roles}

    def _load_rows(self) -> None:
        """Fetch, once, every row the file names or refers to."""
        user_model = get_user_model()
        usernames = {member.username for spec in self.squads for member in spec.members}
        usernames |= {spec.lead for spec in self.chapters if spec.lead}
        usernames |= {username for spec in self.chapters for username in spec.members}
        self.user_rows = {
            getattr(user, user_model.USERNAME_FIELD): user
            for user in user_model.objects.filter(**{f"{user_model.USERNAME_FIELD}__in": usernames})
        }
        squad_slugs = {spec.slug for spec in self.squads}
        squad_slugs |= {refs.squad for refs in [*self.runbook_refs, *self.product_refs] if refs.squad}
        squad_slugs |= {
            step.squad for refs in self.product_refs for step in refs.approval_steps if step.squad
        }
        self.squad_rows = Squad.objects.in_bulk(squad_slugs, field_name="slug")
        memberships = Membership.objects.filter(squad__slug__in=squad_slugs).select_related("squad", "user")
        self.membership_rows = {
            (membership.squad.slug, membership.user.get_username()): membership for membership in memberships
        }
        chapter_slugs = {spec.slug for spec in self.chapters}
        chapter_slugs |= {
            step.chapter for refs in self.product_refs for step in refs.approval_steps if step.chapter
        }
        chapters = Chapter.objects.filter(slug__in=chapter_slugs)
        self.chapter_rows = {
            chapter.slug: chapter for chapter in chapters.select_related("lead").prefetch_related("members")
        }
        self.category_rows = {category.slug: category for category in Category.objects.all()}
        runbook_slugs = {refs.slug for refs in self.runbook_refs if refs.slug}
        runbook_slugs |= {refs.runbook for refs in self.product_refs if refs.runbook}
        runbooks = Runbook.objects.filter(slug__in=runbook_slugs).select_related("squad", "current_version")
        self.runbook_rows = {runbook.slug: runbook for runbook in runbooks}
        product_slugs = {refs.slug for refs in self.product_refs if refs.slug}
        product_slugs |= {slug for refs in self.product_refs for slug in refs.depends_on}
        products = (
            Product.objects.filter(slug__in=product_slugs)
            .select_related("category", "squad", "runbook")
            .prefetch_related(
                Prefetch("depends_on", queryset=Product.objects.only("id", "slug")),
                Prefetch("approval_steps", queryset=approval_steps_in_order()),
            )
        )
        self.product_rows = {product.slug: product for product in products}

    def _resolve_categories(self) -> None:
        """Give every category a slug and map each category name a product uses
        to the slug of the category it will be in after the import."""
        by_name = {category.name: category for category in self.category_rows.values()}
        slugs: dict[str, DocPath] = {}
        names: dict[str, DocPath] = {}
        for spec in self.categories:
            name = spec.values["name"]
            if spec.slug is None:
                existing = by_name.get(name)
                spec.slug = existing.slug if existing else slugify(name)
                if not self._valid(_field(Category, "slug"), spec.slug, (*spec.where, "name")):
                    # Still mapped, so that its products do not report it unknown too.
                    self.category_slug_for_name[name] = spec.slug
                    continue
            if spec.slug in slugs:
                self.error(
                    (*spec.where, "slug"),
                    f"duplicate category slug {spec.slug!r}: already defined at "
                    f"{self.where_defined(slugs[spec.slug])}",
                )
            if name in names:
                self.error(
                    (*spec.where, "name"),
                    f"duplicate category name {name!r}: already defined at {self.where_defined(names[name])}",
                )
            slugs.setdefault(spec.slug, spec.where)
            names.setdefault(name, spec.where)
            holder = by_name.get(name)
            if holder is not None and holder.slug != spec.slug:
                self.error((*spec.where, "name"), f"category {holder.slug!r} already has the name {name!r}")
            self.category_slug_for_name[name] = spec.slug
        for refs in self.product_refs:
            if refs.category is not None:
                self._resolve_product_category(refs.category, (*refs.where, "category"), slugs)

    def _resolve_product_category(self, name: str, where: DocPath, listed: dict[str, DocPath]) -> None:
        """Map a category name that the ``categories`` list does not define:
        to the category of that name, or to a new one made from the name."""
        if name in self.category_slug_for_name:
            return
        existing = next((row for row in self.category_rows.values() if row.name == name), None)
        if existing is not None:
            if existing.slug in listed:
                self.error(
                    where, f"category {name!r} is renamed by this file (its slug is {existing.slug!r})"
                )
            else:
                self.category_slug_for_name[name] = existing.slug
                # Reported as unchanged, so a re-import counts what the first one created.
                self.categories.append(CategorySpec(where, existing.slug, {"name": name}, listed=False))
            return
        slug = slugify(name)
        if not self._valid(_field(Category, "slug"), slug, where):
            return
        taken = self.category_rows.get(slug)
        if taken is not None or slug in listed:
            other = taken.name if taken is not None else format_path(listed[slug])
            self.error(
                where,
                f"a new category {name!r} would get the slug {slug!r}, which {other!r} already "
                "has; list it under categories with a slug of its own",
            )
            return
        self.category_slug_for_name[name] = slug
        self.categories.append(
            CategorySpec(where, slug, {"name": name, "description": "", "position": 0}, listed=False)
        )

    def _check_runbook_move(self, refs: RunbookRefs) -> None:
        """A runbook handed to another squad must not leave products of its old
        squad (that this file does not move too) running another squad's runbook."""
        row = self.runbook_rows.get(refs.slug or "")
        if row is None or refs.squad is None or row.squad.slug == refs.squad:
            return
        in_file = {product.slug for product in self.product_refs if product.slug}
        stranded = sorted(
            Product.objects.filter(runbook=row)
            .exclude(squad__slug=refs.squad)
            .exclude(slug__in=in_file)
            .values_list("slug", flat=True)
        )
        if stranded:
            self.error(
                (*refs.where, "squad"),
                f"runbook {refs.slug!r} cannot move to squad {refs.squad!r}: "
                f"products of squad {row.squad.slug!r} use it: {', '.join(stranded)}",
            )

    def _check_product_runbook(self, refs: ProductRefs) -> None:
        where = (*refs.where, "runbook")
        if refs.runbook is None:
            if refs.needs_runbook:
                self.error(
                    where,
                    "a published automated product needs a runbook (or fulfilment: manual, or status: draft)",
                )
            return
        if refs.runbook in self.runbook_squads:
            owner = self.runbook_squads[refs.runbook]
        elif refs.runbook in self.runbook_rows:
            owner = self.runbook_rows[refs.runbook].squad.slug
        else:
            self.error(where, f"unknown runbook {refs.runbook!r} (not in this file nor in the database)")
            return
        if refs.squad is not None and owner != refs.squad:
            self.error(
                where,
                f"runbook {refs.runbook!r} belongs to squad {owner!r}; "
                f"a product runs its own squad's runbooks ({refs.squad!r})",
            )

    def _check_dependencies(self, refs: ProductRefs) -> None:
        known = self.declared["products"].keys() | self.product_rows.keys()
        for index, slug in enumerate(refs.depends_on):
            if slug == refs.slug:
                self.error((*refs.where, "depends_on", index), "a product cannot depend on itself")
            elif slug not in known:
                self.error(
                    (*refs.where, "depends_on", index),
                    f"unknown product {slug!r} (not in this file nor in the database)",
                )

    def _check_cycles(self) -> None:
        """Refuse dependencies that close a cycle, counting both the file's
        products (their lists replace what the database has) and the others'."""
        in_file = {refs.slug: refs for refs in self.product_refs if refs.slug}
        stored = dependency_edges()
        edges = dict(stored)
        for slug, refs in in_file.items():
            edges[slug] = {target for target in refs.depends_on if target != slug}
        # Only what the file's products can reach: a cycle elsewhere is not this file's doing.
        reachable: set[str] = set()
        pending = list(in_file)
        while pending:
            slug = pending.pop()
            if slug not in reachable:
                reachable.add(slug)
                pending.extend(edges.get(slug, ()))
        cycle = find_dependency_cycle({slug: edges.get(slug, set()) for slug in reachable})
        if cycle is None:
            return
        # Blame the product whose dependency this file adds (else any of the
        # file's products in the cycle), and start the cycle's story there.
        loop = cycle[:-1]
        in_loop = [index for index, slug in enumerate(loop) if slug in in_file]
        added = [
            index for index in in_loop if loop[(index + 1) % len(loop)] not in stored.get(loop[index], set())
        ]
        start = (added or in_loop or [0])[0]
        loop = loop[start:] + loop[:start]
        where = (*in_file[loop[0]].where, "depends_on") if loop[0] in in_file else ("products",)
        self.error(where, "these dependencies make a cycle: " + " → ".join([*loop, loop[0]]))

    # --- Stage 3: plan --------------------------------------------------------

    def plan(self) -> list[_Step]:
        steps: list[_Step] = []
        usernames = sorted(
            {member.username for spec in self.squads for member in spec.members}
            | {spec.lead for spec in self.chapters if spec.lead}
            | {username for spec in self.chapters for username in spec.members}
        )
        for username in usernames:
            existing = self.user_rows.get(username)
            steps.append(_Step("users", username, UNCHANGED if existing else CREATED, [], username, existing))
        for spec in self.squads:
            row = self.squad_rows.get(spec.slug)
            steps.append(self._step("squads", spec.slug, row, spec, _changed(row, spec.values)))
        for spec in self.squads:
            for member in spec.members:
                key = f"{spec.slug}/{member.username}"
                membership = self.membership_rows.get((spec.slug, member.username))
                fields = ["role"] if membership and membership.role != member.role else []
                steps.append(self._step("members", key, membership, (spec, member), fields))
        for spec in self.chapters:
            chapter = self.chapter_rows.get(spec.slug)
            fields = _changed(chapter, spec.values)
            if chapter is not None:
                if (chapter.lead.get_username() if chapter.lead else None) != spec.lead:
                    fields.append("lead")
                if set(spec.members) - {user.get_username() for user in chapter.members.all()}:
                    fields.append("members")
            steps.append(self._step("chapters", spec.slug, chapter, spec, fields))
        for spec in self.categories:
            category = self.category_rows.get(spec.slug or "")
            # A category only named by a product is never updated from the file.
            fields = _changed(category, spec.values) if spec.listed else []
            steps.append(self._step("categories", spec.slug or "", category, spec, fields))
        for spec in self.runbooks:
            runbook = self.runbook_rows.get(spec.slug)
            fields = _changed(runbook, spec.values)
            if runbook is not None:
                if runbook.squad.slug != spec.squad:
                    fields.append("squad")
                current = runbook.current_version.checksum if runbook.current_version else None
                if spec.playbook is not None and current != playbook_checksum(spec.playbook):
                    fields.append("playbook")
            steps.append(self._step("runbooks", spec.slug, runbook, spec, fields))
        for spec in self.products:
            product = self.product_rows.get(spec.slug)
            steps.append(
                self._step("products", spec.slug, product, spec, self._product_changes(spec, product))
            )
        return steps

    @staticmethod
    def _step(kind: str, key: str, row: Any, spec: Any, fields: list[str]) -> _Step:
        if row is None:
            return _Step(kind, key, CREATED, [], spec, None)
        return _Step(kind, key, UPDATED if fields else UNCHANGED, fields, spec, row)

    def _product_changes(self, spec: ProductSpec, product: Product | None) -> list[str]:
        if product is None:
            return []
        fields = _changed(product, spec.values)
        if product.tag_list != spec.tags:
            fields.append("tags")
        if product.category.slug != self.category_slug_for_name[spec.category]:
            fields.append("category")
        if product.squad.slug != spec.squad:
            fields.append("squad")
        if (product.runbook.slug if product.runbook else None) != spec.runbook:
            fields.append("runbook")
        if {dependency.slug for dependency in product.depends_on.all()} != set(spec.depends_on):
            fields.append("depends_on")
        if [_step_key(step) for step in product.approval_steps.all()] != [
            step.key() for step in spec.approval_steps
        ]:
            fields.append("approval_steps")
        return fields

    # --- Stage 4: write -------------------------------------------------------

    def write(self, steps: list[_Step]) -> None:
        """Apply the plan in one transaction. The models' ``full_clean`` runs
        once more on every row written, as a last guard: anything it refuses
        rolls the whole import back and is reported like a file error."""
        by_kind: dict[str, list[_Step]] = {kind: [] for kind in KINDS}
        for step in steps:
            by_kind[step.kind].append(step)
        try:
            with transaction.atomic():
                self._write_users(by_kind["users"])
                self._write_squads(by_kind["squads"])
                self._write_members(by_kind["members"])
                self._write_chapters(by_kind["chapters"])
                self._write_categories(by_kind["categories"])
                self._write_runbooks(by_kind["runbooks"])
                self._write_products(by_kind["products"])
        except DatabaseError as error:
            raise CatalogueFileError(
                [
                    LocatedError(
                        self.label, None, "", f"the database refused the import, nothing was written: {error}"
                    )
                ]
            ) from error

    def _write_approval_steps(self, product: Product, spec: ProductSpec) -> None:
        """Replace the product's approval steps by the file's (orders already
        waiting keep the copy they took when submitted)."""
        product.approval_steps.all().delete()
        for position, step in enumerate(spec.approval_steps):
            row = ApprovalStep(
                product=product,
                position=position,
                name=step.name,
                squad=self.squad_rows[step.squad] if step.squad else None,
                chapter=self.chapter_rows[step.chapter] if step.chapter else None,
                roles=step.roles,
                required_approvals=step.required,
            )
            self._save(row, step.where)

    def _save(self, row: models.Model, where: DocPath, update_fields: list[str] | None = None) -> None:
        try:
            row.full_clean()
        except ValidationError as error:
            errors = [
                LocatedError(self.label, self.line_of(path), format_path(path), message)
                for name, messages in error.message_dict.items()
                for path in [where if name == "__all__" else (*where, FILE_KEY_FOR_FIELD.get(name, name))]
                for message in messages
            ]
            raise CatalogueFileError(errors) from None
        row.save(update_fields=update_fields)

    def _write_users(self, steps: list[_Step]) -> None:
        user_model = get_user_model()
        for step in steps:
            if step.action == CREATED:
                user = user_model(**{user_model.USERNAME_FIELD: step.key})
                # Whoever is named in a catalogue signs in some other way (SSO)
                # or gets a password from an admin; the file never carries one.
                user.set_unusable_password()
                self._save(user, ())
                self.user_rows[step.key] = user

    def _write_squads(self, steps: list[_Step]) -> None:
        for step in steps:
            spec: SquadSpec = step.spec
            if step.action == CREATED:
                squad = Squad(slug=spec.slug, **spec.values)
                self._save(squad, spec.where)
                self.squad_rows[spec.slug] = squad
            elif step.action == UPDATED:
                _assign(step.row, spec.values, step.fields)
                self._save(step.row, spec.where, [*step.fields, "updated_at"])

    def _write_members(self, steps: list[_Step]) -> None:
        for step in steps:
            squad_spec, member = step.spec
            if step.action == CREATED:
                membership = Membership(
                    squad=self.squad_rows[squad_spec.slug],
                    user=self.user_rows[member.username],
                    role=member.role,
                )
                self._save(membership, member.where)
            elif step.action == UPDATED:
                step.row.role = member.role
                self._save(step.row, member.where, ["role"])

    def _write_chapters(self, steps: list[_Step]) -> None:
        for step in steps:
            spec: ChapterSpec = step.spec
            lead = self.user_rows[spec.lead] if spec.lead else None
            if step.action == CREATED:
                chapter = Chapter(slug=spec.slug, lead=lead, **spec.values)
                self._save(chapter, spec.where)
                self.chapter_rows[spec.slug] = chapter
            elif step.action == UPDATED:
                chapter = step.row
                _assign(chapter, spec.values, step.fields)
                chapter.lead = lead
                self._save(chapter, spec.where, [name for name in step.fields if name != "members"])
            else:
                continue
            chapter.members.add(*(self.user_rows[username] for username in spec.members))

    def _write_categories(self, steps: list[_Step]) -> None:
        for step in steps:
            spec: CategorySpec = step.spec
            if step.action == CREATED:
                category = Category(slug=spec.slug, **spec.values)
                self._save(category, spec.where)
                self.category_rows[category.slug] = category
            elif step.action == UPDATED:
                _assign(step.row, spec.values, step.fields)
                self._save(step.row, spec.where, step.fields)

    def _write_runbooks(self, steps: list[_Step]) -> None:
        for step in steps:
            spec: RunbookSpec = step.spec
            if step.action == CREATED:
                runbook = Runbook(slug=spec.slug, squad=self.squad_rows[spec.squad], **spec.values)
                self._save(runbook, spec.where)
                self.runbook_rows[spec.slug] = runbook
            elif step.action == UPDATED:
                runbook = step.row
                _assign(runbook, spec.values, step.fields)
                runbook.squad = self.squad_rows[spec.squad]
                row_fields = [name for name in step.fields if name != "playbook"]
                if row_fields:
                    self._save(runbook, spec.where, [*row_fields, "updated_at"])
            else:
                continue
            if spec.playbook is not None:
                # Identical content makes no new version (the service compares checksums).
                runbook_set_playbook(runbook=runbook, content=spec.playbook)

    def _write_products(self, steps: list[_Step]) -> None:
        for step in steps:
            if step.action == UNCHANGED:
                continue
            spec: ProductSpec = step.spec
            values = spec.values | {
                "tags": ", ".join(spec.tags),
                "category": self.category_rows[self.category_slug_for_name[spec.category]],
                "squad": self.squad_rows[spec.squad],
                "runbook": self.runbook_rows[spec.runbook] if spec.runbook else None,
            }
            if step.action == CREATED:
                product = Product(slug=spec.slug, **values)
                self._save(product, spec.where)
                self.product_rows[spec.slug] = product
            else:
                row_fields = [name for name in step.fields if name not in ("depends_on", "approval_steps")]
                _assign(step.row, values, row_fields)
                # Saved even when only its dependencies changed, so that
                # updated_at says when the definition last changed.
                self._save(step.row, spec.where, [*row_fields, "updated_at"])
        # Dependencies last: they may point at products created just above.
        for step in steps:
            spec = step.spec
            product = self.product_rows[spec.slug]
            if "depends_on" in step.fields or (step.action == CREATED and spec.depends_on):
                product.depends_on.set([self.product_rows[slug] for slug in spec.depends_on])
            if "approval_steps" in step.fields or (step.action == CREATED and spec.approval_steps):
                self._write_approval_steps(product, spec)
            if step.action == UPDATED:
                product_changed(product=product)


def _step_key(step: ApprovalStep) -> tuple[str, str | None, str | None, tuple[str, ...], int]:
    return (
        step.name,
        step.squad.slug if step.squad else None,
        step.chapter.slug if step.chapter else None,
        tuple(step.roles or []),
        step.required_approvals,
    )


def _changed(row: models.Model | None, values: Mapping[str, Any]) -> list[str]:
    """Names of the fields whose value in ``row`` differs from ``values``."""
    if row is None:
        return []
    return [name for name, value in values.items() if getattr(row, name) != value]


def _assign(row: models.Model, values: Mapping[str, Any], fields: list[str]) -> None:
    for name in fields:
        if name in values:
            setattr(row, name, values[name])
