"""Squad work pages: the approvals inbox and the manual-fulfilment queue."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import (
    Http404,
    HttpResponse,
)
from django.shortcuts import render
from django.urls import reverse

from portal.orders.commands import COMMAND_LABELS
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
    return render(
        request,
        "portal/manual_queue.html",
        {"page": page, "note_form": NoteForm(), "command_labels": COMMAND_LABELS},
    )
