"""Pagination with a stable order.

Orders and webhook deliveries grow without bound: they page by cursor, which
needs no ``COUNT(*)`` of a large table and never skips or repeats a row when
new ones arrive between two pages. The catalogue, squads, runbooks and a run's
output are small: they page by number, with a total ``count``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter
from rest_framework.pagination import BasePagination, PageNumberPagination, _positive_int
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from portal.web.pagination import Cursor, InvalidCursor, cursor_of, parse_cursor, seek

MAX_PAGE_SIZE = 200


def asked_page_size(request: Request, default: int) -> int:
    """``?page_size=``: at most ``MAX_PAGE_SIZE`` (a larger one is capped, as
    documented); anything but a positive whole number is a 400 rather than
    the default page without a word."""
    raw = request.query_params.get("page_size")
    if raw is None or raw == "":
        return default
    try:
        return _positive_int(raw, strict=True, cutoff=MAX_PAGE_SIZE)
    except ValueError:
        raise ValidationError(
            {"page_size": [f"A whole number of results from 1 to {MAX_PAGE_SIZE}."]}
        ) from None


def cursor_page_schema(schema: dict) -> dict:
    """A page of a list read by cursor: its results and the links to the
    pages beside it (null at either end)."""
    link = {"type": "string", "format": "uri", "nullable": True}
    return {
        "type": "object",
        "required": ["results"],
        "properties": {"next": link, "previous": link, "results": schema},
    }


class NumberedPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request: Request) -> int:
        return asked_page_size(request, self.page_size or MAX_PAGE_SIZE)


class CreatedCursorPagination(BasePagination):
    """Keyset pagination on ``(created_at, id)`` (``portal.web.pagination``,
    the same as the pages'): newest first, or oldest first with
    ``?ordering=created_at``, and ``next``/``previous`` links."""

    cursor_query_param = "cursor"
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def paginate_queryset(self, queryset: QuerySet, request: Request, view: APIView | None = None) -> list:
        self.request = request
        self.base_url = request.build_absolute_uri()
        self.page_size = self._page_size(request)
        order_by = list(queryset.query.order_by)
        descending = not (order_by and order_by[0] == "created_at")
        page = seek(
            queryset,
            cursor=self._decode(request.query_params.get(self.cursor_query_param)),
            size=self.page_size,
            descending=descending,
        )
        self.has_next, self.has_previous = page.has_next, page.has_previous
        self.page = page.rows
        return page.rows

    def get_paginated_response(self, data: Any) -> Response:
        return Response(
            {"next": self._link(forward=True), "previous": self._link(forward=False), "results": data}
        )

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return cursor_page_schema(schema)

    def get_schema_operation_parameters(self, view: APIView) -> list[dict]:
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Where the page starts: take it from `next` or `previous`.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Results per page (at most {self.max_page_size}).",
                "schema": {"type": "integer"},
            },
        ]

    def _page_size(self, request: Request) -> int:
        return asked_page_size(request, api_settings.PAGE_SIZE or MAX_PAGE_SIZE)

    def _link(self, *, forward: bool) -> str | None:
        if not self.page or not (self.has_next if forward else self.has_previous):
            return None
        edge = self.page[-1] if forward else self.page[0]
        return replace_query_param(
            self.base_url, self.cursor_query_param, cursor_of(edge, backwards=not forward)
        )

    def _decode(self, raw: str | None) -> Cursor | None:
        if not raw:
            return None
        try:
            return parse_cursor(raw)
        except InvalidCursor:
            # A 400 like every other bad parameter: the client sent it wrong,
            # nothing is missing.
            raise ValidationError(
                {self.cursor_query_param: ["Invalid cursor: take it from a page's next or previous link."]}
            ) from None


class StableOrderingFilter(OrderingFilter):
    """``?ordering=`` that always ends on the primary key, so rows that tie on
    the chosen fields still come in one fixed order from page to page."""

    def get_ordering(self, request: Request, queryset: QuerySet, view: APIView) -> Sequence[str] | None:
        asked = request.query_params.get(self.ordering_param)
        if asked:
            # DRF drops unknown fields silently; a client that misspells one
            # would get another order than it asked for without knowing.
            valid = {name for name, _ in self.get_valid_fields(queryset, view, {"request": request})}
            unknown = [
                term for term in (t.strip() for t in asked.split(",")) if term.lstrip("-") not in valid
            ]
            if unknown:
                raise ValidationError(
                    {
                        self.ordering_param: [
                            f"Cannot order by {', '.join(unknown)}; choose from {', '.join(sorted(valid))} "
                            "(prefix - for descending)."
                        ]
                    }
                )
        ordering = super().get_ordering(request, queryset, view)
        if not ordering:
            return ordering
        ordering = list(ordering)
        if not any(field.lstrip("-") in ("id", "pk") for field in ordering):
            ordering.append("-id" if ordering[0].startswith("-") else "id")
        return ordering
