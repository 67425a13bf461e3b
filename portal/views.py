"""The portal's pages. Views read through selectors and change state only
through the order services; a refused action shows the service's message and
has changed nothing (the service guarantees that)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from itertools import groupby
from typing import Any
from urllib.parse import quote

from django.contrib import messages
from django.contrib.auth.decorators import login_required as django_login_required
from django.core.paginator import Paginator
from django.db import connection
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    QueryDict,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from catalogue.choices import ProductStatus
from catalogue.inputs import validate_inputs
from catalogue.markdown import render_markdown
from catalogue.models import Product
from catalogue.schema import secret_fields
from catalogue.search import search_products
from catalogue.selectors import catalogue_entries, product_for_page
from portal.confirm import id_from_text
from portal.forms import CatalogueFilterForm, NoteForm, OrderFilterForm, OrderForm, schema_initial
from portal.health import broker_ok
from portal.insights.quality import expected_lead_time
from portal.orders.approval_steps import step_progress, steps_described, steps_for
from portal.orders.approvals import order_approve, order_reject
from portal.orders.cancellation import order_cancel
from portal.orders.choices import TERMINAL_STATUSES, OrderStatus
from portal.orders.errors import InvalidInputs, OrderError
from portal.orders.execution import order_dry_run, order_retry
from portal.orders.fulfilment import order_claim, order_complete, order_fail, order_release
from portal.orders.models import Order, OrderDryRun, OrderEvent, OrderRun
from portal.orders.permissions import can_release, order_actions, retryable, secrets_erased, stopping
from portal.orders.selectors import orders_awaiting_approval_by, orders_in_manual_queue_of, orders_visible_to
from portal.orders.submission import (
    ReviewExpired,
    fingerprint,
    open_review,
    order_submit,
    order_submit_once,
    seal_review,
)
from portal.pagination import newest_first_page
from portal.runlog import EARLIER_EVENTS, POLL_EVENTS, TAIL_EVENTS, plain_text, render_events
from portal.templatetags.portal_tags import input_rows
from runbooks.selectors import LOG_COLUMNS, run_events, run_events_page
from squads.choices import Role
from squads.selectors import is_any_squad_member

#: Products per category on the catalogue's front page; "All N" shows the rest.
SHELF_SIZE = 8
RESULTS_PER_PAGE = 48
ORDERS_PER_PAGE = 25
INBOX_PER_PAGE = 30


def login_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Django's ``login_required``, except that a live part of a page (an HTMX
    request) whose session has ended sends the whole page to the login form,
    instead of the login form being swapped into the page."""
    guarded = django_login_required(view)

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.htmx and not request.user.is_authenticated:
            page = request.htmx.current_url_abs_path or reverse("home")
            return HttpResponseClientRedirect(f"{reverse('login')}?next={quote(page)}")
        return guarded(request, *args, **kwargs)

    return wrapper


# --- Catalogue -------------------------------------------------------------------


def _distinct(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(dict.fromkeys(pairs))


@login_required
@vary_on_headers("HX-Request")
def catalogue_home(request: HttpRequest) -> HttpResponse:
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
            items = list(items)
            shelves.append({"category": shelf_category, "products": items[:SHELF_SIZE], "count": len(items)})
        context["shelves"] = shelves
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "portal/partials/catalogue_results.html", context)
    return render(request, "portal/catalogue_home.html", context)


def _product_or_404(slug: str) -> Product:
    try:
        return product_for_page(slug)
    except Product.DoesNotExist:
        raise Http404("No such product in the catalogue.") from None


def _render_product(
    request: HttpRequest,
    product: Product,
    form: OrderForm,
    *,
    status: int = 200,
    retype_secrets: bool = False,
) -> HttpResponse:
    memberships = list(product.squad.memberships.all())
    owners = [m.user for m in memberships if m.role == Role.PRODUCT_OWNER]
    recent_orders = list(
        orders_visible_to(request.user)
        .filter(requester=request.user, product=product)
        .order_by("-created_at")[:5]
    )
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
            "recent_orders": recent_orders,
        },
        status=status,
    )


@login_required
def product_detail(request: HttpRequest, slug: str) -> HttpResponse:
    product = _product_or_404(slug)
    # "Order again with these details": the earlier order's values; its
    # secrets are never shown, so they are typed again.
    again = _order_to_repeat(request, product)
    if again is not None:
        messages.info(request, f"The details of order #{again.pk} are filled in: check them, then review.")
    initial = schema_initial(product.form_schema, again.inputs if again is not None else None)
    form = OrderForm(product.form_schema, initial=initial)
    return _render_product(request, product, form, retype_secrets=again is not None)


