"""What a catalogue file asks for once parsed, and what an import finds in the
database: the records the four stages hand to one another, and the file
format's keys (in the order the exporter writes them)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from catalogue.models import Category, Product
from runbooks.models import Runbook
from squads.models import Chapter, Membership, Squad

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
    "over_quota",
    "sla_minutes",
    "unit_cost",
    "instance",
    "max_lifetime_days",
    "depends_on",
    "form",
    "operations",
)
# A product's day-2 operations (``instance: true`` products only).
OPERATION_KEYS = ("slug", "name", "kind", "description", "runbook", "approval", "sla_minutes", "form")

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


def canonical(value: Any) -> str:
    """``value`` as JSON with sorted keys: equal for equal values, whatever
    their key order or whether a choice is a member or its string."""
    return json.dumps(value, sort_keys=True, default=str)


@dataclass
class OperationSpec:
    """One day-2 operation of a product as the file gives it."""

    where: DocPath
    slug: str
    runbook: str
    values: dict[str, Any]
    approval_steps: list[ApprovalStepSpec] = field(default_factory=list)

    def key(self) -> tuple[Any, ...]:
        """What an operation is, to compare with a stored one."""
        values = tuple(sorted((name, canonical(value)) for name, value in self.values.items()))
        return (self.slug, self.runbook, values, tuple(step.key() for step in self.approval_steps))


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
    operations: list[OperationSpec] = field(default_factory=list)


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
    # The product's and its operations' steps: their references are checked alike.
    approval_steps: list[ApprovalStepSpec] = field(default_factory=list)
    # (where, slug) of each operation's runbook.
    operation_runbooks: list[tuple[DocPath, str]] = field(default_factory=list)


@dataclass
class PlanStep:
    """One row to create, update or leave alone; ``fields`` are the changed
    model fields (or ``playbook``, ``members``, ``depends_on``)."""

    kind: str
    key: str
    action: str
    fields: list[str]
    spec: Any
    row: Any


@dataclass
class ParsedFile:
    """Everything the parse stage read from the file."""

    # Slug -> where the file first defines it, per section: finds duplicates,
    # and lets references to an entry that has other errors still resolve
    # (one mistake should not cascade into "unknown squad" elsewhere).
    declared: dict[str, dict[str, DocPath]] = field(
        default_factory=lambda: {section: {} for section in TOP_LEVEL_KEYS}
    )
    runbook_squads: dict[str, str] = field(default_factory=dict)
    runbook_refs: list[RunbookRefs] = field(default_factory=list)
    product_refs: list[ProductRefs] = field(default_factory=list)
    squads: list[SquadSpec] = field(default_factory=list)
    chapters: list[ChapterSpec] = field(default_factory=list)
    categories: list[CategorySpec] = field(default_factory=list)
    runbooks: list[RunbookSpec] = field(default_factory=list)
    products: list[ProductSpec] = field(default_factory=list)
    # What the sections of apps above the catalogue asked for, by key
    # (``catalogue.importing.sections``), and the people they name.
    sections: dict[str, Any] = field(default_factory=dict)
    extra_usernames: set[str] = field(default_factory=set)

    def refs(self) -> list[RunbookRefs | ProductRefs]:
        """What every runbook and product entry refers to."""
        return [*self.runbook_refs, *self.product_refs]

    def usernames(self) -> set[str]:
        """Every person the file names: squad members, chapter leads and members."""
        usernames = {member.username for spec in self.squads for member in spec.members}
        usernames |= {spec.lead for spec in self.chapters if spec.lead}
        usernames |= {username for spec in self.chapters for username in spec.members}
        return usernames | self.extra_usernames


@dataclass
class ExistingRows:
    """The rows the file names or refers to, fetched once by the resolve
    stage; the write stage adds the rows it creates."""

    category_slug_for_name: dict[str, str] = field(default_factory=dict)
    squad_rows: dict[str, Squad] = field(default_factory=dict)
    category_rows: dict[str, Category] = field(default_factory=dict)
    chapter_rows: dict[str, Chapter] = field(default_factory=dict)
    runbook_rows: dict[str, Runbook] = field(default_factory=dict)
    product_rows: dict[str, Product] = field(default_factory=dict)
    user_rows: dict[str, Any] = field(default_factory=dict)
    membership_rows: dict[tuple[str, str], Membership] = field(default_factory=dict)
