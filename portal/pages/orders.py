"""The order pages: my orders, one order (live while it runs, its run logs)
and the commands given from them (``portal.orders.commands``)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from catalogue.choices import ProductStatus
from portal.notifications.services import notifications_seen_on_order
from portal.orders.approval_steps import step_progress
from portal.orders.choices import TERMINAL_STATUSES, OrderStatus
from portal.orders.commands import COMMAND_LABELS, COMMANDS_BY_NAME, Decision, order_actions
from portal.orders.conversation import order_comment_post
from portal.orders.errors import OrderError
from portal.orders.fulfilment import order_secrets_reveal
from portal.orders.models import Order, OrderComment, OrderDryRun, OrderEvent, OrderRun
from portal.orders.permissions import inputs_at_fault, retryable, secrets_erased, stopping
from portal.orders.selectors import orders_visible_to
from portal.pages.base import AuthenticatedHttpRequest, login_required
from portal.pages.conversation import POSTED, CommentForm, conversation_context
from portal.pages.forms import NoteForm, OrderFilterForm
from portal.pages.resume import local_page, post_only
from portal.pages.work import card_error_keep, card_errors_shown, resumed_decision_note
from portal.web.confirm import id_from_text
from portal.web.inputs import field_title
from portal.web.pagination import newest_first_page
from portal.web.reveal import reveal_next, revealed
from portal.web.runlog import EARLIER_EVENTS, POLL_EVENTS, TAIL_EVENTS, plain_text, render_events
from runbooks.models import RunEvent
from runbooks.selectors import run_events_page, run_events_shown, run_output

ORDERS_PER_PAGE = 25


@login_required
def my_orders(request: AuthenticatedHttpRequest) -> HttpResponse:
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
def order_badges(request: AuthenticatedHttpRequest) -> HttpResponse:
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


def _order_or_404(request: AuthenticatedHttpRequest, pk: int) -> Order:
    """The order if this user may see it; someone else's order does not exist."""
    try:
        return (
            orders_visible_to(request.user)
            .select_related(
                "product__category", "claimed_by", "current_run", "runbook_version__runbook", "business_unit"
            )
            .get(pk=pk)
        )
    except Order.DoesNotExist:
        raise Http404("No such order.") from None


def _version(order: Order, events: list[OrderEvent] | None = None) -> str:
    """What the page's summary shows, as a token: it changes whenever the
    status changes or anything is recorded on the order."""
    last: int | None
    if events is not None:
        last = events[-1].pk if events else 0
    else:
        last = (
            OrderEvent.objects.filter(order_id=order.pk).order_by("-id").values_list("id", flat=True).first()
        )
    return f"{order.status}.{last or 0}"


def _actions(request: AuthenticatedHttpRequest, order: Order) -> dict[str, Any]:
    user = request.user
    allowed = set(order_actions(user, order))
    return {
        "can_cancel": "cancel" in allowed,
        "cancel_requested": stopping(order),
        "can_retry": "retry" in allowed,
        "retry_needs_new_order": retryable(order) and secrets_erased(order),
        "inputs_at_fault": order.status == OrderStatus.FAILED and inputs_at_fault(order),
        # A new order from this one's details (a failure caused by the inputs
        # would fail again on retry; a success may be wanted twice).
        "can_order_again": order.status in TERMINAL_STATUSES
        and order.requester_id == user.pk
        and order.product.status == ProductStatus.PUBLISHED,
        "can_approve": "approve" in allowed,
        "can_fulfil": "complete" in allowed,
        "can_claim": "claim" in allowed,
        "can_release": "release" in allowed,
        "can_dry_run": "dry-run" in allowed,
    }


def _summary_context(request: AuthenticatedHttpRequest, order: Order) -> dict[str, Any]:
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
        "command_labels": COMMAND_LABELS,
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
    events: list[RunEvent] = []
    has_earlier = False
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
def order_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    order = _order_or_404(request, pk)
    context = _summary_context(request, order)
    context.update(_runs_context(order))
    context["polling"] = _keeps_polling(order)
    context["poll_seconds"] = _poll_seconds(order)
    context["note_form"] = NoteForm()
    context["resumed_note"] = resumed_decision_note(request, order.pk)
    card_errors_shown(request, [order])
    notifications_seen_on_order(user=request.user, order_id=order.pk)
    context.update(conversation_context(request, order))
    context["revealed_secrets"] = _revealed_secrets(request, order)
    context["can_reveal_secrets"] = (
        order.status == OrderStatus.AWAITING_FULFILMENT
        and order.claimed_by_id == request.user.pk
        and bool(order.secret_inputs_ciphertext)
    )
    response = render(request, "portal/order_detail.html", context)
    if context["revealed_secrets"]:
        add_never_cache_headers(response)  # secrets in clear: no copy anywhere
    return response


def _int_param(request: AuthenticatedHttpRequest, name: str) -> int:
    return id_from_text(request.GET.get(name, "")) or 0


