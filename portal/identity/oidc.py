"""OpenID Connect login (mozilla-django-oidc): the authorization code flow
with PKCE, state and nonce, against the provider ``SQUADRON_OIDC_*`` names.

mozilla-django-oidc does the protocol; this module gives it the endpoints
from the provider's discovery document instead of settings, checks what the
library leaves unchecked (the ID token's issuer, audience and expiry, a
public-key signature only, the userinfo answering for the same subject), and
hands the claims to ``oidc_accounts``, which finds the account by the
provider's subject alone.

Whatever goes wrong (provider down, garbage, a forged or misdirected token,
claims Squadron refuses) ends as ``SignInFailure`` on the request for the
page to explain, a warning in the log, and a failed login recorded like a
wrong password (Django's ``user_login_failed``, which axes counts and keeps).
"""

from __future__ import annotations

import logging
from typing import Any

import jwt
import requests
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User
from django.core.exceptions import SuspiciousOperation
from django.db.models import F
from django.http import HttpRequest
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings

from portal.identity.models import OidcIdentity
from portal.identity.oidc_accounts import (
    SignInClaims,
    SignInRefused,
    oidc_account_deactivate,
    oidc_identity_checked,
    oidc_user_sign_in,
    sign_in_claims,
)
from portal.identity.oidc_config import (
    SIGNING_ALGORITHMS,
    OidcConfig,
    ProviderGarbage,
    ProviderUnreachable,
    discovery,
    oidc_config,
)
from runbooks.crypto import DecryptionError, decrypt_json

logger = logging.getLogger(__name__)

#: Where the provider sends the browser back (``portal/urls.py``).
CALLBACK_URL_NAME = "oidc-callback"
#: What the login leaves on the request for the callback page.
FAILURE_ATTRIBUTE = "squadron_oidc_failure"
CLAIMS_ATTRIBUTE = "squadron_oidc_claims"


