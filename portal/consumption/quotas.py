"""How much of a product a business unit holds against its quotas, and the
check of every placement against them.

What counts is what exists and what is already ordered:

- instances of the product charged to the unit that are not decommissioned
  (a failed one still holds what it took);
- create orders for the unit still open (not in a terminal status) whose
  instance does not exist yet (once it does, the instance counts);
- for an attribute's total, each instance's value (the attribute it
  reports, else the input of that name its creating order was given), each
  open create order's input of that name, and each open update
  operation's increase (its input of that name less the instance's value;
  a decrease frees nothing until it is done).

A value that is not a number counts as nothing.

Race safety: the admission check (``quota_admission``, registered with
``portal.orders.hooks``) runs inside the placement's transaction. Its first
statement finds the order's business unit and that unit's quotas on the
product and locks the unit's row (``SELECT … FOR UPDATE``); the second
counts. Two placements for one unit therefore count one after the other,
and the second sees the first's order once it committed: they cannot both
take the last unit. The count cannot share the locking statement: a
statement that waited for a lock still reads with the snapshot it started
with (PostgreSQL's READ COMMITTED), which misses the order it waited for.
On SQLite, transactions begin IMMEDIATE (settings): writers take turns
anyway. Finding the unit is needed for any order of a member; the quotas
add the one counting statement, on the indexes that start with the unit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db.models import (
    Case,
    Count,
    FilteredRelation,
    FloatField,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.expressions import Expression
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, Greatest
from django.db.models.lookups import Regex

from catalogue.choices import OperationKind, OverQuota
from portal.consumption.attributes import NUMBER
from portal.consumption.errors import BusinessUnitChoiceError, QuotaExceeded
from portal.consumption.membership import UnitRef, choose_unit, unit_refs_of
from portal.consumption.models import BusinessUnit, Quota, format_amount
from portal.instances.choices import InstanceState
from portal.instances.hooks import Handover
from portal.instances.models import ServiceInstance
from portal.orders.choices import OPEN_STATUSES
from portal.orders.hooks import Admission, Placement
from portal.orders.models import Order

#: Operations that may raise an attribute (a delete only frees).
RAISING_KINDS = (OperationKind.UPDATE, OperationKind.EXTEND)
#: Sums of floats are compared with this slack: 0.1 + 0.2 is within 0.3.
EPSILON = 1e-9


# --- What counts, as querysets and expressions -------------------------------------------


def live_instances() -> QuerySet[ServiceInstance]:
    """Instances that hold their share of a quota: every one not decommissioned."""
    return ServiceInstance.objects.exclude(state=InstanceState.DECOMMISSIONED)


def pending_creations() -> QuerySet[Order]:
    """Create orders still open whose instance does not exist yet."""
    return Order.objects.filter(operation__isnull=True, status__in=OPEN_STATUSES, instance__isnull=True)


def pending_updates() -> QuerySet[Order]:
    """Operations still open that may raise an instance's attributes."""
    return Order.objects.filter(
        operation__isnull=False, operation__kind__in=RAISING_KINDS, status__in=OPEN_STATUSES
    )


def _number(text: Expression) -> Case:
    """``text`` (a JSON value read as text) as a number, NULL when it is not one."""
    return Case(
        When(Regex(text, NUMBER), then=Cast(text, FloatField())),
        default=Value(None, output_field=FloatField()),
        output_field=FloatField(),
    )


def instance_value(attribute: str, prefix: str = "") -> Coalesce:
    """An instance's value of ``attribute``: what it reports, else what its
    creating order asked for (``prefix`` reaches the instance from an order)."""
    return Coalesce(
        _number(KeyTextTransform(attribute, f"{prefix}attributes")),
        _number(KeyTextTransform(attribute, f"{prefix}created_by_order__inputs")),
        Value(0.0),
        output_field=FloatField(),
    )


def input_value(attribute: str) -> Coalesce:
    """An order's input of that name (0 when it has none or not a number)."""
    return Coalesce(_number(KeyTextTransform(attribute, "inputs")), Value(0.0), output_field=FloatField())


def update_increase(attribute: str) -> Coalesce:
    """How much an open operation raises its instance's ``attribute``."""
    new = _number(KeyTextTransform(attribute, "inputs"))
    return Coalesce(
        Greatest(new - instance_value(attribute, "instance__"), Value(0.0), output_field=FloatField()),
        Value(0.0),
        output_field=FloatField(),
    )


