"""Content-Security-Policy for the portal's pages.

The pages load scripts and styles only from the app itself: no inline script,
no inline event handler, no inline style, no CDN. The header below enforces
that in the browser, so a Markdown description or an order input that slipped
past sanitizing still could not run code.

The admin and the API (whose interactive docs come from drf-spectacular's
templates) are not ours to rewrite, so they are left out by path prefix.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

DEFAULT_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
DEFAULT_EXEMPT_PREFIXES = ("/admin/", "/api/")


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy: str = getattr(settings, "SQUADRON_CSP", DEFAULT_POLICY)
        self.exempt: tuple[str, ...] = tuple(
            getattr(settings, "SQUADRON_CSP_EXEMPT_PREFIXES", DEFAULT_EXEMPT_PREFIXES)
        )

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            self.policy
            and "Content-Security-Policy" not in response
            and not request.path.startswith(self.exempt)
        ):
            response["Content-Security-Policy"] = self.policy
        return response
