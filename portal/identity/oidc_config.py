"""What the ``SQUADRON_OIDC_*`` settings say, and the provider's own
description of itself (its discovery document), read when a login needs it.

Free of models and requests' sessions so that the settings module can check
the values at start-up.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

#: How long the discovery document is trusted before it is read again: a
#: provider that rotates its endpoints is followed within the hour.
DISCOVERY_SECONDS = 3600
#: The ID token signatures Squadron accepts: public-key ones only. An HMAC
#: signed with the client secret would let whoever knows that secret (any
#: copy of Squadron's configuration) mint tokens; "none" is no signature.
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")


def is_loopback_host(host: str | None) -> bool:
    """Whether ``host`` is this machine (localhost, 127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def oidc_settings_problems(*, issuer: str, client_id: str, client_secret: str, scopes: str) -> list[str]:
    """What is wrong with an OpenID Connect configuration, for start-up to refuse."""
    problems = []
    parts = urlsplit(issuer)
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback_host(parts.hostname)):
        problems.append(
            f"SQUADRON_OIDC_ISSUER must be an https:// URL (http:// only on this machine), not {issuer!r}"
        )
    if parts.query or parts.fragment:
        problems.append("SQUADRON_OIDC_ISSUER must have no query or fragment")
    if not client_id:
        problems.append("SQUADRON_OIDC_ISSUER is set: SQUADRON_OIDC_CLIENT_ID must be set too")
    if not client_secret:
        problems.append(
            "SQUADRON_OIDC_ISSUER is set: SQUADRON_OIDC_CLIENT_SECRET (or its _FILE) must be set too"
        )
    if "openid" not in scopes.split():
        problems.append(f"SQUADRON_OIDC_SCOPES must include openid, not {scopes!r}")
    return problems


@dataclass(frozen=True)
class OidcConfig:
    """Squadron's registration at one OpenID provider."""

    issuer: str
    client_id: str
    client_secret: str
    name: str
    scopes: str
    username_claim: str
    groups_claim: str
    timeout: float


def oidc_config() -> OidcConfig | None:
    """The provider Squadron signs in with, or None when SSO is off."""
    from django.conf import settings

    if not settings.SQUADRON_OIDC_ISSUER:
        return None
    return OidcConfig(
        issuer=settings.SQUADRON_OIDC_ISSUER,
        client_id=settings.SQUADRON_OIDC_CLIENT_ID,
        client_secret=settings.SQUADRON_OIDC_CLIENT_SECRET,
        name=settings.SQUADRON_OIDC_NAME,
        scopes=settings.SQUADRON_OIDC_SCOPES,
        username_claim=settings.SQUADRON_OIDC_USERNAME_CLAIM,
        groups_claim=settings.SQUADRON_OIDC_GROUPS_CLAIM,
        timeout=float(settings.SQUADRON_OIDC_TIMEOUT_SECONDS),
    )


class ProviderUnreachable(Exception):
    """The provider did not answer (in time)."""


class ProviderGarbage(Exception):
    """The provider answered something that is not what the protocol says."""


_discovered: dict[str, tuple[float, dict[str, Any]]] = {}
_lock = threading.Lock()
#: The endpoints a login needs, each an http(s) URL.
ENDPOINTS = ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri")


def discovery(config: OidcConfig) -> dict[str, Any]:
    """The provider's discovery document, checked: it names the configured
    issuer (OpenID Connect Discovery 1.0, section 4.3: otherwise whoever
    serves the document could pass tokens off as the issuer's) and every
    endpoint a login uses. Kept for an hour; a failure is not kept."""
    with _lock:
        kept = _discovered.get(config.issuer)
    if kept is not None and kept[0] > time.monotonic():
        return kept[1]
    # Discovery 1.0, section 4: the issuer less any trailing slash, then the
    # well-known path (Auth0's issuers end with a slash).
    url = f"{config.issuer.rstrip('/')}/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=config.timeout, allow_redirects=False)
    except requests.RequestException as error:
        raise ProviderUnreachable(f"{url}: {type(error).__name__}") from error
    if response.status_code >= 500:
        raise ProviderUnreachable(f"{url}: HTTP {response.status_code}")
    try:
        document = response.json() if response.status_code == 200 else None
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise ProviderGarbage(f"{url}: HTTP {response.status_code}, not a JSON object")
    if document.get("issuer") != config.issuer:
        raise ProviderGarbage(f"{url} names the issuer {document.get('issuer')!r}, not {config.issuer!r}")
    for endpoint in ENDPOINTS:
        value = document.get(endpoint)
        if not isinstance(value, str) or urlsplit(value).scheme not in ("https", "http"):
            raise ProviderGarbage(f"{url} has no usable {endpoint}")
    with _lock:
        _discovered[config.issuer] = (time.monotonic() + DISCOVERY_SECONDS, document)
    return document


def discovery_forget() -> None:
    """Read the discovery document again at the next login (tests, and a
    provider that changed its endpoints)."""
    with _lock:
        _discovered.clear()
