"""Catalogue as code, the other way round: write the database out in the
format ``import_catalogue`` reads (DESIGN.md, "Catalogue as code").

The output is meant to live in version control, so it is deterministic (every
list ordered by slug or username), block-style YAML, with multi-line text as
literal blocks that read like the Markdown they hold. Importing an export
changes nothing: optional keys are left out exactly when they hold the value
the importer uses for a missing key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from django.db.models import Prefetch

from catalogue.choices import ApprovalPolicy, OverQuota
from catalogue.importing.sections import sections, top_level_keys
from catalogue.importing.specs import (
    APPROVAL_STEP_KEYS,
    CATEGORY_KEYS,
    CHAPTER_KEYS,
    DEFAULT_ESCALATE_AFTER_HOURS,
    DEFAULT_REMIND_AFTER_HOURS,
    OPERATION_KEYS,
    PRODUCT_KEYS,
    RUNBOOK_KEYS,
    SQUAD_KEYS,
)
from catalogue.models import Category, Operation, Product
from catalogue.selectors import approval_steps_in_order
from runbooks.choices import RunbookNetwork
from runbooks.models import Runbook
from squads.models import Chapter, Membership, Squad


@dataclass(frozen=True)
class ExportResult:
    """What an export produced: the catalogue's YAML and the playbook files written."""

    text: str
    playbooks: list[Path]


