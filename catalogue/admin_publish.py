"""The admin's publish confirmation: the products about to be published,
what would stop each (``product_run_problems``: it is then left as it is)
and what the curator should know first (``product_warnings``: the form and
the playbook disagree), on a page of its own before anything changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.admin import ModelAdmin, helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from catalogue.checks import product_run_problems, product_warnings
from catalogue.choices import ProductStatus
from catalogue.models import Product


@dataclass
class PublishCandidate:
    """One selected product, with what its publishing would meet."""

    product: Product
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def publish_candidates(
    model_admin: ModelAdmin[Product], request: HttpRequest, queryset: QuerySet[Product]
) -> list[PublishCandidate]:
    candidates = []
    for product in queryset.select_related("runbook__current_version"):
        if product.status == ProductStatus.PUBLISHED or not model_admin.has_change_permission(
            request, product
        ):
            continue
        problems = product_run_problems(product)
        candidates.append(PublishCandidate(product, problems, [] if problems else product_warnings(product)))
    return candidates


def publish_confirmation(
    model_admin: ModelAdmin[Product], request: HttpRequest, queryset: QuerySet[Product]
) -> TemplateResponse | None:
    """The page asking to confirm, or None when no product has a warning
    (publishing then goes ahead, refusing those that cannot run)."""
    candidates = publish_candidates(model_admin, request, queryset)
    if not any(candidate.warnings for candidate in candidates):
        return None
    context: dict[str, Any] = {
        **model_admin.admin_site.each_context(request),
        "title": "Publish despite warnings?",
        "opts": Product._meta,
        "candidates": candidates,
        "publishable": [candidate for candidate in candidates if not candidate.problems],
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "media": model_admin.media,
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/catalogue/product/publish_confirmation.html", context)
