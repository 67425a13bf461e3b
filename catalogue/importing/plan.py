"""Stage 3, plan: every entry of the file is compared with its row, field by
field, into one step per row: create it, update these fields, or leave it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import models

from catalogue.importing.sections import sections
from catalogue.importing.specs import (
    CREATED,
    UNCHANGED,
    UPDATED,
    ExistingRows,
    ParsedFile,
    PlanStep,
    ProductSpec,
    canonical,
)
from catalogue.models import ApprovalStep, Operation, Product
from runbooks.playbooks import playbook_checksum


def plan_import(parsed: ParsedFile, rows: ExistingRows) -> list[PlanStep]:
    """The steps of the import, in the order they are written (users first)."""
    return [
        *_plan_users(parsed, rows),
        *_plan_squads(parsed, rows),
        *_plan_members(parsed, rows),
        *_plan_chapters(parsed, rows),
        *_plan_categories(parsed, rows),
        *_plan_runbooks(parsed, rows),
        *_plan_products(parsed, rows),
        *(step for section in sections() for step in section.plan(parsed, rows)),
    ]


def _step(kind: str, key: str, row: Any, spec: Any, fields: list[str]) -> PlanStep:
    if row is None:
        return PlanStep(kind, key, CREATED, [], spec, None)
    return PlanStep(kind, key, UPDATED if fields else UNCHANGED, fields, spec, row)


def _plan_users(parsed: ParsedFile, rows: ExistingRows) -> list[PlanStep]:
    steps = []
    for username in sorted(parsed.usernames()):
        existing = rows.user_rows.get(username)
        steps.append(PlanStep("users", username, UNCHANGED if existing else CREATED, [], username, existing))
    return steps


def _plan_squads(parsed: ParsedFile, rows: ExistingRows) -> list[PlanStep]:
    steps = []
    for spec in parsed.squads:
        row = rows.squad_rows.get(spec.slug)
        steps.append(_step("squads", spec.slug, row, spec, _changed(row, spec.values)))
    return steps


def _plan_members(parsed: ParsedFile, rows: ExistingRows) -> list[PlanStep]:
    steps = []
    for spec in parsed.squads:
        for member in spec.members:
            key = f"{spec.slug}/{member.username}"
            membership = rows.membership_rows.get((spec.slug, member.username))
            fields = ["role"] if membership and membership.role != member.role else []
            steps.append(_step("members", key, membership, (spec, member), fields))
    return steps


def _plan_chapters(parsed: ParsedFile, rows: ExistingRows) -> list[PlanStep]:
    steps = []
    for spec in parsed.chapters:
        chapter = rows.chapter_rows.get(spec.slug)
        fields = _changed(chapter, spec.values)
        if chapter is not None:
            if (chapter.lead.get_username() if chapter.lead else None) != spec.lead:
                fields.append("lead")
            if set(spec.members) - {user.get_username() for user in chapter.members.all()}:
                fields.append("members")
        steps.append(_step("chapters", spec.slug, chapter, spec, fields))
    return steps


def _plan_categories(parsed: ParsedFile, rows: ExistingRows) -> list[PlanStep]:
    steps = []
    for spec in parsed.categories:
        category = rows.category_rows.get(spec.slug or "")
        # A category only named by a product is never updated from the file.
        fields = _changed(category, spec.values) if spec.listed else []
        steps.append(_step("categories", spec.slug or "", category, spec, fields))
    return steps


def _plan_runbooks(parsed: ParsedFile, rows: ExistingRows) -> list[PlanStep]:
    steps = []
    for spec in parsed.runbooks:
        runbook = rows.runbook_rows.get(spec.slug)
        fields = _changed(runbook, spec.values)
        if runbook is not None:
            if runbook.squad.slug != spec.squad:
                fields.append("squad")
            current = runbook.current_version.checksum if runbook.current_version else None
            if spec.playbook is not None and current != playbook_checksum(spec.playbook):
                fields.append("playbook")
        steps.append(_step("runbooks", spec.slug, runbook, spec, fields))
    return steps


def _plan_products(parsed: ParsedFile, rows: ExistingRows) -> list[PlanStep]:
    steps = []
    for spec in parsed.products:
        product = rows.product_rows.get(spec.slug)
        steps.append(_step("products", spec.slug, product, spec, _product_changes(spec, product, rows)))
    return steps


def _product_changes(spec: ProductSpec, product: Product | None, rows: ExistingRows) -> list[str]:
    if product is None:
        return []
    fields = _changed(product, spec.values)
    if product.tag_list != spec.tags:
        fields.append("tags")
    if product.category.slug != rows.category_slug_for_name[spec.category]:
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
    stored = sorted(_operation_key(operation) for operation in product.operations.all())
    if stored != sorted(operation.key() for operation in spec.operations):
        fields.append("operations")
    return fields


def _operation_key(operation: Operation) -> tuple[Any, ...]:
    """The same as ``OperationSpec.key`` for a stored operation."""
    names: tuple[str, ...] = ("name", "kind", "description", "sla_minutes", "form_schema", "approval_policy")
    names += ("approval_remind_after_hours", "approval_escalate_after_hours")
    values = tuple(sorted((name, canonical(getattr(operation, name))) for name in names))
    steps = tuple(_step_key(step) for step in operation.approval_steps.all())
    return (operation.slug, operation.runbook.slug, values, steps)


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
