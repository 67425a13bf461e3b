"""Every request acts as its user, from its client address, for the trail."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from portal.audit.context import Acting, acting, via_of


class AuditContextMiddleware:
    """Sets who acts for the request; the user is read only when something is
    recorded, so the API's token authentication (in the view) counts too."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with acting(Acting(via=via_of(request), request=request)):
            return self.get_response(request)
