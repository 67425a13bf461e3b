"""Stage 1, parse: the YAML is composed into a node tree (to know the line of
every key) and constructed into plain data; each entry is checked for its
shape and its values against the models' own field validators; playbooks are
read and checked, form schemas are checked. Every problem is logged, none
stops the stage, so an author fixes a file in one pass."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from catalogue.choices import ApprovalPolicy, Fulfilment, OperationKind, OverQuota, ProductStatus
from catalogue.importing.document import OutsideFolder, json_problems, load_document, read_inside
from catalogue.importing.errors import ErrorLog, describe
from catalogue.importing.sections import sections, top_level_keys
from catalogue.importing.specs import (
    APPROVAL_KEYS,
    APPROVAL_STEP_KEYS,
    CATEGORY_KEYS,
    CHAPTER_KEYS,
    DEFAULT_ESCALATE_AFTER_HOURS,
    DEFAULT_REMIND_AFTER_HOURS,
    MEMBER_KEYS,
    OPERATION_KEYS,
    PRODUCT_KEYS,
    RUNBOOK_KEYS,
    SQUAD_KEYS,
    ApprovalStepSpec,
    CategorySpec,
    ChapterSpec,
    DocPath,
    MemberSpec,
    OperationSpec,
    ParsedFile,
    ProductRefs,
    ProductSpec,
    RunbookRefs,
    RunbookSpec,
    SquadSpec,
)
from catalogue.importing.values import EntryReader, model_field
from catalogue.models import ApprovalStep, Category, Operation, Product, empty_form
from catalogue.schema import form_schema_problems
from runbooks.choices import RunbookNetwork
from runbooks.models import Runbook, queue_problem
from runbooks.playbooks import validate_playbook
from squads.choices import Role
from squads.models import Chapter, Squad


def parse_file(path: Path, log: ErrorLog) -> ParsedFile:
    """What the catalogue file at ``path`` asks for; its problems go to ``log``."""
    parser = CatalogueParser(path, log)
    parser.parse()
    return parser.parsed


class CatalogueParser(EntryReader):
    """Reads one catalogue file, section by section."""

    def __init__(self, path: Path, log: ErrorLog) -> None:
        super().__init__(log)
        self.path = path
        self.parsed = ParsedFile()

    def parse(self) -> None:
        document = load_document(self.path, self.log)
        if document is None:
            return
        if not isinstance(document, dict):
            self.log.error(
                (),
                f"the catalogue must be a mapping with the keys {', '.join(top_level_keys())}, "
                f"not {describe(document)}",
            )
            return
        self.check_keys(document, (), top_level_keys())
        for where, entry in self.entries(document, (), "squads"):
            self._parse_squad(where, entry)
        for where, entry in self.entries(document, (), "chapters"):
            self._parse_chapter(where, entry)
        for where, entry in self.entries(document, (), "categories"):
            self._parse_category(where, entry)
        for where, entry in self.entries(document, (), "runbooks"):
            self._parse_runbook(where, entry)
        for where, entry in self.entries(document, (), "products"):
            self._parse_product(where, entry)
        for section in sections():
            if document.get(section.key) is not None:
                section.parse(document[section.key], (section.key,), self, self.parsed)

    def _slug(
        self, entry: Mapping[str, Any], where: DocPath, section: str, model: type[models.Model]
    ) -> str | None:
        """The entry's slug, validated and declared; a duplicate names both places."""
        self.first_definition(self.parsed.declared[section], entry, where)
        return self.text(entry, where, "slug", model_field(model, "slug"), required=True)

    def _parse_squad(self, where: DocPath, entry: dict) -> None:
        before = len(self.log.errors)
        self.check_keys(entry, where, SQUAD_KEYS)
        slug = self._slug(entry, where, "squads", Squad)
        name = self.text(entry, where, "name", model_field(Squad, "name"), required=True)
        mission = self.text(entry, where, "mission", model_field(Squad, "mission"))
        members: list[MemberSpec] = []
        seen: dict[str, DocPath] = {}
        for member_where, member in self.entries(entry, where, "members"):
            self.check_keys(member, member_where, MEMBER_KEYS)
            username = (
                self.username(member["username"], (*member_where, "username"))
                if self.present(member, member_where, "username", required=True)
                else None
            )
            role = self.choice(member, member_where, "role", Role)
            if username in seen:
                self.log.error(
                    (*member_where, "username"),
                    f"{username!r} is already a member at {self.log.where_defined(seen[username])}",
                )
            elif username and role:
                seen[username] = member_where
                members.append(MemberSpec(member_where, username, role))
        if len(self.log.errors) == before and slug and name is not None:
            self.parsed.squads.append(SquadSpec(where, slug, {"name": name, "mission": mission}, members))

    def _parse_chapter(self, where: DocPath, entry: dict) -> None:
        before = len(self.log.errors)
        self.check_keys(entry, where, CHAPTER_KEYS)
        slug = self._slug(entry, where, "chapters", Chapter)
        name = self.text(entry, where, "name", model_field(Chapter, "name"), required=True)
        description = self.text(entry, where, "description", model_field(Chapter, "description"))
        lead = None
        if self.present(entry, where, "lead", required=False):
            lead = self.username(entry["lead"], (*where, "lead"))
        members = self.string_list(entry, where, "members") or []
        for index, username in enumerate(members):
            self.username(username, (*where, "members", index))
        if len(self.log.errors) == before and slug and name is not None:
            values = {"name": name, "description": description}
            self.parsed.chapters.append(ChapterSpec(where, slug, values, lead, members))

    def _parse_category(self, where: DocPath, entry: dict) -> None:
        before = len(self.log.errors)
        self.check_keys(entry, where, CATEGORY_KEYS)
        # The slug is optional here: left out, it is found or made from the name.
        slug = self.text(entry, where, "slug", model_field(Category, "slug")) or None
        name = self.text(entry, where, "name", model_field(Category, "name"), required=True)
        description = self.text(entry, where, "description", model_field(Category, "description"))
        position = self.count(
            entry, where, "position", model_field(Category, "position"), default=0, positive=False
        )
        if len(self.log.errors) == before and name is not None:
            values = {"name": name, "description": description, "position": position}
            self.parsed.categories.append(CategorySpec(where, slug, values))

    def _parse_runbook(self, where: DocPath, entry: dict) -> None:
        before = len(self.log.errors)
        self.check_keys(entry, where, RUNBOOK_KEYS)
        slug = self._slug(entry, where, "runbooks", Runbook)
        name = self.text(entry, where, "name", model_field(Runbook, "name"), required=True)
        squad = self.text(entry, where, "squad", model_field(Squad, "slug"), required=True)
        if slug and squad:
            self.parsed.runbook_squads.setdefault(slug, squad)
        self.parsed.runbook_refs.append(RunbookRefs(where, slug, squad))
        description = self.text(entry, where, "description", model_field(Runbook, "description"))
        timeout = self.count(
            entry, where, "timeout", model_field(Runbook, "timeout"), default=600, positive=True
        )
        queue = self.text(entry, where, "queue", model_field(Runbook, "queue"))
        if queue and squad and (problem := queue_problem(queue, squad)):
            self.log.error((*where, "queue"), problem)
        network = self.choice(entry, where, "network", RunbookNetwork, default=RunbookNetwork.WORKER)
        check_mode = self.flag(entry, where, "check_mode", default=False)
        playbook = None
        if self.present(entry, where, "playbook", required=False):
            playbook = self._playbook(entry["playbook"], (*where, "playbook"))
        if len(self.log.errors) == before and slug and name is not None and squad:
            values = {
                "name": name,
                "description": description,
                "timeout": timeout,
                "queue": queue,
                "network": network,
                "supports_check_mode": check_mode,
            }
            self.parsed.runbooks.append(RunbookSpec(where, slug, squad, values, playbook))

    def _playbook(self, value: object, where: DocPath) -> str | None:
        """The content of the playbook file ``value`` names, relative to the
        catalogue file, once it passes the same checks as in the admin."""
        if not isinstance(value, str) or not value:
            self.log.error(where, f"must be the path of a playbook file, not {describe(value)}")
            return None
        try:
            content = read_inside(self.path.parent, value)
        except OutsideFolder as error:
            self.log.error(where, f"playbook file {value!r} {error}")
            return None
        except OSError as error:
            self.log.error(where, f"cannot read playbook file {value!r}: {error.strerror or error}")
            return None
        except UnicodeDecodeError as error:
            self.log.error(where, f"cannot read playbook file {value!r}: not UTF-8 text ({error.reason})")
            return None
        try:
            validate_playbook(content)
        except ValidationError as error:
            for message in error.messages:
                self.log.error(where, f"playbook {value!r}: {message}")
            return None
        return content

    def _parse_product(self, where: DocPath, entry: dict) -> None:
        before = len(self.log.errors)
        self.check_keys(entry, where, PRODUCT_KEYS)
        slug = self._slug(entry, where, "products", Product)
        name = self.text(entry, where, "name", model_field(Product, "name"), required=True)
        category = self.text(entry, where, "category", model_field(Category, "name"), required=True)
        squad = self.text(entry, where, "squad", model_field(Squad, "slug"), required=True)
        runbook_given = self.present(entry, where, "runbook", required=False)
        runbook = self.text(entry, where, "runbook", model_field(Runbook, "slug")) or None
        values = {
            "name": name,
            "summary": self.text(entry, where, "summary", model_field(Product, "summary")),
            "description": self.text(entry, where, "description", model_field(Product, "description")),
            "status": self.choice(entry, where, "status", ProductStatus, default=ProductStatus.PUBLISHED),
            "fulfilment": self.choice(entry, where, "fulfilment", Fulfilment, default=Fulfilment.AUTOMATED),
            "over_quota": self.choice(entry, where, "over_quota", OverQuota, default=OverQuota.REFUSE),
            "sla_minutes": self.count(
                entry, where, "sla_minutes", model_field(Product, "sla_minutes"), default=60, positive=True
            ),
            "unit_cost": self._unit_cost(entry, where),
            "instance": self.flag(entry, where, "instance", default=False),
            "max_lifetime_days": self._lifetime(entry, where),
            "form_schema": self._form(entry, where),
        }
        operations = self._operations(entry, where, values)
        approval, approval_steps = self._approval(entry, where)
        values.update(approval or {"approval_policy": None})
        tags = self._tags(entry, where)
        depends_on = self.string_list(entry, where, "depends_on")
        needs_runbook = None
        if values["status"] and values["fulfilment"] and not (runbook_given and runbook is None):
            needs_runbook = (
                values["status"] == ProductStatus.PUBLISHED and values["fulfilment"] == Fulfilment.AUTOMATED
            )
        self.parsed.product_refs.append(
            ProductRefs(
                where,
                slug,
                squad,
                category,
                runbook,
                needs_runbook,
                depends_on or [],
                [*approval_steps, *(step for operation in operations for step in operation.approval_steps)],
                [((*operation.where, "runbook"), operation.runbook) for operation in operations],
            )
        )
        if len(self.log.errors) == before and slug and name and category and squad and tags is not None:
            self.parsed.products.append(
                ProductSpec(
                    where,
                    slug,
                    squad,
                    category,
                    runbook,
                    tags,
                    depends_on or [],
                    values,
                    approval_steps,
                    operations,
                )
            )

    def _lifetime(self, entry: dict, where: DocPath) -> int | None:
        if not self.present(entry, where, "max_lifetime_days", required=False):
            return None
        days = self.count(
            entry,
            where,
            "max_lifetime_days",
            model_field(Product, "max_lifetime_days"),
            default=0,
            positive=True,
        )
        if days and entry.get("instance") is not True:
            self.log.error((*where, "max_lifetime_days"), "only a product with instance: true has a lifetime")
        return days

    def _operations(self, entry: dict, where: DocPath, product: dict[str, Any]) -> list[OperationSpec]:
        """The product's day-2 operations; well-formed ones are returned even
        when others are wrong, so that their references are checked too."""
        here = (*where, "operations")
        if not self.present(entry, where, "operations", required=False):
            return []
        items = entry["operations"]
        if not isinstance(items, list):
            self.log.error(here, f"must be a list of operations, not {describe(items)}")
            return []
        if items and product.get("instance") is not True:
            self.log.error(
                here, "only a product with instance: true has operations (they act on its instances)"
            )
        operations: list[OperationSpec] = []
        seen: dict[str, DocPath] = {}
        for index, item in enumerate(items):
            operation = self._operation(item, (*here, index), product)
            if operation is None:
                continue
            if operation.slug in seen:
                self.log.error(
                    (*operation.where, "slug"),
                    f"duplicate operation {operation.slug!r}: already defined at "
                    f"{self.log.where_defined(seen[operation.slug])}",
                )
                continue
            seen[operation.slug] = operation.where
            operations.append(operation)
        return operations

    def _operation(self, item: object, where: DocPath, product: dict[str, Any]) -> OperationSpec | None:
        if not isinstance(item, dict):
            self.log.error(where, f"an operation is a mapping, not {describe(item)}")
            return None
        before = len(self.log.errors)
        self.check_keys(item, where, OPERATION_KEYS)
        slug = self.text(item, where, "slug", model_field(Operation, "slug"), required=True)
        runbook = self.text(item, where, "runbook", model_field(Runbook, "slug"), required=True)
        kind = self.choice(item, where, "kind", OperationKind, default=OperationKind.UPDATE)
        if kind == OperationKind.EXTEND and not product.get("max_lifetime_days"):
            self.log.error((*where, "kind"), "an extend operation needs the product's max_lifetime_days")
        values = {
            "name": self.text(item, where, "name", model_field(Operation, "name"), required=True),
            "kind": kind,
            "description": self.text(item, where, "description", model_field(Operation, "description")),
            "sla_minutes": self.count(
                item, where, "sla_minutes", model_field(Operation, "sla_minutes"), default=60, positive=True
            ),
            "form_schema": self._form(item, where),
        }
        approval, steps = self._approval(item, where)
        values.update(approval or {"approval_policy": None})
        if len(self.log.errors) != before or not slug or not runbook:
            # Its runbook is still checked, when it names one.
            return OperationSpec(where, slug or "", runbook, values, steps) if runbook else None
        return OperationSpec(where, slug, runbook, values, steps)

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
        if value is None or isinstance(value, str):
            if value == ApprovalPolicy.STEPS:
                self.log.error(here, "the steps policy needs its steps: write approval: {steps: [...]}")
                return None, []
            policy = self.choice(entry, where, "approval", ApprovalPolicy, default=ApprovalPolicy.NONE)
            defaults = {
                "approval_remind_after_hours": DEFAULT_REMIND_AFTER_HOURS,
                "approval_escalate_after_hours": DEFAULT_ESCALATE_AFTER_HOURS,
            }
            return ({"approval_policy": policy, **defaults} if policy else None), []
        if not isinstance(value, dict):
            self.log.error(here, f"must be a policy name or a mapping, not {describe(value)}")
            return None, []
        return self._approval_mapping(value, here)

    def _approval_mapping(
        self, value: Mapping[str, Any], here: DocPath
    ) -> tuple[dict[str, Any] | None, list[ApprovalStepSpec]]:
        """``approval`` written as a mapping (see ``_approval``)."""
        before = len(self.log.errors)
        self.check_keys(value, here, APPROVAL_KEYS)
        has_steps = value.get("steps") is not None
        policy = self.choice(
            value, here, "policy", ApprovalPolicy, default=ApprovalPolicy.STEPS if has_steps else None
        )
        steps: list[ApprovalStepSpec] = []
        if policy == ApprovalPolicy.STEPS:
            steps = self._approval_steps(value.get("steps"), (*here, "steps"))
        elif policy is not None and has_steps:
            self.log.error((*here, "steps"), f"steps belong to the steps policy, not to {policy!r}")
        remind, escalate = self._approval_thresholds(value, here)
        if len(self.log.errors) != before:
            return None, steps
        fields = {
            "approval_policy": policy,
            "approval_remind_after_hours": remind,
            "approval_escalate_after_hours": escalate,
        }
        return fields, steps

    def _approval_steps(self, items: object, where: DocPath) -> list[ApprovalStepSpec]:
        if not isinstance(items, list) or not items:
            self.log.error(where, "the steps policy needs a non-empty list of steps")
            return []
        steps = [self._approval_step(item, (*where, index)) for index, item in enumerate(items)]
        return [step for step in steps if step is not None]

    def _approval_thresholds(self, value: Mapping[str, Any], here: DocPath) -> tuple[int | None, int | None]:
        """When a waiting approval is reminded of, then escalated."""
        remind = self.count(
            value,
            here,
            "remind_after_hours",
            model_field(Product, "approval_remind_after_hours"),
            default=DEFAULT_REMIND_AFTER_HOURS,
            positive=False,
        )
        escalate = self.count(
            value,
            here,
            "escalate_after_hours",
            model_field(Product, "approval_escalate_after_hours"),
            default=DEFAULT_ESCALATE_AFTER_HOURS,
            positive=False,
        )
        if remind and escalate and escalate <= remind:
            self.log.error(
                (*here, "escalate_after_hours"),
                f"must be later than remind_after_hours ({remind}), or the reminder never comes first",
            )
        return remind, escalate

    def _approval_step(self, item: object, where: DocPath) -> ApprovalStepSpec | None:
        if not isinstance(item, dict):
            self.log.error(where, f"must be a mapping of keys, not {describe(item)}")
            return None
        before = len(self.log.errors)
        self.check_keys(item, where, APPROVAL_STEP_KEYS)
        name = self.text(item, where, "name", model_field(ApprovalStep, "name"), required=True)
        squad = self.text(item, where, "squad", model_field(Squad, "slug")) or None
        chapter = self.text(item, where, "chapter", model_field(Chapter, "slug")) or None
        roles = self.string_list(item, where, "roles")
        if squad and chapter:
            self.log.error((*where, "chapter"), "a step names a squad or a chapter, not both")
        for index, role in enumerate(roles or []):
            if role not in Role.values:
                self.log.error(
                    (*where, "roles", index), f"unknown role {role!r}; use one of {', '.join(Role.values)}"
                )
        if chapter and roles:
            self.log.error(
                (*where, "roles"), "a chapter step has no roles: the chapter's lead and members approve"
            )
        if not (squad or chapter or roles) and roles is not None:
            self.log.error(where, "a step names who approves it: a squad, a chapter or roles")
        required = self.count(
            item,
            where,
            "approvals",
            model_field(ApprovalStep, "required_approvals"),
            default=1,
            positive=True,
        )
        if len(self.log.errors) != before or not name or roles is None or required is None:
            return None
        return ApprovalStepSpec(where, name, squad, chapter, roles, required)

    def _tags(self, entry: dict, where: DocPath) -> list[str] | None:
        tags = self.string_list(entry, where, "tags")
        if tags is None:
            return None
        valid = True
        for index, tag in enumerate(tags):
            # Tags are stored comma-separated and read back stripped: anything
            # else would not survive the round trip.
            if "," in tag or tag != tag.strip():
                self.log.error(
                    (*where, "tags", index), f"tag {tag!r} must not contain commas or surrounding spaces"
                )
                valid = False
        return (
            tags
            if valid and self.valid(model_field(Product, "tags"), ", ".join(tags), (*where, "tags"))
            else None
        )

    def _unit_cost(self, entry: dict, where: DocPath) -> Decimal | None:
        if not self.present(entry, where, "unit_cost", required=False):
            return None
        value = entry["unit_cost"]
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            self.log.error((*where, "unit_cost"), f"must be a number, not {describe(value)}")
            return None
        try:
            # Through str(), so that 12.1 is Decimal("12.1") and not the float's binary expansion.
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            self.log.error((*where, "unit_cost"), f"must be a number, not {describe(value)}")
            return None
        return (
            amount if self.valid(model_field(Product, "unit_cost"), amount, (*where, "unit_cost")) else None
        )

    def _form(self, entry: dict, where: DocPath) -> dict | None:
        here = (*where, "form")
        if not self.present(entry, where, "form", required=False):
            return empty_form()
        form = entry["form"]
        not_json = json_problems(form, here)
        for path, message in not_json:
            self.log.error(path, message)
        if not_json:
            return None
        problems = form_schema_problems(form)
        for problem in problems:
            self.log.error(here + problem.path, problem.message)
        return None if problems else form
