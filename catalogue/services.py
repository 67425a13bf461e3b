"""State changes of the catalogue: publishing, retiring, dependencies, choice lists."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F

from catalogue.checks import product_run_problems
from catalogue.choices import ProductStatus
from catalogue.dynamic_choices import forms_naming_lists
from catalogue.models import ChoiceList, Product


class CatalogueError(Exception):
    """An illegal change to the catalogue, with a message for the user."""


def find_dependency_cycle(edges: Mapping[str, Iterable[str]]) -> list[str] | None:
    """Return one dependency cycle as a path (``[a, b, a]``) or ``None``.

    ``edges`` maps a product slug to the slugs it depends on. Iterative DFS so
    a long chain cannot hit the recursion limit.
    """
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for start in sorted(edges):
        if state.get(start):
            continue
        path: list[str] = [start]
        iterators = [iter(sorted(edges.get(start, ())))]
        state[start] = 1
        while iterators:
            following = next(iterators[-1], None)
            if following is None:
                state[path.pop()] = 2
                iterators.pop()
                continue
            if state.get(following) == 1:
                return [*path[path.index(following) :], following]
            if not state.get(following):
                state[following] = 1
                path.append(following)
                iterators.append(iter(sorted(edges.get(following, ()))))
    return None


def dependency_edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    rows = Product.depends_on.through.objects.values_list("from_product__slug", "to_product__slug")
    for source, target in rows:
        edges.setdefault(source, set()).add(target)
    return edges


def validate_dependencies(*, product_slug: str, depends_on: Iterable[Product]) -> None:
    """Refuse a set of dependencies that would depend on itself or close a cycle."""
    targets = {dependency.slug for dependency in depends_on}
    if product_slug in targets:
        raise ValidationError({"depends_on": "A product cannot depend on itself."})
    edges = dependency_edges()
    edges[product_slug] = targets
    cycle = find_dependency_cycle(edges)
    if cycle:
        raise ValidationError({"depends_on": "These dependencies would make a cycle: " + " → ".join(cycle)})


def product_changed(*, product: Product) -> None:
    """Record that the product's definition changed (bumps its version)."""
    Product.objects.filter(pk=product.pk).update(version=F("version") + 1)
    product.refresh_from_db(fields=["version"])


def _set_status(product: Product, status: str) -> Product:
    with transaction.atomic():
        locked = Product.objects.select_for_update().get(pk=product.pk)
        if locked.status == status:
            return locked
        if status == ProductStatus.PUBLISHED and (problems := product_run_problems(locked)):
            # Checked on the locked row: what is published is what was checked.
            raise CatalogueError(" ".join(problems))
        locked.status = status
        if status == ProductStatus.PUBLISHED:
            # Retiring is always allowed: a product saved before a rule
            # existed (a field name now reserved) must still be withdrawable.
            locked.full_clean()
        locked.save(update_fields=["status", "updated_at"])
        product_changed(product=locked)
    product.status = locked.status
    product.version = locked.version
    return locked


def product_publish(*, product: Product) -> Product:
    """Make a product orderable. Raises ``CatalogueError`` when it could not
    run any order (no runbook or playbook, a form whose fields cannot reach
    the playbook, a multi-step approval without steps; see
    ``catalogue.checks``), and ``ValidationError`` for any other rule of the
    product it breaks. Warnings (``product_warnings``) are the caller's to
    confirm."""
    return _set_status(product, ProductStatus.PUBLISHED)


def product_retire(*, product: Product) -> Product:
    """Withdraw a product from the catalogue; its orders and history stay."""
    return _set_status(product, ProductStatus.RETIRED)


def choice_lists_delete(*, choice_lists: Iterable[ChoiceList]) -> None:
    """Delete these lists with their items. Raises ``CatalogueError``, deleting
    none, when a product's or operation's form takes its choices from one:
    every order of it would fail, its choices gone."""
    slugs = {choice_list.slug for choice_list in choice_lists}
    with transaction.atomic():
        uses = forms_naming_lists(slugs)
        if uses:
            raise CatalogueError(
                "Forms take their choices from these lists: "
                f"{'; '.join(str(use) for use in uses)}. Change those forms first."
            )
        ChoiceList.objects.filter(slug__in=slugs).delete()
