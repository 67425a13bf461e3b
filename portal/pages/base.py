"""What every page shares: the login guard that knows about HTMX, and the
types of the requests it lets through."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import quote

from django.contrib.auth.decorators import login_required as django_login_required
from django.contrib.auth.models import User
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from portal.pages import resume


class HtmxHttpRequest(HttpRequest):
    """A request as django-htmx's middleware leaves it, with ``htmx`` (for the
    type checker: Django's ``HttpRequest`` knows nothing of it)."""

    htmx: HtmxDetails


class AuthenticatedHttpRequest(HtmxHttpRequest):
    """A request that ``login_required`` let through: its user is signed in,
    so the type checker knows it as a ``User``, not possibly anonymous."""

    user: User


def login_required(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Django's ``login_required``, except that a live part of a page (an HTMX
    request) whose session has ended sends the whole page to the login form,
    instead of the login form being swapped into the page; and that a form
    sent after the session ended is kept and offered again on its page after
    login, never carried out by the login (``portal.pages.resume``)."""
    guarded = django_login_required(view)

    @wraps(view)
    def wrapper(request: HtmxHttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.htmx and not request.user.is_authenticated:
            page = request.htmx.current_url_abs_path or reverse("home")
            return HttpResponseClientRedirect(f"{reverse('login')}?next={quote(page)}")
        if not request.user.is_authenticated and request.method == "POST":
            return resume.expired_post(request, view, kwargs)
        if (
            request.method == "GET"
            and request.user.is_authenticated
            and resume.SESSION_KEY in request.session
        ):
            resume.offer_resumed(request)
        return guarded(request, *args, **kwargs)

    return wrapper