class SignInFailure(Exception):
    """Why a single sign-on did not log anyone in: ``reason`` for the log and
    the record (unreachable, garbage, invalid-token, claims, username-taken,
    inactive, refused), the message for the person."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def library_setting(name: str, *default: Any) -> Any:
    """mozilla-django-oidc's settings, from ``SQUADRON_OIDC_*`` and the
    provider's discovery document. Endpoints are read only when a login
    needs them, so a provider that is down stops nothing else."""
    config = oidc_config()
    if config is None:
        return import_from_settings(name, *default)
    fixed: dict[str, Any] = {
        "OIDC_RP_CLIENT_ID": config.client_id,
        "OIDC_RP_CLIENT_SECRET": config.client_secret,
        "OIDC_RP_SCOPES": config.scopes,
        "OIDC_USE_NONCE": True,
        "OIDC_USE_PKCE": True,
        "OIDC_PKCE_CODE_CHALLENGE_METHOD": "S256",
        "OIDC_TIMEOUT": config.timeout,
        "OIDC_VERIFY_SSL": True,
        "OIDC_PROXY": None,
        # client_secret_basic: the method every provider supports, and the
        # default of Keycloak, Entra ID, Okta and oidc-provider.
        "OIDC_TOKEN_USE_BASIC_AUTH": True,
        "OIDC_AUTHENTICATION_CALLBACK_URL": CALLBACK_URL_NAME,
        "OIDC_ALLOW_UNSECURED_JWT": False,
        "OIDC_VERIFY_KID": True,
        "OIDC_RP_IDP_SIGN_KEY": None,
        "OIDC_STORE_ACCESS_TOKEN": False,
        "OIDC_STORE_ID_TOKEN": False,
        "OIDC_CREATE_USER": True,
        "LOGIN_REDIRECT_URL_FAILURE": settings.LOGIN_URL,
    }
    if name in fixed:
        return fixed[name]
    endpoints = {
        "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
        "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
        "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
        "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
    }
    if name in endpoints:
        return discovery(config)[endpoints[name]]
    return import_from_settings(name, *default)


class OidcBackend(OIDCAuthenticationBackend):
    """Authenticates the provider's callback, and nothing else: a password
    login never reaches the provider. Deactivated accounts are nobody, also
    for a session that logged in before (unlike the library's ``get_user``)."""

    get_settings = staticmethod(library_setting)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Not the library's __init__, which reads every endpoint: Django
        # builds each backend for every login and request of a session.
        self.UserModel = User

    @property
    def OIDC_RP_CLIENT_ID(self) -> str:
        return str(library_setting("OIDC_RP_CLIENT_ID"))

    @property
    def OIDC_RP_CLIENT_SECRET(self) -> str:
        return str(library_setting("OIDC_RP_CLIENT_SECRET"))

    @property
    def OIDC_OP_TOKEN_ENDPOINT(self) -> str:
        return str(library_setting("OIDC_OP_TOKEN_ENDPOINT"))

    @property
    def OIDC_OP_USER_ENDPOINT(self) -> str:
        return str(library_setting("OIDC_OP_USER_ENDPOINT"))

    @property
    def OIDC_OP_JWKS_ENDPOINT(self) -> str:
        return str(library_setting("OIDC_OP_JWKS_ENDPOINT"))

    @property
    def OIDC_RP_SIGN_ALGO(self) -> str:
        # Only an RS or ES value makes the library fetch the provider's keys.
        return "RS256"

    OIDC_RP_IDP_SIGN_KEY = None

    def get_user(self, user_id: int) -> User | None:
        return ModelBackend.get_user(self, user_id)

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> User | None:
        config = oidc_config()
        # Only the callback passes a nonce (mozilla's callback view).
        if request is None or config is None or "nonce" not in kwargs:
            return None
        try:
            user = super().authenticate(request, **kwargs)
        except SignInFailure as failure:
            _failed(request, failure)
            return None
        except SignInRefused as refusal:
            _failed(request, SignInFailure(str(refusal), reason=refusal.reason))
            return None
        except (ProviderUnreachable, requests.ConnectionError, requests.Timeout) as error:
            _failed(request, SignInFailure(_unreachable(config), reason="unreachable"), detail=error)
            return None
        except (ProviderGarbage, requests.RequestException, ValueError, KeyError, TypeError) as error:
            _failed(request, SignInFailure(_garbage(config), reason="garbage"), detail=error)
            return None
        except (SuspiciousOperation, jwt.PyJWTError) as error:
            _failed(request, _invalid_token(config), detail=error)
            return None
        if user is None:
            _failed(request, SignInFailure(_garbage(config), reason="garbage"))
            return None
        return user

    def get_token(self, payload: dict[str, Any]) -> dict[str, Any]:
        answer = super().get_token(payload)
        if not isinstance(answer, dict) or not isinstance(answer.get("id_token"), str):
            raise ProviderGarbage("the token endpoint answered without an ID token")
        if not isinstance(answer.get("access_token"), str):
            raise ProviderGarbage("the token endpoint answered without an access token")
        refresh_token = answer.get("refresh_token")
        self._refresh_token = refresh_token if isinstance(refresh_token, str) else None
        return answer

    def _verify_jws(self, payload: str, key: Any) -> dict[str, Any]:
        """The ID token's claims once its signature, issuer, audience and
        lifetime are right (the library checks the signature alone)."""
        config = _config()
        algorithm = jwt.get_unverified_header(payload).get("alg")
        if algorithm not in SIGNING_ALGORITHMS:
            raise SuspiciousOperation(f"ID token signed with {algorithm!r}, not a public-key algorithm")
        claims: dict[str, Any] = jwt.decode(
            payload,
            key,
            algorithms=[algorithm],
            audience=config.client_id,
            issuer=config.issuer,
            leeway=60,
            options={"require": ["iss", "sub", "aud", "exp", "iat"]},
        )
        # An ID token for several audiences names who it was issued to.
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != config.client_id:
            raise SuspiciousOperation("ID token issued to another party (azp)")
        return claims

    def retrieve_matching_jwk(self, token: str) -> Any:
        # The library's JWKS lookup, with the header's algorithm checked
        # first: a key of another kind must not be tried.
        if jwt.get_unverified_header(token).get("alg") not in SIGNING_ALGORITHMS:
            raise SuspiciousOperation("ID token not signed with a public-key algorithm")
        return super().retrieve_matching_jwk(token)

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        if "nonce" in kwargs and not kwargs["nonce"]:
            # A callback without the nonce of its own request cannot be checked.
            raise SuspiciousOperation("no nonce kept for this login")
        claims: dict[str, Any] = super().verify_token(token, **kwargs)
        return claims

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]) -> User:
        config = _config()
        claims = dict(payload)
        userinfo = self.get_userinfo(access_token, id_token, payload)
        if not isinstance(userinfo, dict):
            raise ProviderGarbage("the userinfo endpoint answered no JSON object")
        # OpenID Connect Core 5.3.2: the userinfo must be about the ID token's
        # subject, or neither may be trusted (a token substitution).
        if userinfo.get("sub") != payload["sub"]:
            raise SignInFailure(_invalid_token(config).args[0], reason="invalid-token")
        claims.update(userinfo)
        checked: SignInClaims = sign_in_claims(claims, config=config)
        user = oidc_user_sign_in(
            issuer=config.issuer, claims=checked, refresh_token=getattr(self, "_refresh_token", None)
        )
        setattr(self.request, CLAIMS_ATTRIBUTE, checked)
        return user


