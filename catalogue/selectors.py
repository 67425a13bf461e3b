"""Reads of the catalogue shared by the portal pages and the API."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet

from catalogue.choices import ProductStatus
from catalogue.models import ApprovalStep, Product
from squads.models import Membership


def products_orderable() -> QuerySet[Product]:
    """Published products with what a catalogue card or page shows."""
    return (
        Product.objects.filter(status=ProductStatus.PUBLISHED)
        .select_related("category", "squad")
        .order_by("category__position", "category__name", "name")
    )


def product_for_page(slug: str) -> Product:
    """A published product with its owners and dependencies, or DoesNotExist."""
    return (
        products_orderable()
        .select_related("runbook")
        .prefetch_related(
            Prefetch("depends_on", queryset=Product.objects.select_related("squad")),
            Prefetch(
                "squad__memberships",
                queryset=Membership.objects.select_related("user").order_by("role", "user__username"),
            ),
        )
        .get(slug=slug)
    )


def approval_steps_in_order() -> QuerySet[ApprovalStep]:
    """Approval steps in the order they open, with whom they name."""
    return ApprovalStep.objects.select_related("squad", "chapter").order_by("position", "id")


FINGERPRINT_SQL = (
    "SELECT (SELECT COUNT(*) FROM catalogue_product), (SELECT MAX(updated_at) FROM catalogue_product), "
    "(SELECT SUM(version) FROM catalogue_product), (SELECT COUNT(*) FROM squads_squad), "
    "(SELECT MAX(updated_at) FROM squads_squad), (SELECT CATEGORIES FROM catalogue_category)"
)


def catalogue_fingerprint() -> str:
    """A value that changes whenever anything a catalogue listing shows
    changes (a product saved, published, retired, deleted or re-versioned; a
    squad or category renamed or moved): the key under which a rendered
    listing may be reused. One cheap query."""
    from django.db import connection

    categories = (
        "string_agg(id || ':' || slug || ':' || name || ':' || position, ',' ORDER BY id)"
        if connection.vendor == "postgresql"
        else "group_concat(id || ':' || slug || ':' || name || ':' || position, ',')"
    )
    sql = FINGERPRINT_SQL.replace("CATEGORIES", categories)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        row = cursor.fetchone()
    return hashlib.sha256(repr(row).encode()).hexdigest()


@dataclass(frozen=True)
class ShelfCategory:
    slug: str
    name: str
    description: str


@dataclass(frozen=True)
class SquadName:
    slug: str
    name: str


@dataclass(frozen=True)
class CatalogueEntry:
    """A published product as a catalogue card shows it (and search ranks it)."""

    slug: str
    name: str
    summary: str
    tags: str
    sla_minutes: int
    approval_policy: str
    fulfilment: str
    category: ShelfCategory
    squad: SquadName

    @property
    def tag_list(self) -> list[str]:
        return [tag.strip() for tag in self.tags.split(",") if tag.strip()]


def catalogue_entries() -> list[CatalogueEntry]:
    """Every published product, by category, from one narrow query.

    The catalogue page shows and searches the whole published catalogue on
    every request; a dozen columns as plain values cost a fraction of a
    thousand model instances with their category and squad (and their JSON
    form schemas, which a card never shows).
    """
    rows = (
        Product.objects.filter(status=ProductStatus.PUBLISHED)
        .order_by("category__position", "category__name", "name")
        .values_list(
            "slug",
            "name",
            "summary",
            "tags",
            "sla_minutes",
            "approval_policy",
            "fulfilment",
            "category__slug",
            "category__name",
            "category__description",
            "squad__slug",
            "squad__name",
        )
    )
    categories: dict[str, ShelfCategory] = {}
    squads: dict[str, SquadName] = {}
    entries = []
    for slug, name, summary, tags, sla, approval, fulfilment, c_slug, c_name, c_text, s_slug, s_name in rows:
        category = categories.get(c_slug) or categories.setdefault(
            c_slug, ShelfCategory(c_slug, c_name, c_text)
        )
        squad = squads.get(s_slug) or squads.setdefault(s_slug, SquadName(s_slug, s_name))
        entries.append(CatalogueEntry(slug, name, summary, tags, sla, approval, fulfilment, category, squad))
    return entries
