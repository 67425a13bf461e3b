"""The dependency graph of products across squads, and what breaks when one
of them does.

A product *depends on* another when ordering it only makes sense once the
other exists (a VM needs a VLAN and an IP block). The graph makes visible
where squads must stay in step: who depends on a product, transitively;
what retiring or breaking it would affect (products, squads, open orders);
dependencies on retired products; and dependencies that are failing now.

"Failing" is concrete: over the last ``FAILING_DAYS`` days up to now, at
least ``FAILING_MIN_FINISHED`` of the product's orders reached an outcome
(succeeded, failed or timed out) and more than ``FAILING_RATE`` of those
failed or timed out.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone

from catalogue.choices import ProductStatus
from catalogue.models import Product
from portal.orders.choices import OPEN_STATUSES, OrderStatus
from portal.orders.models import Order
from squads.models import Squad

FAILING_DAYS = 7
FAILING_MIN_FINISHED = 3
FAILING_RATE = 0.25

_OUTCOMES = (OrderStatus.SUCCEEDED, OrderStatus.FAILED, OrderStatus.TIMED_OUT)
_FAILURES = (OrderStatus.FAILED, OrderStatus.TIMED_OUT)

DependsOn = Product.depends_on.through


@dataclass(frozen=True)
class Health:
    """A product's recent outcomes, enough to call it failing or not."""

    finished: int
    failed: int
    days: int = FAILING_DAYS

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.finished if self.finished else None

    @property
    def failing(self) -> bool:
        rate = self.failure_rate
        return self.finished >= FAILING_MIN_FINISHED and rate is not None and rate > FAILING_RATE

    @property
    def summary(self) -> str:
        return f"{self.failed} of its last {self.finished} orders failed in the last {self.days} days"


def product_health(product_ids: list[int] | None = None, *, now: datetime | None = None) -> dict[int, Health]:
    """Recent outcomes per product (one query); products without outcomes
    are absent."""
    now = now or timezone.now()
    queryset = Order.objects.filter(
        status__in=_OUTCOMES, finished_at__gte=now - timedelta(days=FAILING_DAYS), finished_at__lte=now
    )
    if product_ids is not None:
        queryset = queryset.filter(product_id__in=product_ids)
    return {
        row["product_id"]: Health(finished=row["finished"], failed=row["failed"])
        for row in queryset.order_by()
        .values("product_id")
        .annotate(finished=Count("pk"), failed=Count("pk", filter=Q(status__in=_FAILURES)))
    }


@dataclass
class Node:
    product: Product
    depends_on: list[int] = field(default_factory=list)
    dependents: list[int] = field(default_factory=list)
    depth: int = 0
    in_cycle: bool = False
    health: Health | None = None
    open_orders: dict[str, int] = field(default_factory=dict)

    @property
    def failing(self) -> bool:
        return bool(self.health and self.health.failing)

    @property
    def retired(self) -> bool:
        return self.product.status == ProductStatus.RETIRED

    @property
    def open_total(self) -> int:
        return sum(self.open_orders.values())


@dataclass
class Impact:
    """What retiring or breaking ``product`` affects."""

    product: Product
    affected: list[Node]
    squads: list[Squad]
    open_orders: dict[int, dict[str, int]]
    dependencies: list[Node]

    @property
    def open_total(self) -> int:
        return sum(sum(counts.values()) for counts in self.open_orders.values())

    @property
    def other_squads(self) -> list[Squad]:
        return [squad for squad in self.squads if squad.pk != self.product.squad_id]


@dataclass
class Graph:
    nodes: dict[int, Node]
    squads: list[Squad]

    @property
    def edges(self) -> list[tuple[int, int]]:
        """(dependent, dependency) pairs."""
        return [(node.product.pk, target) for node in self.nodes.values() for target in node.depends_on]

    def layers(self) -> list[list[Node]]:
        by_depth: dict[int, list[Node]] = defaultdict(list)
        for node in self.nodes.values():
            by_depth[node.depth].append(node)
        return [by_depth[depth] for depth in sorted(by_depth)]

    def _walk(self, start: int, step: str) -> list[int]:
        seen: set[int] = {start}
        order: list[int] = []
        queue = deque([start])
        while queue:
            current = queue.popleft()
            for neighbour in getattr(self.nodes[current], step):
                if neighbour not in seen and neighbour in self.nodes:
                    seen.add(neighbour)
                    order.append(neighbour)
                    queue.append(neighbour)
        return order

    def dependents_of(self, product_id: int) -> list[Node]:
        """Everything that depends on the product, directly or not, nearest first."""
        return [self.nodes[pk] for pk in self._walk(product_id, "dependents")]

    def dependencies_of(self, product_id: int) -> list[Node]:
        """Everything the product depends on, directly or not, nearest first."""
        return [self.nodes[pk] for pk in self._walk(product_id, "depends_on")]

    def impact(self, product_id: int) -> Impact:
        node = self.nodes[product_id]
        affected = self.dependents_of(product_id)
        squad_ids = {node.product.squad_id, *(other.product.squad_id for other in affected)}
        return Impact(
            product=node.product,
            affected=affected,
            squads=[squad for squad in self.squads if squad.pk in squad_ids],
            open_orders={
                other.product.pk: other.open_orders for other in [node, *affected] if other.open_orders
            },
            dependencies=self.dependencies_of(product_id),
        )

    def retired_dependencies(self) -> list[tuple[Node, Node]]:
        """(product, retired dependency) for every live product that still
        depends on a retired one."""
        return [
            (node, self.nodes[target])
            for node in self.nodes.values()
            if not node.retired
            for target in node.depends_on
            if self.nodes[target].retired
        ]

    def failing_dependencies(self) -> list[tuple[Node, Node]]:
        return [
            (node, self.nodes[target])
            for node in self.nodes.values()
            for target in node.depends_on
            if self.nodes[target].failing
        ]

    def most_depended_on(self, limit: int = 10) -> list[tuple[Node, int]]:
        counted = [(node, len(self.dependents_of(node.product.pk))) for node in self.nodes.values()]
        counted = [item for item in counted if item[1]]
        counted.sort(key=lambda item: (-item[1], item[0].product.name))
        return counted[:limit]


