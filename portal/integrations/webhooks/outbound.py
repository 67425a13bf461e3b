"""Requests Squadron itself makes to URLs others chose, besides webhook
deliveries: an order form's choices fetched from a URL
(``catalogue.dynamic_choices``). They go through the webhooks' SSRF guard
and pinned connection, so one policy decides where the server may connect.
"""

from __future__ import annotations

import http.client
import ssl

from catalogue.dynamic_choices import ChoicesUnavailable, url_guard_register
from portal.integrations.webhooks.delivery import USER_AGENT, pinned_connection
from portal.integrations.webhooks.ssrf import url_problem


class ChoicesUrlGuard:
    """The catalogue's ``UrlGuard``: the webhooks' rules for where to connect."""

    def problem(self, url: str) -> str | None:
        return url_problem(url)

    def get(self, url: str, *, timeout: float, limit: int) -> bytes:
        """The body of a GET of ``url`` (no redirect followed, at most
        ``limit`` bytes); ChoicesUnavailable saying why otherwise."""
        pinned = pinned_connection(url, timeout=timeout)
        if isinstance(pinned, str):
            raise ChoicesUnavailable(f"The choices could not be loaded: {pinned}")
        connection, path = pinned
        try:
            connection.request("GET", path, headers={"Accept": "application/json", "User-Agent": USER_AGENT})
            response = connection.getresponse()
            body = response.read(limit + 1)
        except TimeoutError:
            raise ChoicesUnavailable(
                f"The choices could not be loaded: no answer within {timeout:g} s."
            ) from None
        except (OSError, ssl.SSLError, http.client.HTTPException) as error:
            raise ChoicesUnavailable(
                f"The choices could not be loaded: {error.__class__.__name__}."
            ) from None
        finally:
            connection.close()
        if response.status != 200:
            raise ChoicesUnavailable(
                f"The choices could not be loaded: the source answered HTTP {response.status}."
            )
        if len(body) > limit:
            raise ChoicesUnavailable(f"The choices could not be loaded: the answer is over {limit} bytes.")
        return body


def register() -> None:
    url_guard_register(ChoicesUrlGuard())
