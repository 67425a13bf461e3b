"""What the login page says when the company directory (LDAP) could not
check a password. Apart from ``portal.identity.ldap`` so that pages import
it without python-ldap, which a machine without OpenLDAP's headers lacks."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.http import HttpRequest

from portal.identity.oidc_config import is_loopback_host

#: Where the request carries what went wrong with the directory, for the page.
TROUBLE_ATTRIBUTE = "_squadron_directory_trouble"


def directory_trouble(request: HttpRequest) -> str | None:
    """What the login page tells a person whose login the directory could not
    check (it did not answer, or failed), or None."""
    trouble = getattr(request, TROUBLE_ATTRIBUTE, None)
    if trouble == "unreachable":
        return (
            "The company directory (LDAP) did not answer, so your password could not be checked: "
            "try again in a few minutes. Local accounts can still log in."
        )
    if trouble == "failed":
        return (
            "The company directory (LDAP) could not check your password (an error on its side or in "
            "Squadron's settings for it): tell an administrator. Local accounts can still log in."
        )
    return None


def cleartext_directories(server_uri: str, *, start_tls: bool) -> list[str]:
    """The directories of ``SQUADRON_LDAP_SERVER_URI`` (a list separated by
    spaces or commas, as OpenLDAP reads it) that would get every login's
    password in clear text over the network: ``ldap://`` to another machine
    without StartTLS."""
    if start_tls:
        return []
    return [
        uri
        for uri in re.split(r"[\s,]+", server_uri.strip())
        if uri.lower().startswith("ldap://") and not is_loopback_host(urlsplit(uri).hostname)
    ]
