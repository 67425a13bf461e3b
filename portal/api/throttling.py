"""Request rates per API token and per user (``SQUADRON_API_TOKEN_RATE``,
``SQUADRON_API_USER_RATE``).

Both read the rates when asked rather than when imported, so a changed
setting takes effect without a restart of the test process. Counts live in
Django's cache: per process with the default local-memory cache, shared by
every web process once ``CACHE_URL`` names a Redis server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

if TYPE_CHECKING:  # rest_framework.views imports this module: no runtime import back
    from rest_framework.request import Request
    from rest_framework.views import APIView


class _SettingsRateThrottle(SimpleRateThrottle):
    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class TokenRateThrottle(_SettingsRateThrottle):
    """Limits each token, so one runaway integration cannot starve its user's
    other integrations (each has its own token)."""

    scope = "token"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        from portal.models import ApiToken

        if not isinstance(request.auth, ApiToken):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}


class UserRateThrottle(_SettingsRateThrottle):
    """Limits each user over all their tokens and their browser session;
    an anonymous caller is counted by address."""

    scope = "user"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        if request.user and request.user.is_authenticated:
            ident = f"u{request.user.pk}"
        else:
            ident = f"ip{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
