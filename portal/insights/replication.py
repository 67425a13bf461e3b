"""Replicated resources: products of different squads that provide the same
kind of thing, with what each costs, so a platform lead sees where
consolidating on one would pay.

Two products are compared on up to three facets, each from 0 to 1:

- ``runbook``: how alike their runbooks are (``tooling``'s similarity of
  the playbooks: modules, task structure, variables, roles, collections),
  when both are automated;
- ``attributes``: the share of attribute names they have in common
  (Jaccard): the fields of their order and operation forms and the
  attributes their latest instance reported (``vcpus``, ``size_gb``);
- ``category``: 1 when they sit on the same shelf of the catalogue.

The score is the facets' weighted mean (``WEIGHTS``) over the facets that
apply: the category always, the attributes when either product has any,
the runbooks when both have one. A shelf alone says little, so a pair
needs the runbook or the attribute facet to be listed at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from itertools import combinations
from typing import Any

from django.db.models import Count, OuterRef, Subquery

from catalogue.choices import ProductStatus
from catalogue.models import Operation, Product
from portal.insights.tooling import runbook_similarities
from portal.instances.choices import InstanceState
from portal.instances.models import ServiceInstance

WEIGHTS = {"runbook": 0.5, "attributes": 0.3, "category": 0.2}
#: Pairs scoring at least this are listed.
REPLICATED = 0.6


@dataclass
class ReplicatedPair:
    """Two products of different squads that look like the same service;
    ``first`` is the one that cost more over the period."""

    first: Product
    second: Product
    score: float
    by_facet: dict[str, float]
    shared_attributes: list[str]
    first_spend: Decimal = Decimal(0)
    second_spend: Decimal = Decimal(0)
    first_running: int = 0
    second_running: int = 0

    @property
    def spend(self) -> Decimal:
        return self.first_spend + self.second_spend


@dataclass
class _Candidate:
    product: Product
    attributes: set[str] = field(default_factory=set)


def _form_fields(schema: Any) -> set[str]:
    properties = schema.get("properties") if isinstance(schema, dict) else None
    return set(properties) if isinstance(properties, dict) else set()


def _candidates() -> list[_Candidate]:
    """Every product on offer or retired (drafts are not a service yet),
    with its attribute names (three queries)."""
    latest = (
        ServiceInstance.objects.filter(product_id=OuterRef("pk"))
        .order_by("-created_at", "-id")
        .values("attributes")[:1]
    )
    products = list(
        Product.objects.exclude(status=ProductStatus.DRAFT)
        .select_related("squad", "category")
        .annotate(latest_attributes=Subquery(latest))
        .order_by("name", "pk")
    )
    candidates = {product.pk: _Candidate(product=product) for product in products}
    for product in products:
        reported = product.latest_attributes
        names = _form_fields(product.form_schema)
        if isinstance(reported, dict):
            names |= set(reported)
        candidates[product.pk].attributes = names
    for product_id, schema in Operation.objects.filter(product_id__in=candidates).values_list(
        "product_id", "form_schema"
    ):
        candidates[product_id].attributes |= _form_fields(schema)
    return list(candidates.values())


def _compare(
    first: _Candidate, second: _Candidate, runbooks: dict[frozenset[int], float]
) -> tuple[float, dict[str, float], list[str]] | None:
    by_facet: dict[str, float] = {}
    first_runbook, second_runbook = first.product.runbook_id, second.product.runbook_id
    if first_runbook is not None and second_runbook is not None:
        found = runbooks.get(frozenset({first_runbook, second_runbook}))
        if found is not None:
            by_facet["runbook"] = found
    shared = first.attributes & second.attributes
    if first.attributes or second.attributes:
        by_facet["attributes"] = len(shared) / len(first.attributes | second.attributes)
    if not by_facet:
        return None
    by_facet["category"] = 1.0 if first.product.category_id == second.product.category_id else 0.0
    weight = sum(WEIGHTS[facet] for facet in by_facet)
    score = sum(WEIGHTS[facet] * value for facet, value in by_facet.items()) / weight
    return score, by_facet, sorted(shared)


def replicated_resources(spend: dict[int, Decimal], *, threshold: float = REPLICATED) -> list[ReplicatedPair]:
    """Pairs of products of different squads scoring at least
    ``threshold``, with ``spend`` (per product id, over the period the
    caller chose) and their instances kept: the pairs that cost most
    together first (about seven queries)."""
    candidates = _candidates()
    runbooks = runbook_similarities()
    pairs = []
    for first, second in combinations(candidates, 2):
        if first.product.squad_id == second.product.squad_id:
            continue
        compared = _compare(first, second, runbooks)
        if compared is None or compared[0] < threshold:
            continue
        score, by_facet, shared = compared
        one, other = first.product, second.product
        if spend.get(other.pk, Decimal(0)) > spend.get(one.pk, Decimal(0)):
            one, other = other, one
        pairs.append(
            ReplicatedPair(
                first=one,
                second=other,
                score=score,
                by_facet=by_facet,
                shared_attributes=shared,
                first_spend=spend.get(one.pk, Decimal(0)),
                second_spend=spend.get(other.pk, Decimal(0)),
            )
        )
    if pairs:
        running = dict(
            ServiceInstance.objects.exclude(state=InstanceState.DECOMMISSIONED)
            .filter(product_id__in={product.pk for pair in pairs for product in (pair.first, pair.second)})
            .order_by()
            .values_list("product_id")
            .annotate(count=Count("pk"))
        )
        for pair in pairs:
            pair.first_running = running.get(pair.first.pk, 0)
            pair.second_running = running.get(pair.second.pk, 0)
    pairs.sort(key=lambda pair: (-pair.spend, -pair.score, pair.first.name, pair.second.name))
    return pairs