def _one(queryset: QuerySet[Any], value: Expression | None) -> Coalesce:
    """A subquery of the count (``value`` None) or the sum of ``value`` over
    ``queryset``, one unit's and product's rows: 0 when there are none."""
    grouped = queryset.order_by().values("business_unit")
    column = grouped.annotate(total=Count("pk") if value is None else Sum(value)).values("total")
    return Coalesce(Subquery(column), Value(0.0), output_field=FloatField())


# --- Usage, for the pages --------------------------------------------------------------


@dataclass(frozen=True)
class QuotaUse:
    """A quota with how much of it is in use or on order now."""

    quota: Quota
    used: float

    @property
    def limit(self) -> float:
        if self.quota.attribute:
            return float(self.quota.max_total or 0)
        return float(self.quota.max_instances or 0)

    @property
    def over(self) -> bool:
        return self.used > self.limit + EPSILON

    @property
    def full(self) -> bool:
        return self.used >= self.limit - EPSILON

    @property
    def measure(self) -> str:
        """What is counted: "instances", or the attribute's name."""
        return self.quota.attribute or "instances"

    @property
    def used_text(self) -> str:
        return format_amount(_decimal(self.used))

    @property
    def limit_text(self) -> str:
        return format_amount(_decimal(self.limit))

    @property
    def meter_value(self) -> float:
        """The use, capped at the limit (a meter cannot show more)."""
        return min(self.used, self.limit)


def quota_usage(quotas: Iterable[Quota]) -> list[QuotaUse]:
    """Each quota with its use now (in the order given): two queries for
    the counts, three for each attribute named, however many quotas."""
    quotas = list(quotas)
    if not quotas:
        return []
    units = {quota.business_unit_id for quota in quotas}
    products = {quota.product_id for quota in quotas}
    used: dict[tuple[int, int, str], float] = {}

    def add(queryset: QuerySet[Any], attribute: str, value: Expression | None) -> None:
        rows = (
            queryset.filter(business_unit_id__in=units, product_id__in=products)
            .order_by()
            .values("business_unit_id", "product_id")
            .annotate(total=Count("pk") if value is None else Sum(value))
        )
        for row in rows:
            key = (row["business_unit_id"], row["product_id"], attribute)
            used[key] = used.get(key, 0.0) + float(row["total"] or 0)

    if any(not quota.attribute for quota in quotas):
        add(live_instances(), "", None)
        add(pending_creations(), "", None)
    for attribute in sorted({quota.attribute for quota in quotas if quota.attribute}):
        add(live_instances(), attribute, instance_value(attribute))
        add(pending_creations(), attribute, input_value(attribute))
        add(pending_updates(), attribute, update_increase(attribute))
    return [
        QuotaUse(quota, used.get((quota.business_unit_id, quota.product_id, quota.attribute), 0.0))
        for quota in quotas
    ]


# --- The check of a placement ----------------------------------------------------------


def quota_admission(placement: Placement) -> Admission:
    """The consumption domain's admission check (``portal.orders.hooks``):
    the order's business unit, locked, and its quotas on the product. An
    order over a quota is refused (``QuotaExceeded``), or sent to approval
    with the excess stated when its product says ``over_quota: approval``."""
    unit, quotas = _unit_and_quotas(placement)
    if unit is None:
        return Admission()
    excesses = _excesses(placement, unit, quotas)
    if not excesses:
        return Admission(business_unit_id=unit.pk)
    if placement.product.over_quota == OverQuota.APPROVAL:
        return Admission(business_unit_id=unit.pk, approval_reason=" ".join(excesses))
    raise QuotaExceeded(" ".join(excesses))