def _order_to_repeat(request: HttpRequest, product: Product) -> Order | None:
    """The order named by ``?again=`` when the user may see it and it is for
    this product; anything else is ignored (the form starts from defaults)."""
    pk = id_from_text(request.GET.get("again", ""))
    if pk is None:
        return None
    return orders_visible_to(request.user).filter(pk=pk, product=product).first()


def _form_data(schema: dict, inputs: dict) -> QueryDict:
    """Inputs as the browser would post them, to show them in the form again
    (secrets left out: a password field is never filled in by the server)."""
    data = QueryDict(mutable=True)
    secrets = secret_fields(schema)
    for name, value in inputs.items():
        key = f"{OrderForm.prefix}-{name}"
        if name in secrets or value is None:
            continue
        if isinstance(value, bool):
            if value:
                data[key] = "on"
        elif isinstance(value, list):
            data.setlist(key, [str(item) for item in value])
        else:
            data[key] = str(value)
    return data


@login_required
@require_POST
def product_order(request: HttpRequest, slug: str) -> HttpResponse:
    """The order form's two steps: review what will be ordered, then place it."""
    product = _product_or_404(slug)
    step = request.POST.get("step", "review")
    if step in ("confirm", "edit"):
        try:
            review = open_review(
                request.POST.get("review", ""), user_id=request.user.pk, product_id=product.pk
            )
        except ReviewExpired:
            messages.error(request, "That review has expired. Check your order and review it again.")
            return redirect("product-detail", slug=product.slug)
        if step == "edit":
            form = OrderForm(product.form_schema, data=_form_data(product.form_schema, review.inputs))
            return _render_product(request, product, form, retype_secrets=True)
        if review.product_version != product.version:
            messages.warning(
                request, f"{product.name} changed while you were reviewing your order: please check it again."
            )
            return _review_page(request, product, review.inputs)
        return _place_order(request, product, review.inputs, nonce=review.nonce)
    form = OrderForm(product.form_schema, data=request.POST)
    form.is_valid()
    inputs = form.inputs()
    _, errors = validate_inputs(product.form_schema, inputs)
    if errors or form.errors:
        form.add_schema_errors(errors)
        return _render_product(request, product, form, status=422)
    return _review_page(request, product, inputs)


def _review_page(request: HttpRequest, product: Product, inputs: dict) -> HttpResponse:
    completed, _ = validate_inputs(product.form_schema, inputs)
    token = seal_review(
        user_id=request.user.pk, product_id=product.pk, product_version=product.version, inputs=inputs
    )
    return render(
        request,
        "portal/order_review.html",
        {
            "product": product,
            "rows": input_rows(product.form_schema, completed),
            "review": token,
            "approval_steps": steps_described(steps_for(product)),
        },
    )


def _place_order(request: HttpRequest, product: Product, inputs: dict, *, nonce: str) -> HttpResponse:
    try:
        # The review's nonce as an idempotency key: the same review placed
        # twice (Back, then "Place order" again) is the same order.
        answer = order_submit_once(
            requester=request.user,
            key=f"review:{nonce}",
            request_hash=fingerprint({"review": nonce}),
            submit=lambda: order_submit(requester=request.user, product=product, inputs=inputs),
            render=lambda order: {"id": order.pk},
        )
    except InvalidInputs as error:
        form = OrderForm(product.form_schema, data=_form_data(product.form_schema, inputs))
        form.is_valid()
        form.add_schema_errors(error.errors)
        return _render_product(request, product, form, status=422, retype_secrets=True)
    except OrderError as error:
        messages.error(request, str(error))
        return redirect("product-detail", slug=product.slug)
    order = orders_visible_to(request.user).get(pk=answer.body["id"])
    if answer.replayed:
        messages.info(request, f"You placed this order already: it is Order #{order.pk}.")
    else:
        messages.success(request, f"Order #{order.pk} placed: {_what_happens_next(order)}.")
    return redirect("order-detail", pk=order.pk)


