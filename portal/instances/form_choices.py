"""Instances as an order form's choices (``x-choices-from: {instances:
<product>}``, ``catalogue.dynamic_choices``): the requester's own active
instances of a product, the run's view of the one picked, and the
dependency a picked instance makes.

The catalogue cannot import this domain: ``register`` hands it the
provider when the portal is ready (``portal.apps``).
"""

from __future__ import annotations

from typing import Any

from catalogue.dynamic_choices import Choice, dynamic_fields, instance_choices_register
from portal.instances.attributes import clear_attributes, secret_values
from portal.instances.choices import InstanceState
from portal.instances.models import ServiceInstance
from portal.orders.hooks import RunContext, order_run_context_register
from portal.orders.models import Order

#: The run variable that carries the instances picked in the form, by field.
CHOSEN_VARIABLE = "squadron_chosen_instances"


def instance_choices(user: Any, product_slug: str) -> list[Choice]:
    """``user``'s active instances of the product, by name (none for anyone
    not signed in)."""
    if not getattr(user, "is_authenticated", False):
        return []
    rows = (
        ServiceInstance.objects.filter(owner=user, product__slug=product_slug, state=InstanceState.ACTIVE)
        .order_by("name", "pk")
        .values_list("pk", "name")
    )
    return [Choice(pk, f"{name} (#{pk})") for pk, name in rows]


def chosen_instance_ids(order: Order) -> dict[str, int]:
    """The instances the order's form picked, by field (from its pinned form)."""
    chosen: dict[str, int] = {}
    for name, source in dynamic_fields(order.form_schema).items():
        value = (order.inputs or {}).get(name)
        if "instances" in source and isinstance(value, int) and not isinstance(value, bool):
            chosen[name] = value
    return chosen


def chosen_run_context(order: Order) -> RunContext:
    """``squadron_chosen_instances``: for each field that picked an instance,
    that instance as an operation's playbook sees its own (``id``, ``name``,
    ``product``, ``attributes``, clear but masked in the output). Only an
    instance the requester still owns and that is not decommissioned is
    given: what changed since the order was placed is left out."""
    chosen = chosen_instance_ids(order)
    if not chosen:
        return RunContext()
    instances = {
        instance.pk: instance
        for instance in ServiceInstance.objects.select_related("product")
        .filter(pk__in=set(chosen.values()), owner_id=order.requester_id)
        .exclude(state=InstanceState.DECOMMISSIONED)
    }
    variables: dict[str, Any] = {}
    secrets: list[str] = []
    for field, pk in chosen.items():
        instance = instances.get(pk)
        if instance is None:
            continue
        variables[field] = {
            "id": instance.pk,
            "name": instance.name,
            "product": instance.product.slug,
            "attributes": clear_attributes(instance),
        }
        secrets.extend(secret_values(instance))
    return RunContext(variables={CHOSEN_VARIABLE: variables}, secrets=secrets)


def register() -> None:
    instance_choices_register(instance_choices)
    order_run_context_register("chosen-instances", chosen_run_context)
