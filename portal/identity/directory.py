"""What the login page says when the company directory (LDAP) could not
check a password. Apart from ``portal.identity.ldap`` so that pages import
it without python-ldap, which a machine without OpenLDAP's headers lacks."""

from __future__ import annotations

from django.http import HttpRequest

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
