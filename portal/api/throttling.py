"""Request rates per API token and per user (``SQUADRON_API_TOKEN_RATE``,
``SQUADRON_API_USER_RATE``).

Both read the rates when asked rather than when imported, so a changed
setting takes effect without a restart of the test process. Counts live in
Django's cache: per process with the default local-memory cache, shared by
every web process once ``CACHE_URL`` names a Redis server.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

if TYPE_CHECKING:  # rest_framework.views imports this module: no runtime import back
    from rest_framework.request import Request
    from rest_framework.views import APIView


#: A rate's period is counted in this many slices: what the cache holds per
#: caller stays this small (DRF keeps one timestamp per request, up to the
#: whole rate, which as JSON costs milliseconds per request at 3000/minute).
SLICES = 60


class _SettingsRateThrottle(SimpleRateThrottle):
    """A sliding window counted in ``SLICES`` slices of the rate's period.

    The cache holds ``[[slice, requests], ...]`` for the slices of the last
    period (JSON, see ``portal.cache``). The window counted always covers
    the whole last period, and at most one slice more: a caller never gets
    more than the rate in any period, and may be refused up to one slice
    (a second, for a rate per minute) early.

    Whoever else can write to the cache could leave any JSON under a
    throttle's key: what is not a list of slice counts reads as no requests
    (a 500 for every request of that user otherwise), and slices outside
    the window are dropped, so a forged count holds for one period at most."""

    # Set by SimpleRateThrottle.__init__ from the rate (DRF's stubs leave them out).
    num_requests: int
    duration: int

    def get_rate(self) -> str | None:
        # The rates are "N/period" strings, which DRF's stubs type as numbers.
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope or "")
        return None if rate is None else str(rate)

    def allow_request(self, request: Request, view: APIView) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        width = self.duration / SLICES
        current = math.floor(self.now / width)
        counts = _counts_since(cache.get(self.key), first=current - SLICES, last=current)
        if sum(counts.values()) >= self.num_requests:
            # Room comes back when the oldest counted slice leaves the window.
            self.wait_seconds = (min(counts) + SLICES + 1) * width - self.now
            return False
        counts[current] = counts.get(current, 0) + 1
        cache.set(self.key, [[at, requests] for at, requests in counts.items()], self.duration + 1)
        return True

    def wait(self) -> float | None:
        return self.wait_seconds


def _counts_since(stored: Any, *, first: int, last: int) -> dict[int, int]:
    """``{slice: requests}`` of what ``stored`` says about slices
    ``first``..``last``; anything of another shape counts as nothing."""
    if not isinstance(stored, list) or len(stored) > SLICES + 1:
        return {}
    counts: dict[int, int] = {}
    for entry in stored:
        if not (isinstance(entry, list) and len(entry) == 2 and all(type(n) is int for n in entry)):
            return {}
        at, requests = entry
        if first <= at <= last and requests > 0:
            counts[at] = counts.get(at, 0) + requests
    return counts


class TokenRateThrottle(_SettingsRateThrottle):
    """Limits each token, so one runaway integration cannot starve its user's
    other integrations (each has its own token)."""

    scope = "token"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        from portal.integrations.models import ApiToken

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
