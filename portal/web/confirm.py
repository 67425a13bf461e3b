"""Pages that ask before a command that cannot be undone, and ids read from
text the user controls."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def confirmed(request: HttpRequest) -> bool:
    """Whether this is the answer of the confirmation page (not a first click)."""
    return request.method == "POST" and request.POST.get("confirmed") == "yes"


def ask_first(
    request: HttpRequest, *, section: str, title: str, consequence: str, button: str, action: str, cancel: str
) -> HttpResponse:
    """The confirmation page: what will happen, a button that posts the
    command again with ``confirmed=yes``, and a way back."""
    return render(
        request,
        "portal/confirm.html",
        {
            "section": section,
            "title": title,
            "consequence": consequence,
            "button": button,
            "action": action,
            "cancel": cancel,
        },
    )


def id_from_text(text: str) -> int | None:
    """A row id written in a URL or a form, or None: at most 18 digits, as a
    larger number is no row's and overflows the database."""
    return int(text) if text.isdigit() and len(text) < 19 else None