def _config() -> OidcConfig:
    config = oidc_config()
    if config is None:  # SSO turned off between the two steps of one login
        raise SignInFailure("Single sign-on is not set up.", reason="refused")
    return config


def _unreachable(config: OidcConfig) -> str:
    return (
        f"{config.name} cannot be reached right now. Try again in a moment, "
        "or log in with your Squadron username and password."
    )


def _garbage(config: OidcConfig) -> str:
    return (
        f"{config.name} answered something Squadron cannot use, so you are not logged in. "
        "Try again later, or log in with your Squadron username and password."
    )


def _invalid_token(config: OidcConfig) -> SignInFailure:
    return SignInFailure(
        f"The answer from {config.name} did not prove who you are (its token was not valid for "
        "Squadron), so you are not logged in. The attempt was recorded.",
        reason="invalid-token",
    )


def _failed(request: HttpRequest, failure: SignInFailure, *, detail: object = None) -> None:
    """Leave the failure for the page and the log; returning None makes
    Django send ``user_login_failed``, which records it."""
    setattr(request, FAILURE_ATTRIBUTE, failure)
    logger.warning(
        "Single sign-on refused (%s) from %s: %s%s",
        failure.reason,
        request.META.get("REMOTE_ADDR"),
        failure,
        f" [{type(detail).__name__}: {detail}]" if detail is not None else "",
    )
    return None


def sign_in_failure(request: HttpRequest) -> SignInFailure | None:
    failure = getattr(request, FAILURE_ATTRIBUTE, None)
    return failure if isinstance(failure, SignInFailure) else None


def sign_in_claims_of(request: HttpRequest) -> SignInClaims | None:
    claims = getattr(request, CLAIMS_ATTRIBUTE, None)
    return claims if isinstance(claims, SignInClaims) else None


def unreachable_failure(config: OidcConfig, *, garbage: bool) -> SignInFailure:
    """Why the login cannot start: the provider's discovery failed."""
    if garbage:
        return SignInFailure(_garbage(config), reason="garbage")
    return SignInFailure(_unreachable(config), reason="unreachable")


def oidc_identities_check(*, limit: int = 500) -> dict[str, int]:
    """Ask the provider about the people who signed in with it, the longest
    unchecked first (``SQUADRON_OIDC_CHECK_MINUTES``): the refresh token of
    their last login is refused (``invalid_grant``) once the provider has
    disabled or deleted them, and then their account is deactivated here,
    which ends its sessions and stops its API tokens. Counts each outcome."""
    config = oidc_config()
    outcomes = {"active": 0, "deactivated": 0, "unknown": 0}
    if config is None:
        return outcomes
    identities = (
        OidcIdentity.objects.filter(issuer=config.issuer, user__is_active=True)
        .exclude(refresh_token="")
        .select_related("user")
        .order_by(F("last_checked_at").asc(nulls_first=True), "pk")[:limit]
    )
    for identity in identities:
        outcomes[oidc_identity_check(identity, config=config)] += 1
    return outcomes


def oidc_identity_check(identity: OidcIdentity, *, config: OidcConfig) -> str:
    """One person: "active", "deactivated", or "unknown" when the provider
    could not be asked (down, garbage): an outage never deactivates anyone."""
    try:
        refresh_token = decrypt_json(identity.refresh_token)
        endpoint = discovery(config)["token_endpoint"]
        response = requests.post(
            endpoint,
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            auth=(config.client_id, config.client_secret),
            timeout=config.timeout,
            allow_redirects=False,
        )
        answer = response.json()
    except (
        DecryptionError,
        ProviderUnreachable,
        ProviderGarbage,
        requests.RequestException,
        ValueError,
    ) as error:
        logger.warning("Could not ask %s about %s: %s", config.issuer, identity.user.username, error)
        return "unknown"
    if not isinstance(answer, dict):
        return "unknown"
    if response.status_code == 200 and isinstance(answer.get("access_token"), str):
        new_token = answer.get("refresh_token")
        oidc_identity_checked(
            identity=identity, refresh_token=new_token if isinstance(new_token, str) else None
        )
        return "active"
    if response.status_code in (400, 401) and answer.get("error") == "invalid_grant":
        oidc_account_deactivate(
            identity=identity, why=f"invalid_grant ({answer.get('error_description', '')})"
        )
        return "deactivated"
    logger.warning(
        "%s answered HTTP %s about %s", config.issuer, response.status_code, identity.user.username
    )
    return "unknown"
