"""Secrets a page shows once, on the page a form redirects to.

Creating a token or a webhook, or replacing a webhook's secret, answers
with a redirect (so a reload or Back never does it twice) and the page it
leads to shows the new secret once. In between, the secret waits in the
session encrypted with the credential key — never in clear text in the
database — and the first page that shows it removes it.
"""

from __future__ import annotations

from django.http import HttpRequest

from runbooks.crypto import DecryptionError, decrypt_json, encrypt_json

SESSION_KEY = "squadron.reveal"


def reveal_next(request: HttpRequest, what: str, about: int, secret: str) -> None:
    """Keep ``secret`` of ``what`` number ``about`` (a token, a webhook) for
    the next page that asks for it; one at a time."""
    request.session[SESSION_KEY] = {"what": what, "about": about, "secret": encrypt_json(secret)}


def revealed(request: HttpRequest, what: str, about: int | None = None) -> tuple[int, str] | None:
    """``(about, secret)`` kept for ``what`` (and that ``about``, if given),
    taken out of the session; None if there is none: already shown, or kept
    for another page."""
    kept = request.session.get(SESSION_KEY)
    if not isinstance(kept, dict) or kept.get("what") != what:
        return None
    if about is not None and kept.get("about") != about:
        return None
    del request.session[SESSION_KEY]
    try:
        secret = decrypt_json(kept["secret"])
    except (DecryptionError, KeyError):  # the credential key was replaced meanwhile
        return None
    return (kept["about"], secret) if isinstance(secret, str) else None
