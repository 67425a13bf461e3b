"""``/audit/``: the audit trail, filtered, and its downloads (CSV, JSON
lines), for platform leads and superusers; anyone else finds no such page."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal.audit.export import json_lines, rows
from portal.audit.selectors import can_read_audit, entries_filtered, object_types
from portal.pages.base import AuthenticatedHttpRequest, login_required
from portal.web.spreadsheet import csv_stream

PAGE_SIZE = 50
FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/jsonl; charset=utf-8"}


def _readers_only(request: AuthenticatedHttpRequest) -> None:
    if not can_read_audit(request.user):
        raise Http404("No such page.")


@never_cache
@login_required
@require_GET
def audit_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    _readers_only(request)
    entries, filters = entries_filtered(request.GET)
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "portal/audit/list.html",
        {"page": page, "filters": filters, "object_types": object_types()},
    )


@never_cache
@login_required
@require_GET
def audit_export(request: AuthenticatedHttpRequest, fmt: str) -> StreamingHttpResponse:
    """The entries the page's filters select, every one of them (no pages)."""
    _readers_only(request)
    if fmt not in FORMATS:
        raise Http404("No such format.")
    entries, _ = entries_filtered(request.GET)
    body = csv_stream(rows(entries)) if fmt == "csv" else json_lines(entries)
    response = StreamingHttpResponse(body, content_type=FORMATS[fmt])
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="squadron-audit-{stamp}.{fmt}"'
    return response
