"""``business_units`` in the catalogue file (DESIGN.md, "Business units,
quotas and cost"): a section of the import and the export
(``catalogue.importing.sections``), registered by ``portal.apps``.

    business_units:
      - slug: finance
        name: Finance
        cost_centre: CC-100
        members: [bea]
        quotas:
          - {product: vm, max_instances: 10}
          - {product: vm, attribute: vcpus, max_total: 64}

Upsert by slug, like the catalogue's own entries: name and cost centre are
the file's; members are added (created like squad members when unknown),
never removed; the unit's quotas become exactly the file's list. Refused,
with the place in the file: a product in neither the file nor the database,
a product that makes no instances, a negative limit, a quota that gives
both or neither kind of limit, the same product and attribute twice, and an
attribute the product's instances do not have (``portal.consumption.
attributes``: a number field of the product's forms, as the file gives
them, or a number its instances report).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import Prefetch

from catalogue.importing.errors import describe
from catalogue.importing.sections import Located
from catalogue.importing.specs import (
    CREATED,
    UNCHANGED,
    UPDATED,
    DocPath,
    ExistingRows,
    ParsedFile,
    PlanStep,
)
from catalogue.importing.values import EntryReader, model_field
from catalogue.models import Product
from portal.consumption.attributes import attribute_problem, form_number_fields
from portal.consumption.models import BusinessUnit, BusinessUnitMembership, Quota
from portal.consumption.services import (
    QuotaLimit,
    business_unit_add_members,
    business_unit_create,
    business_unit_update,
    quotas_replace,
)

KEY = "business_units"
UNIT_KEYS = ("slug", "name", "cost_centre", "members", "quotas")
QUOTA_KEYS = ("product", "max_instances", "attribute", "max_total")


@dataclass
class QuotaSpec:
    where: DocPath
    product: str
    max_instances: int | None
    attribute: str
    max_total: Decimal | None

    def key(self) -> tuple[str, str, int | None, Decimal | None]:
        return (self.product, self.attribute, self.max_instances, self.max_total)


@dataclass
class UnitSpec:
    where: DocPath
    slug: str
    values: dict[str, str]
    members: list[str]
    quotas: list[QuotaSpec]


@dataclass
class Parsed:
    """What the section read, and the rows it found (``resolve``)."""

    units: list[UnitSpec] = field(default_factory=list)
    unit_rows: dict[str, BusinessUnit] = field(default_factory=dict)
    # Products named by quotas that the file does not define.
    product_rows: dict[str, Product] = field(default_factory=dict)


class BusinessUnitsSection:
    key = KEY
    kinds = {"business_units": "business unit"}

    # --- parse ---

    def parse(self, value: object, where: DocPath, reader: EntryReader, parsed: ParsedFile) -> None:
        state = Parsed()
        parsed.sections[KEY] = state
        seen: dict[str, DocPath] = {}
        for here, item in reader.mappings(value, where):
            # Declared whatever else is wrong with it, so a duplicate is still
            # seen; a duplicate is still read, for its own errors.
            first = reader.first_definition(seen, item, here)
            spec = self._unit(item, here, reader, parsed)
            if spec is None or not first:
                continue
            state.units.append(spec)

    def _unit(self, entry: dict, where: DocPath, reader: EntryReader, parsed: ParsedFile) -> UnitSpec | None:
        before = len(reader.log.errors)
        reader.check_keys(entry, where, UNIT_KEYS)
        slug = reader.text(entry, where, "slug", model_field(BusinessUnit, "slug"), required=True)
        name = reader.text(entry, where, "name", model_field(BusinessUnit, "name"), required=True)
        cost_centre = reader.text(entry, where, "cost_centre", model_field(BusinessUnit, "cost_centre"))
        members = reader.string_list(entry, where, "members") or []
        for index, username in enumerate(members):
            if reader.username(username, (*where, "members", index)):
                parsed.extra_usernames.add(username)
        quotas = self._quotas(entry, where, reader)
        if len(reader.log.errors) != before or not slug or name is None or cost_centre is None:
            return None
        return UnitSpec(where, slug, {"name": name, "cost_centre": cost_centre}, members, quotas)

    def _quotas(self, entry: dict, where: DocPath, reader: EntryReader) -> list[QuotaSpec]:
        quotas: list[QuotaSpec] = []
        seen: dict[tuple[str, str], DocPath] = {}
        for here, item in reader.entries(entry, where, "quotas"):
            quota = self._quota(item, here, reader)
            if quota is None:
                continue
            key = (quota.product, quota.attribute)
            if key in seen:
                what = f"attribute {quota.attribute!r} of" if quota.attribute else "the instances of"
                reader.log.error(
                    here,
                    f"a second quota on {what} product {quota.product!r}: "
                    f"already limited at {reader.log.where_defined(seen[key])}",
                )
                continue
            seen[key] = here
            quotas.append(quota)
        return quotas

    def _quota(self, item: dict, where: DocPath, reader: EntryReader) -> QuotaSpec | None:
        before = len(reader.log.errors)
        reader.check_keys(item, where, QUOTA_KEYS)
        product = reader.text(item, where, "product", model_field(Product, "slug"), required=True)
        attribute = reader.text(item, where, "attribute", model_field(Quota, "attribute")) or ""
        counted = reader.present(item, where, "max_instances", required=False)
        totalled = reader.present(item, where, "max_total", required=False)
        max_instances = None
        max_total = None
        if counted:
            max_instances = reader.count(
                item, where, "max_instances", model_field(Quota, "max_instances"), default=0, positive=False
            )
        if totalled:
            max_total = _amount(item["max_total"], (*where, "max_total"), reader)
        if attribute and counted:
            reader.log.error(
                (*where, "max_instances"),
                "a quota on an attribute limits its total (max_total), not a count: "
                "write the count as a quota of its own",
            )
        elif attribute and not totalled:
            reader.log.error((*where, "max_total"), f"a quota on {attribute!r} needs its max_total")
        elif not attribute and totalled:
            reader.log.error(
                (*where, "attribute"), "max_total limits an attribute's total: name the attribute"
            )
        elif not attribute and not counted:
            reader.log.error(where, "a quota gives max_instances, or an attribute and its max_total")
        if len(reader.log.errors) != before or not product:
            return None
        return QuotaSpec(where, product, max_instances, attribute, max_total)

    # --- resolve ---

    def resolve(self, parsed: ParsedFile, rows: ExistingRows, reader: EntryReader) -> None:
        state: Parsed | None = parsed.sections.get(KEY)
        if state is None:
            return
        state.unit_rows = {
            unit.slug: unit
            for unit in BusinessUnit.objects.filter(
                slug__in=[spec.slug for spec in state.units]
            ).prefetch_related(
                Prefetch("memberships", queryset=BusinessUnitMembership.objects.select_related("user")),
                Prefetch("quotas", queryset=Quota.objects.select_related("product")),
            )
        }
        in_file = {spec.slug: spec for spec in parsed.products}
        named = {quota.product for unit in state.units for quota in unit.quotas}
        state.product_rows = {
            product.slug: product
            for product in Product.objects.filter(slug__in=named - in_file.keys()).prefetch_related(
                "operations"
            )
        }
        declared = parsed.declared["products"].keys()
        for unit in state.units:
            for quota in unit.quotas:
                if quota.product in in_file:
                    self._check_file_product(quota, in_file[quota.product], rows, reader)
                elif quota.product in state.product_rows:
                    self._check_product(quota, state.product_rows[quota.product], None, reader)
                elif quota.product not in declared:
                    reader.log.error(
                        (*quota.where, "product"),
                        f"unknown product {quota.product!r} (not in this file nor in the database)",
                    )

    def _check_file_product(
        self, quota: QuotaSpec, spec: Any, rows: ExistingRows, reader: EntryReader
    ) -> None:
        """A product the file defines: its forms and ``instance`` are the file's."""
        values = spec.values
        product = rows.product_rows.get(spec.slug) or Product(
            slug=spec.slug, name=values.get("name") or spec.slug
        )
        product.instance = bool(values.get("instance"))
        forms = [
            values.get("form_schema"),
            *(operation.values.get("form_schema") for operation in spec.operations),
        ]
        self._check_product(quota, product, form_number_fields(forms), reader)

    def _check_product(
        self, quota: QuotaSpec, product: Product, number_fields: set[str] | None, reader: EntryReader
    ) -> None:
        if not product.instance:
            reader.log.error(
                (*quota.where, "product"),
                f"product {quota.product!r} makes no instances (instance: true): a quota counts instances",
            )
            return
        if quota.attribute:
            problem = attribute_problem(product, quota.attribute, number_fields=number_fields)
            if problem:
                reader.log.error((*quota.where, "attribute"), problem)

    # --- plan ---

    def plan(self, parsed: ParsedFile, rows: ExistingRows) -> list[PlanStep]:
        state: Parsed | None = parsed.sections.get(KEY)
        if state is None:
            return []
        steps = []
        for spec in state.units:
            unit = state.unit_rows.get(spec.slug)
            if unit is None:
                steps.append(PlanStep("business_units", spec.slug, CREATED, [], spec, None))
                continue
            fields = [name for name, value in spec.values.items() if getattr(unit, name) != value]
            present = {membership.user.get_username() for membership in unit.memberships.all()}
            if set(spec.members) - present:
                fields.append("members")
            stored = sorted(
                (quota.product.slug, quota.attribute, quota.max_instances, quota.max_total)
                for quota in unit.quotas.all()
            )
            if stored != sorted(quota.key() for quota in spec.quotas):
                fields.append("quotas")
            steps.append(
                PlanStep("business_units", spec.slug, UPDATED if fields else UNCHANGED, fields, spec, unit)
            )
        return steps

    # --- write ---

    def write(self, steps: list[PlanStep], rows: ExistingRows, located: Located) -> None:
        for step in steps:
            if step.action == UNCHANGED:
                continue
            spec: UnitSpec = step.spec
            with located(spec.where):
                if step.action == CREATED:
                    unit = business_unit_create(slug=spec.slug, **spec.values)
                else:
                    unit = business_unit_update(unit=step.row, slug=spec.slug, **spec.values)
            business_unit_add_members(
                unit=unit, users=[rows.user_rows[username] for username in spec.members]
            )
            if step.action == CREATED or "quotas" in step.fields:
                self._write_quotas(unit, spec, rows, located)

    def _write_quotas(self, unit: BusinessUnit, spec: UnitSpec, rows: ExistingRows, located: Located) -> None:
        products = {quota.product for quota in spec.quotas}
        found = {slug: rows.product_rows[slug] for slug in products if slug in rows.product_rows}
        found.update(Product.objects.in_bulk(products - found.keys(), field_name="slug"))
        limits = [
            QuotaLimit(
                product=found[quota.product],
                max_instances=quota.max_instances,
                attribute=quota.attribute,
                max_total=quota.max_total,
            )
            for quota in spec.quotas
        ]
        with located((*spec.where, "quotas")):
            quotas_replace(unit=unit, limits=limits)

    # --- export ---

    def export(self) -> list[dict[str, Any]]:
        units = BusinessUnit.objects.order_by("slug").prefetch_related(
            Prefetch("memberships", queryset=BusinessUnitMembership.objects.select_related("user")),
            Prefetch(
                "quotas",
                queryset=Quota.objects.select_related("product").order_by("product__slug", "attribute"),
            ),
        )
        return [_exported(unit) for unit in units]


