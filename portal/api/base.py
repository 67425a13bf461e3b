"""What every API view shares: bounded JSON bodies, the error schema,
filters with a stable order, bodies refused where a command takes none,
and JSON answers for unknown paths and unexpected errors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt
from django.views.defaults import server_error as django_server_error
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions
from rest_framework.filters import BaseFilterBackend
from rest_framework.request import Request
from rest_framework.views import APIView

from portal.api.base_serializers import NoBodySerializer
from portal.api.errors import LengthRequired
from portal.api.pagination import StableOrderingFilter
from portal.api.parsers import LimitedJSONParser
from portal.api.schema import ApiSchema

if TYPE_CHECKING:
    from rest_framework.generics import BaseFilterProtocol


def writes_as(view: APIView, method: str) -> bool:
    """Whether ``OPTIONS`` is describing the body of ``method``: DRF's
    metadata asks the view for its serializer with the request's method
    swapped, under the action ``metadata``."""
    return getattr(view, "action", None) == "metadata" and view.request.method == method


def signed_in_user(request: Request) -> User:
    """The user calling, as the services take them: every endpoint requires
    one (``IsAuthenticated`` is the default permission), checked again here
    so that no anonymous user can reach a service."""
    user = request.user
    if not user.is_authenticated:
        raise exceptions.NotAuthenticated()
    return user


def no_body(request: Request) -> None:
    """Refuse a body on a command that takes none, as every other request
    refuses fields it does not take: a client that sends one believes it
    means something."""
    NoBodySerializer(data=request.data).is_valid(raise_exception=True)


class FilterBackend(DjangoFilterBackend):
    """django-filter, skipped when the query string names none of the
    filters: building and validating the filter form is a good share of a
    plain list request's time."""

    def filter_queryset(self, request: Request, queryset: QuerySet, view: APIView) -> QuerySet:
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None or request.query_params.keys().isdisjoint(filterset_class.base_filters):
            return queryset
        return super().filter_queryset(request, queryset, view)


if TYPE_CHECKING:
    # The mixin is combined with a DRF view in each endpoint; typing it as an
    # APIView lets its ``super()`` call and attributes type-check.
    _ApiViewBase = APIView
else:
    _ApiViewBase = object


class ApiMixin(_ApiViewBase):
    """What every endpoint shares: bounded JSON bodies, the error schema,
    filters with a stable order."""

    parser_classes = [LimitedJSONParser]
    schema = ApiSchema()
    # Typed as GenericAPIView types it, which the views of lists also inherit.
    filter_backends: Sequence[type[BaseFilterBackend | BaseFilterProtocol[Any]]] = [
        FilterBackend,
        StableOrderingFilter,
    ]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Django reads a body up to its Content-Length; a chunked one has
        # none, so it would be taken as empty and the command run without
        # what the client sent (a cancel without its reason): refuse it.
        if "HTTP_TRANSFER_ENCODING" in request.META and request.META.get("CONTENT_LENGTH", "") in ("", "0"):
            raise LengthRequired()
        super().initial(request, *args, **kwargs)


@csrf_exempt  # answers every method, and must answer JSON, never the CSRF failure page
def not_found(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    """Unknown paths under the API answer JSON, like everything else there.

    A known path without its trailing slash is redirected for GET and HEAD
    (every HTTP client follows that, and a read loses nothing); any other
    method gets the 404 naming the path to use, because a client that
    follows a 301 or 302 turns a POST into a GET and drops its body, and
    not every client follows a 308."""
    with_slash = _with_trailing_slash(request.path)
    if with_slash and request.method in ("GET", "HEAD"):
        query = request.META.get("QUERY_STRING", "")
        return HttpResponsePermanentRedirect(with_slash + (f"?{query}" if query else ""))
    detail = "No such API endpoint."
    if with_slash:
        detail = f"No such API endpoint: API paths end with a slash, use {with_slash}"
    return JsonResponse(
        {"detail": detail, "code": "not_found"},
        status=404,
        json_dumps_params={"separators": (",", ":")},  # as compact as DRF's answers
    )


def _with_trailing_slash(path: str) -> str | None:
    """``path`` and a slash, when that is an API endpoint; else None."""
    if path.endswith("/"):
        return None
    try:
        match = resolve(path + "/")
    except Resolver404:
        return None
    return None if match.func is not_found else path + "/"


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: an unexpected error under the API answers JSON like
    every other API error; pages get the friendly error page."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"detail": "Something went wrong on our side; it has been logged.", "code": "server_error"},
            status=500,
            json_dumps_params={"separators": (",", ":")},
        )
    return django_server_error(request)
