"""Requests Squadron itself makes to URLs others chose, besides webhook
deliveries: an order form's choices fetched from a URL
(``catalogue.dynamic_choices``). They go through the webhooks' SSRF guard
and pinned connection, so one policy decides where the server may connect.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading

from catalogue.dynamic_choices import ChoicesUnavailable, url_guard_register
from portal.integrations.webhooks.delivery import USER_AGENT, pinned_connection
from portal.integrations.webhooks.ssrf import url_problem


class ChoicesUrlGuard:
    """The catalogue's ``UrlGuard``: the webhooks' rules for where to connect."""

    def problem(self, url: str) -> str | None:
        return url_problem(url)

    def get(self, url: str, *, timeout: float, limit: int) -> bytes:
        """The body of a GET of ``url`` (no redirect followed, at most
        ``limit`` bytes, all of it within ``timeout`` seconds: the socket's
        own timeout bounds each read, so a source dripping its answer a byte
        at a time would hold the page for ``limit`` reads); ChoicesUnavailable
        saying why otherwise."""
        pinned = pinned_connection(url, timeout=timeout)
        if isinstance(pinned, str):
            raise ChoicesUnavailable(f"The choices could not be loaded: {pinned}")
        connection, path = pinned
        cut = threading.Event()

        def cut_off() -> None:
            # From the timer's thread: shutting the socket down ends the
            # read the request's thread is blocked in.
            cut.set()
            sock = connection.sock  # read once: the request's thread may close it meanwhile
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

        timer = threading.Timer(timeout, cut_off)
        timer.daemon = True
        timer.start()
        try:
            connection.connect()
            if cut.is_set():  # the deadline passed while connecting, before a socket was there to cut
                raise OSError("cut off")
            connection.request("GET", path, headers={"Accept": "application/json", "User-Agent": USER_AGENT})
            response = connection.getresponse()
            body = response.read(limit + 1)
        except TimeoutError:
            raise ChoicesUnavailable(
                f"The choices could not be loaded: no answer within {timeout:g} s."
            ) from None
        except (OSError, ssl.SSLError, http.client.HTTPException) as error:
            if cut.is_set():
                raise ChoicesUnavailable(
                    f"The choices could not be loaded: no complete answer within {timeout:g} s."
                ) from None
            raise ChoicesUnavailable(
                f"The choices could not be loaded: {error.__class__.__name__}."
            ) from None
        finally:
            timer.cancel()
            connection.close()
        if cut.is_set():
            # The shutdown may end a read as a short answer instead of an error.
            raise ChoicesUnavailable(
                f"The choices could not be loaded: no complete answer within {timeout:g} s."
            )
        if response.status != 200:
            raise ChoicesUnavailable(
                f"The choices could not be loaded: the source answered HTTP {response.status}."
            )
        if len(body) > limit:
            raise ChoicesUnavailable(f"The choices could not be loaded: the answer is over {limit} bytes.")
        return body


def register() -> None:
    url_guard_register(ChoicesUrlGuard())
