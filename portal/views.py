from __future__ import annotations

from itertools import groupby

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from catalogue.markdown import render_markdown
from catalogue.models import Product
from catalogue.selectors import product_for_page, products_orderable
from portal.health import broker_ok


@login_required
def catalogue_home(request: HttpRequest) -> HttpResponse:
    products = list(products_orderable())
    shelves = [(category, list(items)) for category, items in groupby(products, key=lambda p: p.category)]
    return render(request, "portal/catalogue_home.html", {"shelves": shelves})


@login_required
def product_detail(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        product = product_for_page(slug)
    except Product.DoesNotExist:
        raise Http404("No such product in the catalogue.") from None
    owners = [m for m in product.squad.memberships.all() if m.role == "product_owner"]
    return render(
        request,
        "portal/product_detail.html",
        {
            "product": product,
            "description_html": render_markdown(product.description),
            "owners": owners,
        },
    )


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for operators and load balancers: the database and the broker."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as error:  # noqa: BLE001 - any failure means unhealthy
        checks["database"] = f"error: {error.__class__.__name__}"
    checks["broker"] = "ok" if broker_ok() else "error: unreachable"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", "checks": checks}, status=200 if healthy else 503
    )