def _what_happens_next(order: Order) -> str:
    """The confirmation's second half: what the order waits for now."""
    if order.status == OrderStatus.PENDING_APPROVAL:
        first = steps_described(order.approval_steps[:1])[0]["who"]
        steps = len(order.approval_steps)
        if steps == 1:
            return f"it waits for approval by {first}"
        return f"it waits for approval in {steps} steps, first by {first}"
    if order.status == OrderStatus.QUEUED:
        return "it will start in a moment"
    if order.status == OrderStatus.AWAITING_FULFILMENT:
        return f"it is in the {order.squad.name}'s queue"
    return order.get_status_display().lower()


# --- My orders --------------------------------------------------------------------


@login_required
def my_orders(request: HttpRequest) -> HttpResponse:
    """The user's own orders, newest first, a page at a time without counting them."""
    form = OrderFilterForm(request.GET or None)
    statuses = form.statuses()
    queryset = orders_visible_to(request.user).filter(requester=request.user)
    if statuses:
        queryset = queryset.filter(status__in=statuses)
    page = newest_first_page(
        queryset, older=request.GET.get("older"), newer=request.GET.get("newer"), size=ORDERS_PER_PAGE
    )
    live_ids = [order.pk for order in page.items if order.status not in TERMINAL_STATUSES]
    return render(
        request,
        "portal/my_orders.html",
        {
            "form": form,
            "page": page,
            "status_filter": request.GET.get("status", "") if statuses else "",
            "live_ids": ",".join(str(pk) for pk in live_ids),
        },
    )


@login_required
@require_GET
def order_badges(request: HttpRequest) -> HttpResponse:
    """Fresh status badges of the listed orders that were still open (My orders
    polls this); stops once none is open."""
    asked = (id_from_text(part) for part in request.GET.get("ids", "").split(","))
    ids = [pk for pk in asked if pk is not None][:ORDERS_PER_PAGE]
    rows = list(orders_visible_to(request.user).filter(pk__in=ids).values_list("pk", "status", "finished_at"))
    still_open = [pk for pk, status, _ in rows if status not in TERMINAL_STATUSES]
    return render(
        request,
        "portal/partials/order_badges.html",
        {"rows": rows, "live_ids": ",".join(str(pk) for pk in still_open)},
    )


# --- One order ----------------------------------------------------------------------


def _order_or_404(request: HttpRequest, pk: int) -> Order:
    """The order if this user may see it; someone else's order does not exist."""
    try:
        return (
            orders_visible_to(request.user)
            .select_related("product__category", "claimed_by", "current_run", "runbook_version__runbook")
            .get(pk=pk)
        )
    except Order.DoesNotExist:
        raise Http404("No such order.") from None


def _version(order: Order, events: list[OrderEvent] | None = None) -> str:
    """What the page's summary shows, as a token: it changes whenever the
    status changes or anything is recorded on the order."""
    if events is not None:
        last = events[-1].pk if events else 0
    else:
        last = (
            OrderEvent.objects.filter(order_id=order.pk).order_by("-id").values_list("id", flat=True).first()
        )
    return f"{order.status}.{last or 0}"


def _actions(request: HttpRequest, order: Order) -> dict[str, Any]:
    user = request.user
    allowed = set(order_actions(user, order))
    return {
        "can_cancel": "cancel" in allowed,
        "cancel_requested": stopping(order),
        "can_retry": "retry" in allowed,
        "retry_needs_new_order": retryable(order) and secrets_erased(order),
        # A new order from this one's details (a failure caused by the inputs
        # would fail again on retry; a success may be wanted twice).
        "can_order_again": order.status in TERMINAL_STATUSES
        and order.requester_id == user.pk
        and order.product.status == ProductStatus.PUBLISHED,
        "can_approve": "approve" in allowed,
        "can_fulfil": "complete" in allowed,
        "can_release": "release" in allowed,
        "can_dry_run": "dry-run" in allowed,
    }


def _summary_context(request: HttpRequest, order: Order) -> dict[str, Any]:
    events = list(
        OrderEvent.objects.filter(order_id=order.pk).select_related("actor").order_by("created_at", "id")
    )
    context = {
        "order": order,
        "events": events,
        "version": _version(order, events),
        "approval_progress": step_progress(order) if order.approval_steps else [],
        **_dry_run_context(order),
        "lead_time": (order.finished_at - order.created_at) if order.finished_at else None,
        "host_rows": sorted((order.host_summary or {}).items()),
    }
    context.update(_actions(request, order))
    return context


#: Events of a dry run shown on the order page (its whole log is a download away).
DRY_RUN_EVENTS = 300