def _assign_depths(nodes: dict[int, Node]) -> None:
    """Depth = longest chain of dependencies below a product (0: depends on
    nothing). An edge that closes a cycle is ignored for depth and both ends
    are flagged."""
    state: dict[int, int] = {}  # 1 = on the stack, 2 = done

    def visit(pk: int) -> int:
        state[pk] = 1
        depth = 0
        for target in nodes[pk].depends_on:
            if state.get(target) == 1:
                nodes[pk].in_cycle = nodes[target].in_cycle = True
                continue
            below = nodes[target].depth if state.get(target) == 2 else visit(target)
            depth = max(depth, below + 1)
        nodes[pk].depth = depth
        state[pk] = 2
        return depth

    for pk in sorted(nodes):
        if pk not in state:
            visit(pk)


def dependency_graph(
    *, now: datetime | None = None, squad_id: int | None = None, product_id: int | None = None
) -> Graph:
    """Published products and the retired ones something still depends on,
    with health and open orders (four queries). With ``squad_id``: the
    squad's products and everything linked to them, directly or not; with
    ``product_id``: that product and everything linked to it."""
    now = now or timezone.now()
    edges = list(DependsOn.objects.values_list("from_product_id", "to_product_id"))
    linked = {pk for edge in edges for pk in edge}
    products = Product.objects.select_related("squad").filter(
        Q(status=ProductStatus.PUBLISHED) | Q(status=ProductStatus.RETIRED, pk__in=linked)
    )
    nodes = {product.pk: Node(product=product) for product in products}
    for source, target in edges:
        if source in nodes and target in nodes:
            nodes[source].depends_on.append(target)
            nodes[target].dependents.append(source)
    if squad_id is not None or product_id is not None:
        graph = Graph(nodes=nodes, squads=[])
        keep: set[int] = set()
        for node in list(nodes.values()):
            if (squad_id is None or node.product.squad_id == squad_id) and (
                product_id is None or node.product.pk == product_id
            ):
                keep.add(node.product.pk)
                keep.update(other.product.pk for other in graph.dependents_of(node.product.pk))
                keep.update(other.product.pk for other in graph.dependencies_of(node.product.pk))
        nodes = {pk: node for pk, node in nodes.items() if pk in keep}
        for node in nodes.values():
            node.depends_on = [pk for pk in node.depends_on if pk in nodes]
            node.dependents = [pk for pk in node.dependents if pk in nodes]
    _assign_depths(nodes)
    for pk, health in product_health(list(nodes), now=now).items():
        nodes[pk].health = health
    for row in (
        Order.objects.filter(product_id__in=list(nodes), status__in=list(OPEN_STATUSES))
        .order_by()
        .values("product_id", "status")
        .annotate(count=Count("pk"))
    ):
        nodes[row["product_id"]].open_orders[row["status"]] = row["count"]
    squad_ids = {node.product.squad_id for node in nodes.values()}
    squads = [node.product.squad for node in nodes.values()]
    unique = {squad.pk: squad for squad in squads if squad.pk in squad_ids}
    return Graph(nodes=nodes, squads=sorted(unique.values(), key=lambda squad: squad.name))


@dataclass
class DependencyAlert:
    """Something wrong upstream of a product, for its page."""

    dependency: Product
    kind: str  # "failing" or "retired"
    message: str
    direct: bool


def dependency_alerts(product: Product, *, now: datetime | None = None) -> list[DependencyAlert]:
    """What the product's page warns about: dependencies (direct or not)
    that are retired or failing now. Three queries."""
    now = now or timezone.now()
    below: dict[int, list[int]] = defaultdict(list)
    for source, target in DependsOn.objects.values_list("from_product_id", "to_product_id"):
        below[source].append(target)
    direct = set(below.get(product.pk, []))
    upstream: list[int] = []
    seen = {product.pk}
    queue = deque(below.get(product.pk, []))
    while queue:
        current = queue.popleft()
        if current in seen:
            continue
        seen.add(current)
        upstream.append(current)
        queue.extend(below.get(current, []))
    if not upstream:
        return []
    products = Product.objects.select_related("squad").in_bulk(upstream)
    health = product_health(upstream, now=now)
    alerts = []
    for pk in upstream:
        dependency = products[pk]
        via = "" if pk in direct else " (through another dependency)"
        if dependency.status == ProductStatus.RETIRED:
            alerts.append(
                DependencyAlert(
                    dependency=dependency,
                    kind="retired",
                    message=f"{dependency.name} ({dependency.squad.name}) is retired{via}.",
                    direct=pk in direct,
                )
            )
        elif pk in health and health[pk].failing:
            alerts.append(
                DependencyAlert(
                    dependency=dependency,
                    kind="failing",
                    message=f"{dependency.name} ({dependency.squad.name}) is failing: "
                    f"{health[pk].summary}{via}.",
                    direct=pk in direct,
                )
            )
    return alerts


def open_orders_affected(product_ids: list[int], *, limit: int = 200) -> Sequence[Mapping[str, Any]]:
    """Open orders of the given products, oldest first."""
    return list(
        Order.objects.filter(product_id__in=product_ids, status__in=list(OPEN_STATUSES))
        .order_by("created_at", "pk")
        .values("pk", "product_id", "product__name", "squad__name", "status", "created_at")[:limit]
    )