@login_required
@require_GET
@never_cache
def order_live(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """What changed on the order page since the last poll (about every second):
    new log lines, and the summary and timeline when the order moved."""
    order = _order_or_404(request, pk)
    shown_run, after = _int_param(request, "run"), _int_param(request, "after")
    context: dict[str, Any] = {"order": order}
    if request.GET.get("v", "") != _version(order):
        context.update(_summary_context(request, order))
        context["summary_changed"] = True
        # What moved the order notified this person: they are watching it.
        notifications_seen_on_order(user=request.user, order_id=order.pk)
    more_pending = False
    if (order.current_run_id or 0) != shown_run:
        context.update(_runs_context(order))
        context["runs_changed"] = True
    elif order.current_run_id:
        events = run_events_shown(run_id=order.current_run_id, after_counter=after, limit=POLL_EVENTS)
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


def _order_run_or_404(request: AuthenticatedHttpRequest, pk: int, run_id: int) -> tuple[Order, OrderRun]:
    order = _order_or_404(request, pk)
    try:
        order_run = OrderRun.objects.select_related("run").get(order_id=order.pk, run_id=run_id)
    except OrderRun.DoesNotExist:
        raise Http404("No such run of this order.") from None
    return order, order_run


@login_required
@require_GET
def run_log_earlier(request: AuthenticatedHttpRequest, pk: int, run_id: int) -> HttpResponse:
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
def run_log_download(request: AuthenticatedHttpRequest, pk: int, run_id: int) -> StreamingHttpResponse:
    """The whole output of one attempt as plain text, every character the
    run stored (a page abbreviates a huge event; this never does), streamed
    from the database a chunk of events at a time."""
    order, order_run = _order_run_or_404(request, pk, run_id)
    response = StreamingHttpResponse(
        plain_text(run_output(run_id=run_id)), content_type="text/plain; charset=utf-8"
    )
    filename = f"order-{order.pk}-attempt-{order_run.attempt}.log"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _safe_next(request: HttpRequest, default: str) -> str:
    """Where the button was (``next``, on this site), else ``default``."""
    return local_page(request, request.POST.get("next", "") or request.GET.get("next", ""), default)


@login_required
@post_only(
    lambda request, pk, action: _safe_next(request, reverse("order-detail", args=[pk])), keeps_input=True
)
def order_action(request: AuthenticatedHttpRequest, pk: int, action: str) -> HttpResponse:
    """Cancel, retry, approve, reject, claim, complete or fail an order, then
    go back where the button was, with the outcome as a message."""
    order = _order_or_404(request, pk)
    back = _safe_next(request, reverse("order-detail", args=[order.pk]))
    form = NoteForm(request.POST)
    if not form.is_valid():
        # An ErrorList yields its messages as text, whatever Django's stubs say.
        errors = (str(message) for field_errors in form.errors.values() for message in field_errors)
        card_error_keep(
            request, order_id=order.pk, message=" ".join(errors), note=request.POST.get("note", "")
        )
        return redirect(back)
    command = COMMANDS_BY_NAME[action]
    data = form.cleaned_data
    given = Decision(
        text=data["note"],
        step=data["step"] if command.takes_step else None,
        seen=data["seen"] if command.takes_seen else None,
        claim=bool(data["claim"]) if command.takes_claim else False,
    )
    try:
        order = command.perform(order, request.user, given)
    except OrderError as error:
        # Said on the card of the order it concerns, with what was typed,
        # not in a banner above a list of them.
        card_error_keep(request, order_id=order.pk, message=str(error), note=data["note"])
    else:
        messages.success(request, command.succeeded(order))
    return redirect(back)


@login_required
@post_only(lambda request, pk: reverse("order-detail", args=[pk]) + "#conversation", keeps_input=True)
def order_comment(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Add a message to the order's conversation, then back to it; a refusal
    is said on the conversation's form, with what was typed."""
    order = _order_or_404(request, pk)
    back = reverse("order-detail", args=[order.pk]) + "#conversation"
    form = CommentForm(request.POST)
    body = request.POST.get("body", "")
    if not form.is_valid():
        errors = (str(message) for field_errors in form.errors.values() for message in field_errors)
        card_error_keep(request, order_id=order.pk, message=" ".join(errors), note=body, where="conversation")
        return redirect(back)
    kind = form.cleaned_data["kind"] or OrderComment.Kind.COMMENT
    try:
        order_comment_post(order=order, author=request.user, body=form.cleaned_data["body"], kind=kind)
    except OrderError as error:
        card_error_keep(request, order_id=order.pk, message=str(error), note=body, where="conversation")
    else:
        messages.success(request, POSTED[OrderComment.Kind(kind)])
    return redirect(back)


#: What ``portal.web.reveal`` keeps an order's revealed secret inputs under.
REVEALED_SECRETS = "order-secrets"


@login_required
@post_only(lambda request, pk: reverse("order-detail", args=[pk]))
def order_secrets(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Show the claimant the order's secret inputs: on the next page only
    (a reload or Back shows them no more), recorded on the timeline."""
    order = _order_or_404(request, pk)
    try:
        secrets = order_secrets_reveal(order=order, actor=request.user)
    except OrderError as error:
        card_error_keep(request, order_id=order.pk, message=str(error), note="")
    else:
        reveal_next(request, REVEALED_SECRETS, order.pk, json.dumps(secrets))
    return redirect(reverse("order-detail", args=[order.pk]) + "#inputs-heading")


def _revealed_secrets(request: AuthenticatedHttpRequest, order: Order) -> list[tuple[str, str]]:
    """The secret inputs revealed for this page, by title, once."""
    kept = revealed(request, REVEALED_SECRETS, order.pk)
    if kept is None:
        return []
    values = json.loads(kept[1])
    fields = (order.form_schema or {}).get("properties", {})
    return [(field_title(name, fields.get(name, {})), str(value)) for name, value in sorted(values.items())]
