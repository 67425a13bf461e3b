"""The portal's own error pages, with DEBUG on too.

Django answers a missing page or a failure under DEBUG with its technical
pages, whose inline styles the portal's Content-Security-Policy blocks: the
demo (``make run`` runs with DEBUG on) showed an unstyled page where it
should say "not found", which looked broken. Unless
``SQUADRON_TECHNICAL_ERROR_PAGES`` asks for Django's pages, this middleware
answers as production does (``handler404``, ``handler500``); the traceback
of a failure still goes to the log (the console of ``make run``).
With DEBUG off Django uses the handlers itself.

Whatever DEBUG says, a method a page does not take (a 405, which Django
answers with an empty body: "This page isn't working") gets a page too.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import Resolver404, get_resolver, get_urlconf
from django.utils.log import log_response
from django.views import defaults

#: Paths that answer their own errors (the API in JSON; the admin is Django's).
OWN_ERRORS_EXEMPT = ("/api/",)

logger = logging.getLogger("django.request")


def _applies(request: HttpRequest) -> bool:
    return (
        settings.DEBUG
        and not getattr(settings, "SQUADRON_TECHNICAL_ERROR_PAGES", False)
        and not request.path.startswith(OWN_ERRORS_EXEMPT)
    )


def _not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return defaults.page_not_found(request, exception)


def _server_error(request: HttpRequest) -> HttpResponseBase:
    return get_resolver(get_urlconf()).resolve_error_handler(500)(request)


class OwnErrorPagesMiddleware:
    """With DEBUG on: a path nothing answers, an ``Http404`` and an uncaught
    exception get the portal's pages instead of Django's technical ones."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self._own_not_found(request)
        if response is None:
            response = self.get_response(request)
        if (
            response.status_code == 405
            and not response.streaming
            and not response.content  # type: ignore[attr-defined]  # not streaming: has content
            and not request.path.startswith(OWN_ERRORS_EXEMPT)
        ):
            page = render(request, "405.html", status=405)
            page["Allow"] = response.get("Allow", "")
            return page
        return response

    def _own_not_found(self, request: HttpRequest) -> HttpResponseBase | None:
        if _applies(request):
            # A path no URL matches never reaches a view (nor process_exception).
            try:
                get_resolver(getattr(request, "urlconf", None) or get_urlconf()).resolve(request.path_info)
            except Resolver404 as error:
                response = _not_found(request, error)
                log_response("Not Found: %s", request.path, response=response, request=request)
                return response
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponseBase | None:
        if not _applies(request):
            return None
        if isinstance(exception, Http404):
            return _not_found(request, exception)
        if isinstance(exception, PermissionDenied):
            return None  # Django answers handler403 under DEBUG too
        response = _server_error(request)
        logger.error(
            "Internal Server Error: %s",
            request.path,
            exc_info=sys.exc_info(),
            extra={"status_code": 500, "request": request},
        )
        return response if isinstance(response, HttpResponse) else None