def _unit_and_quotas(placement: Placement) -> tuple[UnitRef | None, list[Quota]]:
    """The placement's business unit and its quotas on the product, in one
    statement that locks the unit's row (see the module's docstring). An
    operation is for its instance's unit; a create order for the
    requester's (``choose_unit``)."""
    units = BusinessUnit.objects.annotate(
        product_quota=FilteredRelation("quotas", condition=Q(quotas__product_id=placement.product.pk))
    )
    if placement.instance_id is not None:
        units = units.filter(instances__pk=placement.instance_id)
    else:
        units = units.filter(memberships__user_id=placement.requester.pk)
        if placement.business_unit is not None:
            units = units.filter(slug=placement.business_unit)
    rows = (
        units.select_for_update(of=("self",))
        .order_by("slug", "product_quota__attribute")
        .values_list(
            "pk",
            "slug",
            "name",
            "product_quota__pk",
            "product_quota__max_instances",
            "product_quota__attribute",
            "product_quota__max_total",
        )
    )
    found: dict[int, UnitRef] = {}
    quotas: dict[int, list[Quota]] = {}
    for pk, slug, name, quota_pk, max_instances, attribute, max_total in rows:
        found.setdefault(pk, UnitRef(pk, slug, name))
        if quota_pk is not None:
            quotas.setdefault(pk, []).append(
                Quota(
                    pk=quota_pk,
                    business_unit_id=pk,
                    product_id=placement.product.pk,
                    max_instances=max_instances,
                    attribute=attribute,
                    max_total=max_total,
                )
            )
    if placement.instance_id is not None:
        unit = _instance_unit(list(found.values()), placement.business_unit)
    else:
        unit = choose_unit(list(found.values()), placement.business_unit)
    return unit, quotas.get(unit.pk, []) if unit is not None else []


def unit_handover(instance: ServiceInstance, recipient: User, chosen: str | None) -> Handover:
    """The consumption domain's handover check (``portal.instances.hooks``):
    an instance that changes hands is charged to a unit of its new owner.

    It stays in its unit when the recipient belongs to it (and names no
    other); else it goes to the unit they name, or their only one, or to no
    unit when they belong to none; a recipient of several must name one.
    Moving into a unit counts the instance against that unit's quotas as a
    new one would (the unit's row locked, as a placement locks it): over a
    quota, the handover is refused, whatever the product says of orders
    over quota (a handover has no approval to go to)."""
    units = unit_refs_of(recipient)
    if chosen is None and any(unit.pk == instance.business_unit_id for unit in units):
        return Handover()
    unit = choose_unit(units, chosen, purpose=f"{instance.name} is charged to")
    if unit is None:
        return (
            Handover(columns={"business_unit_id": None}, note="charged to no business unit")
            if instance.business_unit_id
            else Handover()
        )
    if unit.pk == instance.business_unit_id:
        return Handover()
    placement = Placement(
        requester=recipient,
        product=instance.product,
        operation=None,
        instance_id=None,
        # What the quotas count for it: a reported attribute, else the
        # input of that name its creating order was given (``instance_value``).
        inputs={**_creation_inputs(instance), **instance.attributes},
        business_unit=unit.slug,
    )
    _, quotas = _unit_and_quotas(placement)
    excesses = _excesses(placement, unit, quotas, subject=f"taking {instance.name} over")
    if excesses:
        raise QuotaExceeded(" ".join(excesses))
    return Handover(columns={"business_unit_id": unit.pk}, note=f"now charged to {unit.name}")


def _creation_inputs(instance: ServiceInstance) -> dict[str, Any]:
    if instance.created_by_order_id is None:
        return {}
    inputs = Order.objects.filter(pk=instance.created_by_order_id).values_list("inputs", flat=True).first()
    return dict(inputs) if isinstance(inputs, dict) else {}


def _instance_unit(units: list[UnitRef], chosen: str | None) -> UnitRef | None:
    """An operation counts against its instance's unit; naming another is refused."""
    unit = units[0] if units else None
    if chosen is not None and (unit is None or unit.slug != chosen):
        charged = f"{unit.name} ({unit.slug})" if unit else "no business unit"
        raise BusinessUnitChoiceError(
            f"This instance is charged to {charged}: its operations count against it, "
            "so leave business_unit out or name that unit."
        )
    return unit


def _demand(placement: Placement, quota: Quota, current: float) -> float:
    """How much the placement adds to ``quota`` (``current``: the
    instance's value of the quota's attribute, for an operation)."""
    if placement.operation is None:
        if not quota.attribute:
            return 1.0
        return _as_number(placement.inputs.get(quota.attribute)) or 0.0
    if not quota.attribute or placement.operation.kind not in RAISING_KINDS:
        return 0.0
    new = _as_number(placement.inputs.get(quota.attribute))
    return max(new - current, 0.0) if new is not None else 0.0


