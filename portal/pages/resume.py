"""Forms sent after the session expired: not lost, not replayed.

A POST that arrives without a signed-in user (the session expired while the
form was open) is never carried out after login: a login must not turn into
a decision its person did not make again knowingly. Instead what was typed is
kept, encrypted, in the (new, anonymous) session, which survives the login;
the login leads back to the page the form was on, not to the POST-only
address (which would answer a GET with a 405), and that page offers the
form again, filled in, once. Secret fields are never kept: they are typed
again, and the page says so.

``post_only`` replaces ``require_POST`` on the pages' POST-only views: it
names the page each one belongs to (where a GET is sent, and where the
login leads back) and what of its form may be kept. ``login_required``
(``portal.pages.base``) calls ``expired_post`` and ``offer_resumed``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect, QueryDict
from django.http.response import HttpResponseBase
from django.utils.http import url_has_allowed_host_and_scheme

from runbooks.crypto import decrypt_json, encrypt_json

#: Where the kept form waits in the session.
SESSION_KEY = "squadron.expired_post"
#: The most of a form kept (its fields as JSON): more is not kept, and said.
MAX_BYTES = 32 * 1024
#: How long a kept form is offered again: a login long after is a new visit.
MAX_AGE_SECONDS = 2 * 60 * 60
#: Never kept, whatever the view says: Django's CSRF token.
NEVER_KEPT = frozenset({"csrfmiddlewaretoken"})
#: A signed cookie naming who last used this browser signed in: a kept form
#: is offered only to them (on a shared browser, the next person to log in
#: must not find what the last one typed).
WHO_COOKIE = "squadron_who"
WHO_SALT = "squadron.pages.resume.who"
WHO_MAX_AGE = 30 * 24 * 60 * 60


@dataclass(frozen=True)
class PostOnly:
    """What ``login_required`` needs to know of a POST-only view."""

    #: The address of the page its form is on: ``(request, **url kwargs)``.
    page: Callable[..., str]
    #: Whether what was typed is kept and offered again on that page (the
    #: view's page then reads it with ``resumed_fields``).
    keeps_input: bool
    #: Names of the fields never kept (secrets): ``(request, **url kwargs)``.
    private: Callable[..., Iterable[str]] | None = None


@dataclass(frozen=True)
class Resumed:
    """A form sent after the session expired, offered again on its page."""

    path: str
    fields: QueryDict


def post_only(
    page: Callable[..., str],
    *,
    keeps_input: bool = False,
    private: Callable[..., Iterable[str]] | None = None,
) -> Callable[[Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
    """``require_POST``, except that a GET (a bookmarked or typed address, a
    login's ``next``) is sent to the page the form is on instead of a bare 405."""
    spec = PostOnly(page=page, keeps_input=keeps_input, private=private)

    def decorate(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method == "POST":
                return view(request, *args, **kwargs)
            if request.method in ("GET", "HEAD"):
                return HttpResponseRedirect(local_page(request, spec.page(request, **kwargs)))
            return HttpResponseNotAllowed(["POST"])

        wrapper.post_only = spec  # type: ignore[attr-defined]  # read by login_required
        return wrapper

    return decorate


def local_page(request: HttpRequest, target: str, default: str = "/") -> str:
    """``target`` if it is an address of this site, else ``default``."""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return default


def expired_post(request: HttpRequest, view: Callable[..., Any], kwargs: dict[str, Any]) -> HttpResponseBase:
    """A POST without a signed-in user: keep what may be kept of it, and send
    the person to the login, which leads back to the form's page."""
    spec: PostOnly | None = getattr(view, "post_only", None)
    # A view that answers GET too is its own page.
    page = local_page(request, spec.page(request, **kwargs) if spec else request.get_full_path())
    fields: dict[str, list[str]] = {}
    too_long = False
    if spec is not None and spec.keeps_input:
        private = NEVER_KEPT | set(spec.private(request, **kwargs) if spec.private else ())
        fields = {name: request.POST.getlist(name) for name in request.POST if name not in private}
        if len(json.dumps(fields)) > MAX_BYTES:
            fields, too_long = {}, True
    who = request.get_signed_cookie(WHO_COOKIE, default=None, salt=WHO_SALT, max_age=WHO_MAX_AGE)
    request.session[SESSION_KEY] = encrypt_json(
        {
            "path": request.path,
            "page": page,
            "at": int(time.time()),
            "who": who,
            "fields": fields,
            "too_long": too_long,
        }
    )
    return redirect_to_login(page)


def offer_resumed(request: HttpRequest) -> None:
    """On a signed-in GET of the page a kept form belongs to: take it out of
    the session (it is offered once), say what happened, and leave it on the
    request for the view (``resumed_fields``)."""
    token = request.session.get(SESSION_KEY)
    if token is None:
        return
    try:
        kept = decrypt_json(token)
    except Exception:  # noqa: BLE001 - a key rotated or a session tampered with: nothing to offer
        kept = None
    if not isinstance(kept, dict) or time.time() - int(kept.get("at", 0)) > MAX_AGE_SECONDS:
        del request.session[SESSION_KEY]
        return
    if kept.get("who") != str(request.user.pk):
        # Typed by someone else on this browser (or by nobody we know of):
        # not theirs to see.
        del request.session[SESSION_KEY]
        return
    if kept.get("page") != request.get_full_path():
        return  # for another page; kept until it is opened, or too old
    del request.session[SESSION_KEY]
    fields = QueryDict(mutable=True)
    for name, values in (kept.get("fields") or {}).items():
        fields.setlist(str(name), [str(value) for value in values])
    request.resumed = Resumed(path=str(kept.get("path", "")), fields=fields)  # type: ignore[attr-defined]
    if kept.get("too_long"):
        messages.warning(
            request,
            "Your session had expired, so what you sent was not done, and it was too long to keep: "
            "please fill it in again.",
        )
    elif fields:
        messages.warning(
            request,
            "Your session had expired, so it was not done. What you typed is filled in again below: "
            "check it and send it again. Secret fields are never kept: type them again.",
        )
    else:
        messages.warning(
            request, "Your session had expired, so what you sent was not done: please do it again."
        )


def resumed_fields(request: HttpRequest, path: str) -> QueryDict | None:
    """The fields of the kept form that was sent to ``path``, if this page
    offers one now (see ``offer_resumed``)."""
    resumed: Resumed | None = getattr(request, "resumed", None)
    if resumed is None or resumed.path != path or not resumed.fields:
        return None
    return resumed.fields


class RememberWhoMiddleware:
    """Sets ``WHO_COOKIE`` on the responses to a signed-in person (when it
    does not name them yet), so that a form kept after their session expires
    is offered back to them alone."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            named = request.get_signed_cookie(WHO_COOKIE, default=None, salt=WHO_SALT, max_age=WHO_MAX_AGE)
            if named != str(user.pk):
                response.set_signed_cookie(
                    WHO_COOKIE,
                    str(user.pk),
                    salt=WHO_SALT,
                    max_age=WHO_MAX_AGE,
                    httponly=True,
                    samesite="Lax",
                    secure=settings.SESSION_COOKIE_SECURE,
                )
        return response
