"""The catalogue's pages: the front page (shelves by category, or search
results) and a product's page with its order form."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import groupby
from typing import Any

from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.vary import vary_on_headers

from catalogue.dynamic_choices import live_schema
from catalogue.markdown import render_markdown
from catalogue.models import Product
from catalogue.search import search_products
from catalogue.selectors import catalogue_entries, product_for_page
from portal.consumption.membership import unit_refs_of
from portal.consumption.selectors import product_usage_for_member, product_usage_for_squad
from portal.insights.breakdowns import expected_lead_time
from portal.instances.selectors import instance_counts
from portal.orders.models import Order
from portal.orders.selectors import orders_visible_to
from portal.orders.submission import ReviewExpired, open_review
from portal.pages.base import AuthenticatedHttpRequest, login_required
from portal.pages.forms import BusinessUnitForm, CatalogueFilterForm, OrderForm, form_data, schema_initial
from portal.pages.resume import resumed_fields
from portal.web.confirm import id_from_text
from squads.choices import Role

#: Products per category on the catalogue's front page; "All N" shows the rest.
SHELF_SIZE = 8
RESULTS_PER_PAGE = 48


def _distinct(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(dict.fromkeys(pairs))


@login_required
@vary_on_headers("HX-Request")
def catalogue_home(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Published products by category, or the ranked matches of a search.

    One query: the whole published catalogue (a few hundred products) is
    loaded once and filtered and ranked in Python (catalogue/search.py).
    """
    products = catalogue_entries()
    categories = _distinct((p.category.slug, p.category.name) for p in products)
    squads = sorted(_distinct((p.squad.slug, p.squad.name) for p in products), key=lambda pair: pair[1])
    form = CatalogueFilterForm(request.GET or None, categories=categories, squads=squads)
    query, category, squad = form.value("q"), form.value("category"), form.value("squad")
    context: dict[str, Any] = {"form": form, "query": query, "total": len(products)}
    if query or category or squad:
        matches = [
            product
            for product in products
            if (not category or product.category.slug == category)
            and (not squad or product.squad.slug == squad)
        ]
        if query:
            matches = search_products(matches, query)
        page = Paginator(matches, RESULTS_PER_PAGE).get_page(request.GET.get("page"))
        params = request.GET.copy()
        params.pop("page", None)
        context.update(
            {
                "results": page,
                "result_count": len(matches),
                "page_query": params.urlencode(),
                "category_name": dict(categories).get(category, ""),
                "squad_name": dict(squads).get(squad, ""),
            }
        )
    else:
        shelves = []
        for shelf_category, items in groupby(products, key=lambda product: product.category):
            shelf = list(items)
            shelves.append({"category": shelf_category, "products": shelf[:SHELF_SIZE], "count": len(shelf)})
        context["shelves"] = shelves
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "portal/partials/catalogue_results.html", context)
    return render(request, "portal/catalogue_home.html", context)


def product_or_404(slug: str) -> Product:
    try:
        return product_for_page(slug)
    except Product.DoesNotExist:
        raise Http404("No such product in the catalogue.") from None


def render_product(
    request: AuthenticatedHttpRequest,
    product: Product,
    form: OrderForm,
    *,
    unit_form: BusinessUnitForm | None = None,
    status: int = 200,
    retype_secrets: bool = False,
    filled_from: int | None = None,
) -> HttpResponse:
    memberships = list(product.squad.memberships.all())
    owners = [m.user for m in memberships if m.role == Role.PRODUCT_OWNER]
    recent_orders = list(
        orders_visible_to(request.user)
        .filter(requester=request.user, product=product)
        .order_by("-created_at")[:5]
    )
    units = unit_refs_of(request.user)
    if unit_form is None and len(units) > 1:
        unit_form = BusinessUnitForm([(unit.slug, unit.name) for unit in units])
    # The owning squad sees every unit's quota on its product; a member of
    # units, theirs.
    squad_usage = product_usage_for_squad(request.user, product)
    return render(
        request,
        "portal/product_detail.html",
        {
            "product": product,
            "description_html": render_markdown(product.description),
            "owners": owners,
            "dependencies": list(product.depends_on.all()),
            "lead_time": expected_lead_time(product),
            "form": form,
            "retype_secrets": retype_secrets and bool(form.secret_names),
            "filled_from": filled_from,
            "recent_orders": recent_orders,
            "instance_count": instance_counts([product]).get(product.pk, 0) if product.instance else None,
            "business_units": units,
            "unit_form": unit_form,
            "error_count": form.error_count() + (len(unit_form.errors) if unit_form else 0),
            "quota_uses": squad_usage or product_usage_for_member(request.user, product),
            "quota_view": "squad" if squad_usage else "member",
        },
        status=status,
    )


@login_required
def product_detail(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    product = product_or_404(slug)
    # "Order again with these details": the earlier order's values; its
    # secrets are never shown, so they are typed again.
    # Said on the form, where "Order again" leads (#order), not in a banner
    # above it that the jump scrolls out of sight.
    again = _order_to_repeat(request, product)
    resumed = _resumed_order_form(request, product)
    if resumed is not None:
        form, unit = resumed
        units = unit_refs_of(request.user)
        unit_form = (
            BusinessUnitForm([(ref.slug, ref.name) for ref in units], initial={"business_unit": unit})
            if len(units) > 1
            else None
        )
        return render_product(request, product, form, unit_form=unit_form, retype_secrets=True)
    schema = live_schema(product.form_schema, request.user)
    initial = schema_initial(schema, again.inputs if again is not None else None)
    form = OrderForm(schema, initial=initial)
    return render_product(
        request,
        product,
        form,
        retype_secrets=again is not None,
        filled_from=again.pk if again is not None else None,
    )


def _resumed_order_form(
    request: AuthenticatedHttpRequest, product: Product
) -> tuple[OrderForm, str | None] | None:
    """The order form as it was sent when the session had expired, if this
    page offers it again now (``portal.pages.resume``), and the business unit
    it named: the fields as typed, or the inputs of the review being placed,
    if it was sealed for this very person. Secrets were never kept."""
    fields = resumed_fields(request, reverse("product-order", args=[product.slug]))
    if fields is None:
        return None
    unit = fields.get("business_unit") or None
    if fields.get("step") in ("confirm", "edit"):
        try:
            review = open_review(fields.get("review", ""), user_id=request.user.pk, product_id=product.pk)
        except ReviewExpired:
            return None
        fields, unit = form_data(product.form_schema, review.inputs), review.business_unit
    return OrderForm(live_schema(product.form_schema, request.user), data=fields), unit


def _order_to_repeat(request: AuthenticatedHttpRequest, product: Product) -> Order | None:
    """The order named by ``?again=`` when the user may see it and it is for
    this product; anything else is ignored (the form starts from defaults)."""
    pk = id_from_text(request.GET.get("again", ""))
    if pk is None:
        return None
    return orders_visible_to(request.user).filter(pk=pk, product=product).first()
