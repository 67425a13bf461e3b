"""Whoever must use a two-step login (``SQUADRON_REQUIRE_MFA``) and is
logged in without one reaches only the page that sets it up, and logging out."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth import SESSION_KEY, logout
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve, reverse
from django_htmx.http import HttpResponseClientRedirect

from portal.identity.selectors import has_two_step_login, two_step_required_for
from portal.identity.session import two_step_verified

#: The pages someone who still has to set up a two-step login may open.
OPEN_BEFORE_ENROLMENT = frozenset({"account-security", "logout", "healthz", "readyz", "favicon"})


class TwoStepLoginRequiredMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Nothing to check (and no query) without the policy or a login.
        if settings.SQUADRON_REQUIRE_MFA != "none" and SESSION_KEY in request.session:
            user = request.user
            if two_step_required_for(user) and not two_step_verified(request):
                refusal = self._refusal(request)
                if refusal is not None:
                    return refusal
        return self.get_response(request)

    def _refusal(self, request: HttpRequest) -> HttpResponse | None:
        try:
            if resolve(request.path_info).url_name in OPEN_BEFORE_ENROLMENT:
                return None
        except Resolver404:
            pass
        user = request.user
        assert user.is_authenticated  # two_step_required_for() is False for anyone else
        if has_two_step_login(user):
            # Set up elsewhere since this session logged in: this one never
            # gave a code, so it logs in again, code and all.
            logout(request)
            target = f"{reverse('login')}?next={quote(request.get_full_path())}"
        else:
            target = reverse("account-security")
        if request.path_info.startswith("/api/"):
            return JsonResponse(
                {"detail": f"Your account must use a two-step login: set it up at {target} first."},
                status=403,
            )
        if getattr(request, "htmx", False):
            return HttpResponseClientRedirect(target)
        return redirect(target)