class _CatalogueDumper(yaml.SafeDumper):
    """Block-style YAML that indents lists under their key, as DESIGN.md does."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        # Two products sharing an identical form must not turn into &anchors.
        return True


def _represent_text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # A literal block when the text has lines; PyYAML itself falls back to a
    # quoted scalar when the block style cannot hold the value exactly.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_CatalogueDumper.add_representer(str, _represent_text)


def render_catalogue(document: dict[str, Any]) -> str:
    return yaml.dump(
        document,
        Dumper=_CatalogueDumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=4096,  # one line per value, for readable diffs
    )


def catalogue_document(*, playbook_paths: dict[str, str]) -> dict[str, Any]:
    """The whole catalogue as plain data in the file format; ``playbook_paths``
    maps a runbook slug to the path its playbook is written at."""
    document: dict[str, Any] = {
        "squads": [_squad(squad) for squad in _squads()],
        "chapters": [_chapter(chapter) for chapter in _chapters()],
        "categories": [_category(category) for category in Category.objects.order_by("slug")],
        "runbooks": [_runbook(runbook, playbook_paths.get(runbook.slug)) for runbook in _runbooks()],
        "products": [_product(product) for product in _products()],
    }
    for section in sections():
        document[section.key] = section.export()
    return {key: document[key] for key in top_level_keys() if document[key]}


class ExportError(Exception):
    """The export cannot be written as asked; nothing was written."""


def export_catalogue(*, output: Path | None, playbooks_dir: Path | None = None) -> ExportResult:
    """Write the catalogue to ``output`` (or only return its text when None)
    and every runbook's current playbook to ``playbooks_dir/<slug>.yml``.

    ``playbooks_dir`` defaults to ``playbooks/`` next to ``output`` (in the
    working directory without one); the YAML names playbooks relative to the
    catalogue file, as the importer reads them.
    """
    base = output.parent if output is not None else Path.cwd()
    playbooks_dir = playbooks_dir if playbooks_dir is not None else base / "playbooks"
    if not playbooks_dir.resolve().is_relative_to(base.resolve()):
        # import_catalogue reads playbooks only from inside the file's folder.
        raise ExportError(
            f"the playbooks folder {playbooks_dir} is outside {base}, the catalogue file's folder: "
            "import_catalogue would refuse the file; choose a folder inside it"
        )
    written: list[Path] = []
    playbook_paths: dict[str, str] = {}
    for runbook in Runbook.objects.filter(current_version__isnull=False).select_related("current_version"):
        target = playbooks_dir / f"{runbook.slug}.yml"
        playbook_paths[runbook.slug] = Path(os.path.relpath(target, base)).as_posix()
        target.parent.mkdir(parents=True, exist_ok=True)
        # Bytes, so the file holds exactly the version's content whatever the platform's newlines.
        version = runbook.current_version
        assert version is not None  # filtered on current_version__isnull=False
        target.write_bytes(version.content.encode())
        written.append(target)
    text = render_catalogue(catalogue_document(playbook_paths=playbook_paths))
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(text.encode())
    return ExportResult(text=text, playbooks=sorted(written))


def _squads() -> Any:
    members = Membership.objects.select_related("user").order_by("user__username")
    return Squad.objects.order_by("slug").prefetch_related(Prefetch("memberships", queryset=members))


def _chapters() -> Any:
    return Chapter.objects.order_by("slug").select_related("lead").prefetch_related("members")


def _runbooks() -> Any:
    return Runbook.objects.order_by("slug").select_related("squad")


def _products() -> Any:
    dependencies = Product.objects.only("id", "slug").order_by("slug")
    return (
        Product.objects.order_by("slug")
        .select_related("category", "squad", "runbook")
        .prefetch_related(
            Prefetch("depends_on", queryset=dependencies),
            Prefetch("approval_steps", queryset=approval_steps_in_order()),
            Prefetch(
                "operations",
                queryset=Operation.objects.order_by("position", "id")
                .select_related("runbook")
                .prefetch_related(Prefetch("approval_steps", queryset=approval_steps_in_order())),
            ),
        )
    )


def _entry(keys: tuple[str, ...], values: dict[str, Any]) -> dict[str, Any]:
    """``values`` in the order of ``keys``, without what the importer would
    fill in by itself (empty text, empty lists, no value)."""
    unknown = values.keys() - set(keys)
    if unknown:
        raise ValueError(f"keys {sorted(unknown)} are not part of the file format")
    return {key: values[key] for key in keys if key in values and values[key] not in ("", [], None)}


def _squad(squad: Squad) -> dict[str, Any]:
    members = [
        {"username": membership.user.get_username(), "role": membership.role}
        for membership in squad.memberships.all()
    ]
    return _entry(
        SQUAD_KEYS, {"slug": squad.slug, "name": squad.name, "mission": squad.mission, "members": members}
    )


def _chapter(chapter: Chapter) -> dict[str, Any]:
    return _entry(
        CHAPTER_KEYS,
        {
            "slug": chapter.slug,
            "name": chapter.name,
            "description": chapter.description,
            "lead": chapter.lead.get_username() if chapter.lead else None,
            "members": sorted(user.get_username() for user in chapter.members.all()),
        },
    )


def _category(category: Category) -> dict[str, Any]:
    return _entry(
        CATEGORY_KEYS,
        {
            "slug": category.slug,
            "name": category.name,
            "description": category.description,
            "position": category.position,
        },
    )


def _runbook(runbook: Runbook, playbook_path: str | None) -> dict[str, Any]:
    return _entry(
        RUNBOOK_KEYS,
        {
            "slug": runbook.slug,
            "name": runbook.name,
            "squad": runbook.squad.slug,
            "description": runbook.description,
            "playbook": playbook_path,
            "timeout": runbook.timeout,
            "queue": runbook.queue,
            # Only the exception is written: the default reads as no key.
            "network": runbook.network if runbook.network != RunbookNetwork.WORKER else None,
            "check_mode": runbook.supports_check_mode or None,
        },
    )


def _product(product: Product) -> dict[str, Any]:
    return _entry(
        PRODUCT_KEYS,
        {
            "slug": product.slug,
            "name": product.name,
            "category": product.category.name,
            "squad": product.squad.slug,
            "status": product.status,
            "summary": product.summary,
            "description": product.description,
            "tags": product.tag_list,
            "fulfilment": product.fulfilment,
            "runbook": product.runbook.slug if product.runbook else None,
            "approval": _approval(product),
            # Only the exception is written: the default reads as no key.
            "over_quota": product.over_quota if product.over_quota != OverQuota.REFUSE else None,
            "sla_minutes": product.sla_minutes,
            "unit_cost": _amount(product.unit_cost),
            "instance": product.instance or None,
            "max_lifetime_days": product.max_lifetime_days,
            "depends_on": [dependency.slug for dependency in product.depends_on.all()],
            "form": product.form_schema,
            "operations": [_operation(operation) for operation in product.operations.all()],
        },
    )


def _operation(operation: Operation) -> dict[str, Any]:
    return _entry(
        OPERATION_KEYS,
        {
            "slug": operation.slug,
            "name": operation.name,
            "kind": operation.kind,
            "description": operation.description,
            "runbook": operation.runbook.slug,
            "approval": _approval(operation),
            "sla_minutes": operation.sla_minutes,
            "form": operation.form_schema,
        },
    )


def _approval(product: Product | Operation) -> str | dict[str, Any]:
    """The policy name alone when that says everything, else the mapping
    (a product's or an operation's: they have the same policy fields)."""
    thresholds = {
        "remind_after_hours": product.approval_remind_after_hours,
        "escalate_after_hours": product.approval_escalate_after_hours,
    }
    defaults = {
        "remind_after_hours": DEFAULT_REMIND_AFTER_HOURS,
        "escalate_after_hours": DEFAULT_ESCALATE_AFTER_HOURS,
    }
    if product.approval_policy != ApprovalPolicy.STEPS:
        if thresholds == defaults:
            return product.approval_policy
        return {"policy": product.approval_policy, **thresholds}
    steps = [
        _entry(
            APPROVAL_STEP_KEYS,
            {
                "name": step.name,
                "squad": step.squad.slug if step.squad else None,
                "chapter": step.chapter.slug if step.chapter else None,
                "roles": list(step.roles or []),
                "approvals": step.required_approvals if step.required_approvals != 1 else None,
            },
        )
        for step in product.approval_steps.all()
    ]
    extra = {key: value for key, value in thresholds.items() if value != defaults[key]}
    return {"steps": steps, **extra}


def _amount(value: Decimal | None) -> float | str | None:
    """A plain YAML number when the float says exactly the same amount (any
    12-digit amount does), else the decimal as a string (the importer reads both)."""
    if value is None:
        return None
    number = float(value)
    return number if Decimal(repr(number)) == value else str(value)
