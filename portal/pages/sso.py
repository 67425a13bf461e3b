"""Single sign-on pages: "Sign in with ..." sends the browser to the OpenID
provider, and the provider sends it back here (mozilla-django-oidc's views,
given the portal's pages for what goes wrong and the two-step login).

Both answer 404 while ``SQUADRON_OIDC_ISSUER`` is unset.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import login as auth_login
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from portal.identity.oidc import (
    SignInFailure,
    library_setting,
    sign_in_claims_of,
    sign_in_failure,
    unreachable_failure,
)
from portal.identity.oidc_config import ProviderGarbage, ProviderUnreachable, discovery, oidc_config
from portal.identity.selectors import has_two_step_login
from portal.identity.session import login_pending_start
from portal.identity.signals import groups_seen

logger = logging.getLogger(__name__)

#: The status of each failure's page: the provider's fault is a bad gateway,
#: the person's or the answer's a refusal.
STATUS = {"unreachable": 503, "garbage": 502}


def failure_page(request: HttpRequest, failure: SignInFailure, *, log: bool = False) -> HttpResponse:
    """The page of a refused single sign-on; ``log`` for the refusals the
    backend did not see (and so did not log)."""
    if log:
        logger.warning(
            "Single sign-on refused (%s) from %s: %s",
            failure.reason,
            request.META.get("REMOTE_ADDR"),
            failure,
        )
    config = oidc_config()
    context = {"failure": failure, "provider": config.name if config else "single sign-on"}
    return render(request, "registration/sso_failed.html", context, status=STATUS.get(failure.reason, 403))


def refused_failure(provider: str, error: str, description: str | None) -> SignInFailure:
    """The provider said no (a disabled account, a denied consent)."""
    said = (description or "").strip()[:300] or f"it answered {error[:60]!r}"
    return SignInFailure(
        f"{provider} did not let you in: {said.rstrip('.')}. If your account there was disabled "
        "or has no access to Squadron, ask its administrators.",
        reason="refused",
    )


class SignInStart(OIDCAuthenticationRequestView):
    """Sends the browser to the provider with a new state, nonce and PKCE
    challenge (kept in the session for the way back)."""

    get_settings = staticmethod(library_setting)

    def __init__(self, **kwargs: Any) -> None:
        # The library reads the endpoint here; the portal reads it in get(),
        # where a provider that is down can be told to the person.
        super(OIDCAuthenticationRequestView, self).__init__(**kwargs)

    def get(self, request: HttpRequest) -> HttpResponseBase:
        config = oidc_config()
        if config is None:
            raise Http404("Single sign-on is not set up.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = discovery(config)["authorization_endpoint"]
        except (ProviderUnreachable, ProviderGarbage) as error:
            failure = unreachable_failure(config, garbage=isinstance(error, ProviderGarbage))
            return failure_page(request, failure, log=True)
        self.OIDC_RP_CLIENT_ID = config.client_id
        return super().get(request)


class SignInCallback(OIDCAuthenticationCallbackView):
    """Where the provider sends the browser back with a code (or an error):
    the code is exchanged, the ID token checked, the account found or made,
    and the person logged in, or told why not."""

    get_settings = staticmethod(library_setting)

    def get(self, request: HttpRequest) -> HttpResponseBase:
        config = oidc_config()
        if config is None:
            raise Http404("Single sign-on is not set up.")
        states = request.session.get("oidc_states")
        state = request.GET.get("state")
        known = isinstance(states, dict) and state in states
        error = request.GET.get("error")
        if error:
            if isinstance(states, dict) and known:
                # That login is over: its state may not be answered twice.
                del states[state]
                request.session.modified = True
            # The provider's words only for a login this browser started: on
            # a link anyone can craft they would be anyone's words on our page.
            description = request.GET.get("error_description") if known else None
            return failure_page(request, refused_failure(config.name, error, description), log=True)
        if not known or "code" not in request.GET:
            # No login of this browser waits for this answer: an old tab, a
            # link from someone else (login CSRF), a replay.
            return failure_page(
                request,
                SignInFailure(
                    f"This answer from {config.name} belongs to no login started in this browser "
                    "(it may be old, or it was used already). Start again from the login page.",
                    reason="state",
                ),
                log=True,
            )
        response = super().get(request)
        failure = sign_in_failure(request)
        if failure is not None:
            return failure_page(request, failure)
        return response

    def login_success(self) -> HttpResponse:
        request, user = self.request, self.user
        claims = sign_in_claims_of(request)
        groups = claims.groups if claims is not None else []
        # The groups describe the person at the provider now, whatever the
        # second step below: the mapping follows them.
        groups_seen.send(sender="oidc", user=user, groups=groups)
        if has_two_step_login(user):
            # Whoever set up a two-step login here gives its code after the
            # provider too, exactly as after a password.
            login_pending_start(request, user=user, next_url=self.success_url)
            return redirect("login-code")
        auth_login(request, user)
        return redirect(self.success_url)
