"""Stage 4, write: in one transaction, only what the plan says differs is
written, through the same services the admin uses (``runbook_set_playbook``,
``product_changed``). The models' ``full_clean`` runs once more on every row
written, as a last guard: anything it refuses rolls the whole import back and
is reported like a file error."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import DatabaseError, models, transaction

from catalogue.dynamic_choices import references_checked
from catalogue.importing.errors import CatalogueFileError, ErrorLog, LocatedError, format_path
from catalogue.importing.sections import all_kinds, sections
from catalogue.importing.specs import (
    CREATED,
    FILE_KEY_FOR_FIELD,
    UNCHANGED,
    UPDATED,
    CategorySpec,
    ChapterSpec,
    DocPath,
    ExistingRows,
    PlanStep,
    ProductSpec,
    RunbookSpec,
    SquadSpec,
)
from catalogue.models import ApprovalStep, Category, Operation, Product
from catalogue.services import product_changed
from runbooks.models import Runbook
from runbooks.services import runbook_set_playbook
from squads.services import (
    KEEP,
    chapter_add_members,
    chapter_create,
    chapter_update,
    membership_create,
    membership_update,
    squad_create,
    squad_update,
)


def write_plan(steps: list[PlanStep], rows: ExistingRows, log: ErrorLog) -> None:
    """Apply the plan in one transaction; raise ``CatalogueFileError`` (and
    write nothing) when the database or a model refuses a row."""
    Writer(rows, log).write(steps)


class Writer:
    """Writes the planned rows, kind after kind, adding each row it creates
    to ``rows`` so that later kinds can refer to it."""

    def __init__(self, rows: ExistingRows, log: ErrorLog) -> None:
        self.rows = rows
        self.log = log

    def write(self, steps: list[PlanStep]) -> None:
        """Apply the plan in one transaction. The models' ``full_clean`` runs
        once more on every row written, as a last guard: anything it refuses
        rolls the whole import back and is reported like a file error."""
        by_kind: dict[str, list[PlanStep]] = {kind: [] for kind in all_kinds()}
        for step in steps:
            by_kind[step.kind].append(step)
        try:
            # The forms' choice sources were resolved against the file and the
            # database; what they name may be written after them.
            with transaction.atomic(), references_checked():
                self._write_users(by_kind["users"])
                self._write_squads(by_kind["squads"])
                self._write_members(by_kind["members"])
                self._write_chapters(by_kind["chapters"])
                self._write_categories(by_kind["categories"])
                self._write_runbooks(by_kind["runbooks"])
                self._write_products(by_kind["products"])
                for section in sections():
                    steps_of = [step for kind in section.kinds for step in by_kind[kind]]
                    section.write(steps_of, self.rows, self.located)
        except DatabaseError as error:
            raise CatalogueFileError(
                [
                    LocatedError(
                        self.log.label,
                        None,
                        "",
                        f"the database refused the import, nothing was written: {error}",
                    )
                ]
            ) from error

    def _write_approval_steps(self, product: Product, spec: ProductSpec) -> None:
        """Replace the product's approval steps by the file's (orders already
        waiting keep the copy they took when submitted)."""
        product.approval_steps.all().delete()
        self._add_steps(spec.approval_steps, product=product)

    def _write_operations(self, product: Product, spec: ProductSpec) -> None:
        """Make the product's operations the file's, by slug. One the file no
        longer lists goes, unless it was ordered: its orders keep it, and
        the import is refused saying so."""
        kept = {operation.slug for operation in spec.operations}
        for gone in product.operations.exclude(slug__in=kept):
            if gone.orders.exists():
                raise CatalogueFileError(
                    [
                        LocatedError(
                            self.log.label,
                            self.log.line_of((*spec.where, "operations")),
                            format_path((*spec.where, "operations")),
                            f"operation {gone.slug!r} was ordered: it cannot be removed, only changed",
                        )
                    ]
                )
            gone.delete()
        for position, operation_spec in enumerate(spec.operations):
            operation = product.operations.filter(slug=operation_spec.slug).first() or Operation(
                product=product, slug=operation_spec.slug
            )
            _assign(operation, operation_spec.values, list(operation_spec.values))
            operation.position = position
            operation.runbook = self.rows.runbook_rows[operation_spec.runbook]
            self._save(operation, operation_spec.where)
            operation.approval_steps.all().delete()
            self._add_steps(operation_spec.approval_steps, operation=operation)

    def _add_steps(self, steps: Sequence[Any], **owner: Product | Operation) -> None:
        """Write a product's or an operation's approval steps (``owner`` is
        ``product=`` or ``operation=``), in the file's order."""
        for position, step in enumerate(steps):
            row = ApprovalStep(
                **owner,
                position=position,
                name=step.name,
                squad=self.rows.squad_rows[step.squad] if step.squad else None,
                chapter=self.rows.chapter_rows[step.chapter] if step.chapter else None,
                roles=step.roles,
                required_approvals=step.required,
            )
            self._save(row, step.where)

    def _save(self, row: models.Model, where: DocPath, update_fields: list[str] | None = None) -> None:
        with self._located(where):
            row.full_clean()
        row.save(update_fields=update_fields)

    def located(self, where: DocPath) -> AbstractContextManager[None]:
        """``_located`` for the sections of apps above the catalogue."""
        return self._located(where)

    @contextmanager
    def _located(self, where: DocPath) -> Iterator[None]:
        """Report what a model's ``full_clean`` refuses at the entry ``where``
        (a field at its file key), like a file error."""
        try:
            yield
        except ValidationError as error:
            errors = [
                LocatedError(self.log.label, self.log.line_of(path), format_path(path), message)
                for name, messages in error.message_dict.items()
                for path in [where if name == "__all__" else (*where, FILE_KEY_FOR_FIELD.get(name, name))]
                for message in messages
            ]
            raise CatalogueFileError(errors) from None

    def _write_users(self, steps: list[PlanStep]) -> None:
        user_model = get_user_model()
        for step in steps:
            if step.action == CREATED:
                user = user_model(**{user_model.USERNAME_FIELD: step.key})
                # Whoever is named in a catalogue signs in some other way (SSO)
                # or gets a password from an admin; the file never carries one.
                user.set_unusable_password()
                self._save(user, ())
                self.rows.user_rows[step.key] = user

    def _write_squads(self, steps: list[PlanStep]) -> None:
        for step in steps:
            spec: SquadSpec = step.spec
            if step.action == CREATED:
                with self._located(spec.where):
                    squad = squad_create(slug=spec.slug, **spec.values)
                self.rows.squad_rows[spec.slug] = squad
            elif step.action == UPDATED:
                with self._located(spec.where):
                    squad_update(squad=step.row, **_only(spec.values, step.fields))

    def _write_members(self, steps: list[PlanStep]) -> None:
        for step in steps:
            squad_spec, member = step.spec
            with self._located(member.where):
                if step.action == CREATED:
                    membership_create(
                        squad=self.rows.squad_rows[squad_spec.slug],
                        user=self.rows.user_rows[member.username],
                        role=member.role,
                    )
                elif step.action == UPDATED:
                    membership_update(membership=step.row, role=member.role)

    def _write_chapters(self, steps: list[PlanStep]) -> None:
        for step in steps:
            spec: ChapterSpec = step.spec
            lead = self.rows.user_rows[spec.lead] if spec.lead else None
            members = [self.rows.user_rows[username] for username in spec.members]
            if step.action == CREATED:
                with self._located(spec.where):
                    chapter = chapter_create(slug=spec.slug, lead=lead, members=members, **spec.values)
                self.rows.chapter_rows[spec.slug] = chapter
            elif step.action == UPDATED:
                with self._located(spec.where):
                    chapter_update(
                        chapter=step.row,
                        lead=lead if "lead" in step.fields else KEEP,
                        **_only(spec.values, step.fields),
                    )
                chapter_add_members(chapter=step.row, users=members)

    def _write_categories(self, steps: list[PlanStep]) -> None:
        for step in steps:
            spec: CategorySpec = step.spec
            if step.action == CREATED:
                assert spec.slug is not None  # every category has its slug once resolved
                category = Category(slug=spec.slug, **spec.values)
                self._save(category, spec.where)
                self.rows.category_rows[category.slug] = category
            elif step.action == UPDATED:
                _assign(step.row, spec.values, step.fields)
                self._save(step.row, spec.where, step.fields)

    def _write_runbooks(self, steps: list[PlanStep]) -> None:
        for step in steps:
            spec: RunbookSpec = step.spec
            if step.action == CREATED:
                runbook = Runbook(slug=spec.slug, squad=self.rows.squad_rows[spec.squad], **spec.values)
                self._save(runbook, spec.where)
                self.rows.runbook_rows[spec.slug] = runbook
            elif step.action == UPDATED:
                runbook = step.row
                _assign(runbook, spec.values, step.fields)
                runbook.squad = self.rows.squad_rows[spec.squad]
                row_fields = [name for name in step.fields if name != "playbook"]
                if row_fields:
                    self._save(runbook, spec.where, [*row_fields, "updated_at"])
            else:
                continue
            if spec.playbook is not None:
                # Identical content makes no new version (the service compares checksums).
                runbook_set_playbook(runbook=runbook, content=spec.playbook)

    def _write_products(self, steps: list[PlanStep]) -> None:
        for step in steps:
            if step.action != UNCHANGED:
                self._write_product(step)
        # Dependencies last: they may point at products created just above.
        for step in steps:
            self._write_product_links(step)

    def _write_product(self, step: PlanStep) -> None:
        spec: ProductSpec = step.spec
        values = spec.values | {
            "tags": ", ".join(spec.tags),
            "category": self.rows.category_rows[self.rows.category_slug_for_name[spec.category]],
            "squad": self.rows.squad_rows[spec.squad],
            "runbook": self.rows.runbook_rows[spec.runbook] if spec.runbook else None,
        }
        if step.action == CREATED:
            product = Product(slug=spec.slug, **values)
            self._save(product, spec.where)
            self.rows.product_rows[spec.slug] = product
        else:
            row_fields = [
                name for name in step.fields if name not in ("depends_on", "approval_steps", "operations")
            ]
            _assign(step.row, values, row_fields)
            # Saved even when only its dependencies changed, so that
            # updated_at says when the definition last changed.
            self._save(step.row, spec.where, [*row_fields, "updated_at"])

    def _write_product_links(self, step: PlanStep) -> None:
        """The product's dependencies and approval steps, and its new version."""
        spec = step.spec
        product = self.rows.product_rows[spec.slug]
        if "depends_on" in step.fields or (step.action == CREATED and spec.depends_on):
            product.depends_on.set([self.rows.product_rows[slug] for slug in spec.depends_on])
        if "approval_steps" in step.fields or (step.action == CREATED and spec.approval_steps):
            self._write_approval_steps(product, spec)
        if "operations" in step.fields or (step.action == CREATED and spec.operations):
            self._write_operations(product, spec)
        if step.action == UPDATED:
            product_changed(product=product)


def _only(values: Mapping[str, Any], fields: list[str]) -> dict[str, Any]:
    """The ``values`` of the changed ``fields`` (others are not the row's own)."""
    return {name: values[name] for name in fields if name in values}


def _assign(row: models.Model, values: Mapping[str, Any], fields: list[str]) -> None:
    for name in fields:
        if name in values:
            setattr(row, name, values[name])