def _dry_run_context(order: Order) -> dict[str, Any]:
    """The latest dry run of the order, with the tail of its output."""
    dry_run = OrderDryRun.objects.filter(order_id=order.pk).select_related("run", "requested_by").first()
    if dry_run is None:
        return {"dry_run": None}
    events, has_earlier = run_events_page(run_id=dry_run.run_id, limit=DRY_RUN_EVENTS)
    return {"dry_run": dry_run, "dry_run_html": render_events(events), "dry_run_truncated": has_earlier}


def _runs_context(order: Order) -> dict[str, Any]:
    attempts = list(OrderRun.objects.filter(order_id=order.pk).select_related("run").order_by("-attempt"))
    current = order.current_run
    events, has_earlier = [], False
    if current is not None:
        events, has_earlier = run_events_page(run_id=current.pk, limit=TAIL_EVENTS)
    return {
        "attempts": attempts,
        "current_run": current,
        "tail_html": render_events(events),
        "has_earlier": has_earlier,
        "first_counter": events[0].counter if events else None,
        "after": events[-1].counter if events else 0,
    }


def _keeps_polling(order: Order, *, more_pending: bool = False) -> bool:
    return order.status not in TERMINAL_STATUSES or more_pending


def _poll_seconds(order: Order) -> int:
    """About a second while something runs; an order waiting for people (an
    approval, a squad member) changes in minutes, not seconds."""
    return 1 if order.status in (OrderStatus.QUEUED, OrderStatus.RUNNING) else 5


@login_required
def order_detail(request: HttpRequest, pk: int) -> HttpResponse:
    order = _order_or_404(request, pk)
    context = _summary_context(request, order)
    context.update(_runs_context(order))
    context["polling"] = _keeps_polling(order)
    context["poll_seconds"] = _poll_seconds(order)
    context["note_form"] = NoteForm()
    return render(request, "portal/order_detail.html", context)


def _int_param(request: HttpRequest, name: str) -> int:
    return id_from_text(request.GET.get(name, "")) or 0


@login_required
@require_GET
@never_cache
def order_live(request: HttpRequest, pk: int) -> HttpResponse:
    """What changed on the order page since the last poll (about every second):
    new log lines, and the summary and timeline when the order moved."""
    order = _order_or_404(request, pk)
    shown_run, after = _int_param(request, "run"), _int_param(request, "after")
    context: dict[str, Any] = {"order": order}
    if request.GET.get("v", "") != _version(order):
        context.update(_summary_context(request, order))
        context["summary_changed"] = True
    more_pending = False
    if (order.current_run_id or 0) != shown_run:
        context.update(_runs_context(order))
        context["runs_changed"] = True
    elif order.current_run_id:
        events = list(
            run_events(run_id=order.current_run_id, after_counter=after).only(*LOG_COLUMNS)[:POLL_EVENTS]
        )
        more_pending = len(events) == POLL_EVENTS
        if events:
            context["new_events_html"] = render_events(events)
            after = events[-1].counter
        context.update({"current_run": order.current_run, "after": after})
    else:
        context["after"] = 0
    context.setdefault("version", _version(order))
    context["polling"] = _keeps_polling(order, more_pending=more_pending)
    context["poll_seconds"] = 1 if more_pending else _poll_seconds(order)
    return render(request, "portal/partials/order_live.html", context)


def _order_run_or_404(request: HttpRequest, pk: int, run_id: int) -> tuple[Order, OrderRun]:
    order = _order_or_404(request, pk)
    try:
        order_run = OrderRun.objects.select_related("run").get(order_id=order.pk, run_id=run_id)
    except OrderRun.DoesNotExist:
        raise Http404("No such run of this order.") from None
    return order, order_run


@login_required
@require_GET
def run_log_earlier(request: HttpRequest, pk: int, run_id: int) -> HttpResponse:
    """A page of a run's output above what the page shows (the tail when no
    ``before`` is given): long logs load on demand, never all at once."""
    order, order_run = _order_run_or_404(request, pk, run_id)
    before = _int_param(request, "before") or None
    events, has_earlier = run_events_page(run_id=run_id, limit=EARLIER_EVENTS, before_counter=before)
    return render(
        request,
        "portal/partials/log_earlier.html",
        {
            "order": order,
            "run": order_run.run,
            "events_html": render_events(events),
            "has_earlier": has_earlier,
            "first_counter": events[0].counter if events else before,
            "loaded_count": len(events),
        },
    )