def _may_add(placement: Placement, quota: Quota) -> bool:
    """Whether the placement may add anything to ``quota`` (else nothing is counted)."""
    if placement.operation is None:
        return not quota.attribute or bool(_as_number(placement.inputs.get(quota.attribute)))
    return (
        bool(quota.attribute)
        and placement.operation.kind in RAISING_KINDS
        and _as_number(placement.inputs.get(quota.attribute)) is not None
    )


def _excesses(
    placement: Placement, unit: UnitRef, quotas: list[Quota], subject: str = "this order"
) -> list[str]:
    """What the placement would exceed, in words; empty when it fits."""
    concerned = [quota for quota in quotas if _may_add(placement, quota)]
    if not concerned:
        return []
    use = _use_now(unit.pk, placement, concerned)
    excesses = []
    for quota in concerned:
        used = use[_column(quota)]
        demand = _demand(placement, quota, use.get(_current_column(quota), 0.0))
        limit = QuotaUse(quota, used).limit
        if demand > 0 and used + demand > limit + EPSILON:
            excesses.append(
                _excess_message(
                    unit, placement, quota, used=used, demand=demand, limit=limit, subject=subject
                )
            )
    return excesses


def _column(quota: Quota) -> str:
    return f"total_{quota.attribute}" if quota.attribute else "count"


def _current_column(quota: Quota) -> str:
    return f"current_{quota.attribute}"


def _use_now(unit_id: int, placement: Placement, quotas: list[Quota]) -> dict[str, float]:
    """The unit's use of the product now (and, for an operation, the
    instance's values), in one statement after the lock."""
    product_id = placement.product.pk
    instances = live_instances().filter(business_unit_id=unit_id, product_id=product_id)
    creations = pending_creations().filter(business_unit_id=unit_id, product_id=product_id)
    updates = pending_updates().filter(business_unit_id=unit_id, product_id=product_id)
    columns: dict[str, Expression | Subquery] = {}
    for quota in quotas:
        attribute = quota.attribute
        if not attribute:
            columns["count"] = _one(instances, None) + _one(creations, None)
            continue
        columns[_column(quota)] = (
            _one(instances, instance_value(attribute))
            + _one(creations, input_value(attribute))
            + _one(updates, update_increase(attribute))
        )
        if placement.instance_id is not None:
            current = ServiceInstance.objects.filter(pk=placement.instance_id).annotate(
                value=instance_value(attribute)
            )
            columns[_current_column(quota)] = Subquery(current.values("value")[:1])
    # Aliased, then read by name: a column name can be anything an
    # attribute is named, never an injection (they are parameters).
    aliases = {f"c{index}": expression for index, expression in enumerate(columns.values())}
    row = BusinessUnit.objects.filter(pk=unit_id).annotate(**aliases).values(*aliases).get()
    return {name: float(row[alias] or 0) for name, alias in zip(columns, aliases, strict=True)}


def _excess_message(
    unit: UnitRef,
    placement: Placement,
    quota: Quota,
    *,
    used: float,
    demand: float,
    limit: float,
    subject: str = "this order",
) -> str:
    """The excess in words, naming the quota, its limit and the use now."""
    product = placement.product.name
    over = format_amount(_decimal(used + demand - limit))
    if not quota.attribute:
        return (
            f"{unit.name}'s quota for {product} is {format_amount(_decimal(limit))} instances, "
            f"and {format_amount(_decimal(used))} are in use or on order: {subject} would make "
            f"{format_amount(_decimal(used + demand))} ({over} over)."
        )
    return (
        f"{unit.name}'s quota for {product} is {format_amount(_decimal(limit))} {quota.attribute} in total, "
        f"and {format_amount(_decimal(used))} are in use or on order: {subject} adds "
        f"{format_amount(_decimal(demand))}, making {format_amount(_decimal(used + demand))} ({over} over)."
    )


def _as_number(value: object) -> float | None:
    """An input's value as a number (booleans are not numbers here)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _decimal(value: float) -> Decimal:
    """A float as the decimal it says to two places (what quotas keep)."""
    return Decimal(str(round(value, 2)))