def _exported(unit: BusinessUnit) -> dict[str, Any]:
    quotas = []
    for quota in unit.quotas.all():
        if quota.attribute:
            quotas.append(
                {
                    "product": quota.product.slug,
                    "attribute": quota.attribute,
                    "max_total": _number(quota.max_total),
                }
            )
        else:
            quotas.append({"product": quota.product.slug, "max_instances": quota.max_instances})
    entry: dict[str, Any] = {"slug": unit.slug, "name": unit.name}
    if unit.cost_centre:
        entry["cost_centre"] = unit.cost_centre
    members = sorted(membership.user.get_username() for membership in unit.memberships.all())
    if members:
        entry["members"] = members
    if quotas:
        entry["quotas"] = quotas
    return entry


def _amount(value: object, where: DocPath, reader: EntryReader) -> Decimal | None:
    """A non-negative total as the file gives it (a number, or one quoted)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        reader.log.error(where, f"must be a number, not {describe(value)}")
        return None
    try:
        # Through str(), so that 12.1 is Decimal("12.1") and not the float's binary expansion.
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        reader.log.error(where, f"must be a number, not {describe(value)}")
        return None
    if not amount.is_finite():
        reader.log.error(where, f"must be a number, not {describe(value)}")
        return None
    if amount < 0:
        reader.log.error(where, f"must not be negative, not {value}")
        return None
    return amount if reader.valid(model_field(Quota, "max_total"), amount, where) else None


def _number(value: Decimal | None) -> int | float | str | None:
    """A total as a plain YAML number (whole when it is), else the decimal as text."""
    if value is None:
        return None
    if value == value.to_integral_value():
        return int(value)
    number = float(value)
    return number if Decimal(repr(number)) == value else str(value)