@login_required
@require_GET
def run_log_download(request: HttpRequest, pk: int, run_id: int) -> StreamingHttpResponse:
    """The whole output of one attempt as plain text, streamed from the database."""
    order, order_run = _order_run_or_404(request, pk, run_id)
    events = run_events(run_id=run_id).only(*LOG_COLUMNS).iterator(chunk_size=2000)
    response = StreamingHttpResponse(plain_text(events), content_type="text/plain; charset=utf-8")
    filename = f"order-{order.pk}-attempt-{order_run.attempt}.log"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- Actions on an order ------------------------------------------------------------


def _safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return default


def _succeeded_message(action: str, order: Order) -> str:
    if action == "cancel":
        if order.status == OrderStatus.RUNNING:
            return f"Cancellation of order #{order.pk} requested: its playbook stops within seconds."
        return f"Order #{order.pk} cancelled."
    if action == "approve":
        if order.status == OrderStatus.QUEUED:
            return f"Order #{order.pk} approved: it is queued to run."
        if order.status == OrderStatus.AWAITING_FULFILMENT:
            return f"Order #{order.pk} approved: it is in the {order.squad.name}'s queue."
        return f"Order #{order.pk} approved."
    return {
        "retry": f"Order #{order.pk} is queued again (attempt {order.attempts + 1}).",
        "reject": f"Order #{order.pk} rejected; the requester sees your reason.",
        "claim": f"You have claimed order #{order.pk}.",
        "complete": f"Order #{order.pk} completed.",
        "fail": f"Order #{order.pk} marked as failed; the requester sees your reason.",
        "release": f"Order #{order.pk} is back in the {order.squad.name}'s queue.",
        "dry-run": f"Dry run of order #{order.pk} requested: its output appears on its page shortly.",
    }[action]


ACTIONS = {
    "cancel": lambda order, user, note: order_cancel(order=order, actor=user, reason=note),
    "retry": lambda order, user, note: order_retry(order=order, actor=user),
    "approve": lambda order, user, note: order_approve(order=order, actor=user, note=note),
    "reject": lambda order, user, note: order_reject(order=order, actor=user, reason=note),
    "claim": lambda order, user, note: order_claim(order=order, actor=user),
    "complete": lambda order, user, note: order_complete(order=order, actor=user, note=note),
    "fail": lambda order, user, note: order_fail(order=order, actor=user, reason=note),
    "release": lambda order, user, note: order_release(order=order, actor=user),
    "dry-run": lambda order, user, note: order_dry_run(order=order, actor=user).order,
}


@login_required
@require_POST
def order_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Cancel, retry, approve, reject, claim, complete or fail an order, then
    go back where the button was, with the outcome as a message."""
    order = _order_or_404(request, pk)
    back = _safe_next(request, reverse("order-detail", args=[order.pk]))
    form = NoteForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors["note"]))
        return redirect(back)
    try:
        order = ACTIONS[action](order, request.user, form.cleaned_data["note"])
    except OrderError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _succeeded_message(action, order))
    return redirect(back)


# --- Squad pages --------------------------------------------------------------------


def _require_squad_work(request: HttpRequest) -> None:
    """Squad pages exist only for squad members (and superusers)."""
    if not (request.user.is_superuser or is_any_squad_member(request.user)):
        raise Http404("This page is for squad members.")


@login_required
def approvals_inbox(request: HttpRequest) -> HttpResponse:
    """Orders waiting for this user's decision, oldest first."""
    _require_squad_work(request)
    page = Paginator(orders_awaiting_approval_by(request.user), INBOX_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(request, "portal/approvals.html", {"page": page, "note_form": NoteForm()})


@login_required
def manual_queue(request: HttpRequest) -> HttpResponse:
    """Manual orders of the user's squads waiting for someone to fulfil them."""
    _require_squad_work(request)
    page = Paginator(orders_in_manual_queue_of(request.user), INBOX_PER_PAGE).get_page(
        request.GET.get("page")
    )
    for order in page:
        order.releasable = can_release(request.user, order)
    return render(request, "portal/manual_queue.html", {"page": page, "note_form": NoteForm()})


# --- Operations ------------------------------------------------------------------------


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """Pages that name no icon (the admin's) make browsers ask for this one.
    Resolved per request: with hashed static names the URL is known only once
    collectstatic has run."""
    return redirect(static("img/squadron.svg"), permanent=True)


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
