"""Squad work pages: the approvals inbox and the manual-fulfilment queue."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import (
    Http404,
    HttpResponse,
)
from django.shortcuts import render
from django.urls import reverse

from portal.orders.commands import COMMAND_LABELS
from portal.orders.models import Order
from portal.orders.permissions import can_release
from portal.orders.selectors import orders_awaiting_approval_by, orders_in_manual_queue_of
from portal.pages.base import AuthenticatedHttpRequest, login_required
from portal.pages.forms import NoteForm
from portal.pages.resume import resumed_fields
from squads.selectors import is_any_squad_member

INBOX_PER_PAGE = 30


def resumed_decision_note(request: AuthenticatedHttpRequest, order_pk: int) -> str:
    """The comment of a decision on the order sent after the session had
    expired, offered again once (``portal.pages.resume``); the decision
    itself is made again, on the step open now."""
    for command in ("approve", "reject"):
        fields = resumed_fields(request, reverse(f"order-{command}", args=[order_pk]))
        if fields is not None:
            return fields.get("note", "")
    return ""


#: The refusal of a command given from a card (an order's page, the
#: approvals inbox, the queue), shown on that card after the redirect.
CARD_ERROR_KEY = "squadron.card_error"


def card_error_keep(
    request: AuthenticatedHttpRequest, *, order_id: int, message: str, note: str, where: str = "actions"
) -> None:
    """Keep a command's refusal for the card of order ``order_id`` on the
    next page, with the text the person had typed (they need not retype it);
    ``where``: the form of the card it concerns (its actions, or its
    conversation on the order's page)."""
    request.session[CARD_ERROR_KEY] = {
        "order": order_id,
        "message": message,
        "note": note[:10_000],
        "where": where,
    }


def card_errors_shown(request: AuthenticatedHttpRequest, orders: Iterable[Order]) -> None:
    """Put the kept refusal on the card of its order (``card_error``,
    ``card_note``) if that order is shown here, and forget it. Its order
    no longer listed (decided meanwhile, it left the inbox), it is said
    above the page instead: a refusal is never lost."""
    kept = request.session.pop(CARD_ERROR_KEY, None)
    if not isinstance(kept, dict):
        kept = {}
    shown = False
    for order in orders:
        order.card_error = order.card_note = order.comment_error = order.comment_body = ""  # type: ignore[attr-defined]  # for the template
        if kept and kept.get("order") == order.pk:
            error, typed = str(kept.get("message", "")), str(kept.get("note", ""))
            if kept.get("where") == "conversation":
                order.comment_error, order.comment_body = error, typed  # type: ignore[attr-defined]
            else:
                order.card_error, order.card_note = error, typed  # type: ignore[attr-defined]
            shown = True
    if kept and not shown:
        messages.error(request, f"Order #{kept.get('order')}: {kept.get('message', '')}")


def _require_squad_work(request: AuthenticatedHttpRequest) -> None:
    """Squad pages exist only for squad members (and superusers)."""
    if not (request.user.is_superuser or is_any_squad_member(request.user)):
        raise Http404("This page is for squad members.")


@login_required
def approvals_inbox(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Orders waiting for this user's decision, oldest first."""
    _require_squad_work(request)
    page = Paginator(orders_awaiting_approval_by(request.user), INBOX_PER_PAGE).get_page(
        request.GET.get("page")
    )
    for order in page:
        order.resumed_note = resumed_decision_note(request, order.pk)  # type: ignore[attr-defined]  # for the template
    card_errors_shown(request, page)
    return render(
        request,
        "portal/approvals.html",
        {"page": page, "note_form": NoteForm(), "command_labels": COMMAND_LABELS},
    )


@login_required
def manual_queue(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Manual orders of the user's squads waiting for someone to fulfil them."""
    _require_squad_work(request)
    page = Paginator(orders_in_manual_queue_of(request.user), INBOX_PER_PAGE).get_page(
        request.GET.get("page")
    )
    for order in page:
        order.releasable = can_release(request.user, order)  # type: ignore[attr-defined]  # for the template
    card_errors_shown(request, page)
    return render(
        request,
        "portal/manual_queue.html",
        {"page": page, "note_form": NoteForm(), "command_labels": COMMAND_LABELS},
    )
