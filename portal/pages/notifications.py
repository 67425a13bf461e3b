"""The person's notifications: the list with its unread count, marking read,
and which kinds they also want by email."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from portal.notifications import selectors, services
from portal.notifications.choices import NotificationKind
from portal.pages.base import AuthenticatedHttpRequest, login_required
from portal.pages.resume import post_only

PAGE_SIZE = 25


@login_required
def notification_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    page = Paginator(selectors.notifications_of(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "portal/notifications/list.html", {"page": page})


@login_required
@post_only(lambda request, notification_id: reverse("notifications"))
def notification_open(request: AuthenticatedHttpRequest, notification_id: int) -> HttpResponse:
    """Mark a notification read and go where it points (the order page)."""
    if not services.notification_mark_read(user=request.user, notification_id=notification_id):
        raise Http404("No such notification.")
    link = selectors.notifications_of(request.user).filter(pk=notification_id).values_list("link", flat=True)
    target = next(iter(link), "") or "notifications"
    if target != "notifications" and not url_has_allowed_host_and_scheme(target, allowed_hosts=None):
        target = "notifications"
    return redirect(target)


@login_required
@post_only(lambda request: reverse("notifications"))
def notification_read_all(request: AuthenticatedHttpRequest) -> HttpResponse:
    count = services.notifications_mark_all_read(user=request.user)
    messages.success(request, f"{count} notification(s) marked read." if count else "Nothing unread.")
    return redirect("notifications")


@login_required
@require_http_methods(["GET", "POST"])
def notification_preferences(request: AuthenticatedHttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            services.email_preferences_set(user=request.user, email_kinds=request.POST.getlist("email"))
        except ValueError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, "Your email preferences are saved.")
            return redirect("notification-preferences")
    chosen = selectors.email_preferences(request.user)
    kinds = [(kind.value, kind.label, chosen[kind.value]) for kind in NotificationKind]
    return render(
        request,
        "portal/notifications/preferences.html",
        {"kinds": kinds, "has_email": bool(request.user.email)},
    )
