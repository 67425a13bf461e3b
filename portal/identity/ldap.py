"""Logging in with a company directory account (LDAP, Active Directory).

``DirectoryBackend`` is django-auth-ldap's backend configured by the
``SQUADRON_LDAP_*`` settings (README, "LDAP logins"). It comes after
Django's own in ``AUTHENTICATION_BACKENDS``, so local accounts log in as
before, and it does nothing unless ``SQUADRON_LDAP_SERVER_URI`` is set. On a
login the directory accepted, the person's groups (the group search) are sent
as ``groups_seen`` (sender ``"ldap"``), which brings their mapped memberships
in line (``portal.identity.mapping``).

Refused, with the login form's usual message: a wrong password, an account
the directory refuses to bind (disabled: Active Directory through the user
filter, OpenLDAP's password policy lock), a directory account whose name is
a local account's (one with a password of its own: the directory must not
take it over) or a single sign-on account's, an inactive Squadron account.
A directory that does not answer within ``SQUADRON_LDAP_TIMEOUT`` seconds,
or fails otherwise, is noted on the request (``directory_trouble``) for the
login page to say so; nothing is changed then, memberships included.
"""

from __future__ import annotations

import logging
from typing import Any

import ldap
from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpRequest
from django_auth_ldap.backend import LDAPBackend, ldap_error
from django_auth_ldap.config import (
    GroupOfNamesType,
    GroupOfUniqueNamesType,
    LDAPSearch,
    LDAPSettings,
    NestedActiveDirectoryGroupType,
    PosixGroupType,
)

from portal.identity.directory import TROUBLE_ATTRIBUTE
from portal.identity.models import OidcIdentity
from portal.identity.signals import groups_seen

logger = logging.getLogger(__name__)

#: ``SQUADRON_LDAP_GROUP_TYPE``: how the directory keeps its groups, and the
#: filter that finds them. Active Directory's is nested: a member of a group
#: inside a group is in both, as Windows itself sees it.
GROUP_TYPES: dict[str, tuple[type, str]] = {
    "groupOfNames": (GroupOfNamesType, "(objectClass=groupOfNames)"),
    "groupOfUniqueNames": (GroupOfUniqueNamesType, "(objectClass=groupOfUniqueNames)"),
    "posixGroup": (PosixGroupType, "(objectClass=posixGroup)"),
    "activeDirectory": (NestedActiveDirectoryGroupType, "(objectClass=group)"),
}

#: Errors that mean the directory could not be reached in time.
UNREACHABLE = (ldap.SERVER_DOWN, ldap.TIMEOUT, ldap.CONNECT_ERROR)


def directory_settings() -> dict[str, Any]:
    """django-auth-ldap's settings made from Squadron's ``SQUADRON_LDAP_*``."""
    group_type, group_filter = GROUP_TYPES[settings.SQUADRON_LDAP_GROUP_TYPE]
    timeout = settings.SQUADRON_LDAP_TIMEOUT
    values: dict[str, Any] = {
        "SERVER_URI": settings.SQUADRON_LDAP_SERVER_URI,
        "BIND_DN": settings.SQUADRON_LDAP_BIND_DN,
        "BIND_PASSWORD": settings.SQUADRON_LDAP_BIND_PASSWORD,
        "START_TLS": settings.SQUADRON_LDAP_START_TLS,
        "USER_SEARCH": LDAPSearch(
            settings.SQUADRON_LDAP_USER_SEARCH_BASE, ldap.SCOPE_SUBTREE, settings.SQUADRON_LDAP_USER_FILTER
        ),
        "USER_ATTR_MAP": {"first_name": "givenName", "last_name": "sn", "email": "mail"},
        "CONNECTION_OPTIONS": {
            # Connecting, then each operation: a directory that does not
            # answer fails the login within seconds instead of hanging it.
            ldap.OPT_NETWORK_TIMEOUT: timeout,
            ldap.OPT_TIMEOUT: timeout,
            # Active Directory answers searches from its root with referrals
            # that the library would follow without credentials.
            ldap.OPT_REFERRALS: 0,
        },
    }
    if settings.SQUADRON_LDAP_GROUP_SEARCH_BASE:
        values["GROUP_SEARCH"] = LDAPSearch(
            settings.SQUADRON_LDAP_GROUP_SEARCH_BASE, ldap.SCOPE_SUBTREE, group_filter
        )
        values["GROUP_TYPE"] = group_type()
    return values


class DirectoryBackend(LDAPBackend):
    """django-auth-ldap's backend on ``SQUADRON_LDAP_*``, feeding the group mapping."""

    _settings: LDAPSettings | None = None

    @property
    def settings(self) -> LDAPSettings:
        if self._settings is None:
            self._settings = LDAPSettings(self.settings_prefix, directory_settings())
        return self._settings

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if not settings.SQUADRON_LDAP_SERVER_URI:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)

    def authenticate_ldap_user(self, ldap_user: Any, password: str) -> User | None:
        user: User | None = super().authenticate_ldap_user(ldap_user, password)
        if user is None or not user.is_active:
            return None
        if self.settings.GROUP_SEARCH is None:
            # No group search configured: the directory says nothing about
            # groups, so the mapped memberships are left as they are.
            return user
        try:
            groups = sorted(ldap_user.group_names)
        except ldap.LDAPError as error:
            # Without the groups the mapping would withdraw every mapped
            # membership: refuse the login instead, changing nothing.
            _note_trouble(ldap_user._request, error)
            return None
        groups_seen.send(sender="ldap", user=user, groups=groups)
        return user

    def get_or_build_user(self, username: str, ldap_user: Any) -> tuple[User, bool]:
        user, built = super().get_or_build_user(username, ldap_user)
        if not built and user.has_usable_password():
            # A local account (it has a password of its own, the superuser's
            # say): a directory entry of the same name must not log into it.
            raise ldap_user.AuthenticationFailed(f"{username!r} is a local account, not the directory's")
        if not built and OidcIdentity.objects.filter(user=user).exists():
            # An account the OpenID provider vouches for has no password
            # either: a directory entry sharing its name is someone else.
            raise ldap_user.AuthenticationFailed(f"{username!r} signs in through single sign-on")
        return user, built

    def get_user(self, user_id: int) -> User | None:
        # Django's own backend does the same: a deactivated person's sessions end.
        user: User | None = super().get_user(user_id)
        return user if user is not None and user.is_active else None


def _note_trouble(request: HttpRequest | None, error: Exception) -> None:
    logger.warning("The LDAP directory failed a login: %r", error)
    if request is not None:
        setattr(request, TROUBLE_ATTRIBUTE, "unreachable" if isinstance(error, UNREACHABLE) else "failed")


def _on_ldap_error(
    sender: object, *, request: HttpRequest | None, exception: Exception, **kwargs: Any
) -> None:
    """django-auth-ldap swallows the directory's errors (a login it could not
    check is a failed one): keep them for the login page."""
    _note_trouble(request, exception)


ldap_error.connect(_on_ldap_error, sender=DirectoryBackend, dispatch_uid="identity.ldap_trouble")
