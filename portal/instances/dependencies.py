"""Which instances need which: recorded from what runbooks report
(``squadron.instance.depends_on``), read for an instance's page, the API
and the warning before a decommissioning.

A report names instances by id, and a report is a playbook's word: only
instances the order's requester may see, that are not decommissioned and
are not the instance itself are recorded; every other id is left out with
a sentence for the run's log that tells nothing of instances the requester
may not see. A viewer sees the instances on either side of a dependency
that they may see by name, and the others only as a count per product.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from django.db.models import QuerySet

from portal.instances.choices import InstanceState
from portal.instances.models import InstanceDependency, ServiceInstance
from portal.instances.permissions import can_view
from portal.instances.selectors import instances_visible_to
from portal.orders.models import Order
from squads.selectors import AnyUser


def instance_dependencies_set(
    *, instance: ServiceInstance, depends_on: list[int], order: Order
) -> tuple[list[int], list[str]]:
    """Make what ``instance`` depends on exactly the instances of
    ``depends_on`` that may be recorded (see the module); answer their ids
    and a sentence for each id left out. Called inside the transaction of
    the order's move that took the report."""
    candidates = dict(
        instances_visible_to(order.requester).filter(pk__in=depends_on).values_list("pk", "state").order_by()
    )
    kept: list[int] = []
    ignored: list[str] = []
    for pk in depends_on:
        if pk == instance.pk:
            ignored.append(f"Dependency #{pk} ignored: an instance cannot depend on itself.")
        elif pk not in candidates:
            ignored.append(f"Dependency #{pk} ignored: the order's requester sees no instance with this id.")
        elif candidates[pk] == InstanceState.DECOMMISSIONED:
            ignored.append(f"Dependency #{pk} ignored: that instance is decommissioned.")
        else:
            kept.append(pk)
    InstanceDependency.objects.filter(instance=instance).exclude(depends_on_id__in=kept).delete()
    InstanceDependency.objects.bulk_create(
        [InstanceDependency(instance=instance, depends_on_id=pk, source=order) for pk in kept],
        ignore_conflicts=True,
    )
    return kept, ignored


@dataclass
class Related:
    """The instances on one side of an instance's dependencies, as one
    viewer may see them: ``shown`` by name, the rest as ``(product name,
    how many)``."""

    shown: list[ServiceInstance] = field(default_factory=list)
    hidden: list[tuple[str, int]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.shown) + sum(count for _, count in self.hidden)

    def __bool__(self) -> bool:
        return self.total > 0


def dependents_of(instance: ServiceInstance) -> QuerySet[ServiceInstance]:
    """What depends on ``instance`` and is not decommissioned, whoever sees it."""
    return ServiceInstance.objects.filter(dependencies__depends_on=instance).exclude(
        state=InstanceState.DECOMMISSIONED
    )


def instance_dependents(viewer: AnyUser, instance: ServiceInstance) -> Related:
    """What depends on ``instance`` (decommissioned ones no longer do)."""
    return _as_seen_by(viewer, dependents_of(instance))


def instance_dependencies(viewer: AnyUser, instance: ServiceInstance) -> Related:
    """What ``instance`` depends on, in whatever state it is now."""
    return _as_seen_by(viewer, ServiceInstance.objects.filter(dependents__instance=instance))


def _as_seen_by(viewer: AnyUser, instances: QuerySet[ServiceInstance]) -> Related:
    related = Related()
    hidden: Counter[str] = Counter()
    for other in instances.select_related("product", "owner").order_by("product__name", "name", "pk"):
        if can_view(viewer, other):
            related.shown.append(other)
        else:
            hidden[other.product.name] += 1
    related.hidden = sorted(hidden.items())
    return related
