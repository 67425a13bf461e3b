"""Throttled logins: django-axes counts failed logins per account and per
client address (``AXES_LOCKOUT_PARAMETERS``); this module tells it who the
client is, counts the wrong codes of two-step logins with the wrong
passwords, says when a lock-out ends, and lifts lock-outs.

axes sees every login form by itself: its authentication backend refuses
any ``authenticate()`` of a locked account or address before a password is
checked, and a refused one is counted from Django's ``user_login_failed``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from datetime import datetime

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_parameters, get_client_username, get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from axes.utils import reset
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.auth.signals import user_login_failed
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from portal.identity.directory import TROUBLE_ATTRIBUTE
from squads.audit import record, unknown_name


def checked_nothing(request: HttpRequest, credentials: dict | None = None) -> bool:
    """``AXES_WHITELIST_CALLABLE``: a failed login whose password nobody
    could check (the company directory did not answer or failed, and the
    name is no local account's) is not counted: people retrying through a
    directory outage are not locked out by it. A local account's password
    was checked by Squadron itself, so guessing it counts, however the
    directory fares."""
    if getattr(request, TROUBLE_ATTRIBUTE, None) is None:
        return False
    username = (credentials or {}).get("username")
    if not isinstance(username, str):
        return True
    # Every account the name may mean (names differing in case only, too):
    # one with a password of its own had it checked.
    accounts = User.objects.filter(username__iexact=username)
    return not any(account.has_usable_password() for account in accounts)


def client_address(request: HttpRequest) -> str | None:
    """The address logins are counted against: REMOTE_ADDR, or with
    ``SQUADRON_TRUSTED_PROXY_HEADER`` the last address of that header, the one
    the proxy wrote. Whatever a client puts in a header is never read
    otherwise: a forged X-Forwarded-For changes nothing."""
    header = settings.SQUADRON_TRUSTED_PROXY_HEADER
    if header:
        value = request.META.get("HTTP_" + header.upper().replace("-", "_"), "")
        last = value.rsplit(",", 1)[-1].strip() if isinstance(value, str) else ""
        try:
            return str(ipaddress.ip_address(last))
        except ValueError:
            # No address from the proxy: count against the proxy's own, so
            # such requests share one counter rather than escape it.
            pass
    return request.META.get("REMOTE_ADDR")


def login_allowed(request: HttpRequest, *, username: str) -> bool:
    """Whether ``username`` may try to log in from this request's address."""
    return bool(AxesProxyHandler.is_allowed(request, {"username": username}))


def login_failed(request: HttpRequest, *, username: str) -> None:
    """Count a failed login that was no password (a wrong code of a two-step
    login) like a wrong password: the same counters, the same lock-out."""
    user_login_failed.send(sender=__name__, credentials={"username": username}, request=request)


def lockout_ends_at(request: HttpRequest, credentials: dict | None) -> datetime:
    """When the lock-out that refused this request ends: for each counter
    (the account, the address) that is at the limit, the moment enough of its
    failures are older than the lock-out time; the latest of those."""
    AxesProxyHandler.update_request(request)
    now = timezone.now()
    cool_off = get_cool_off(request)
    if cool_off is None:  # axes is set to lock out for good: Squadron never is
        return now
    limit = get_failure_limit(request, credentials)
    ends = now
    username = get_client_username(request, credentials)
    # update_request() put them on the request, which Django's type knows nothing of.
    address, user_agent = getattr(request, "axes_ip_address", None), getattr(request, "axes_user_agent", "")
    for filters in get_client_parameters(username, address, user_agent, request, credentials):
        attempts = list(
            AccessAttempt.objects.filter(**filters, attempt_time__gt=now - cool_off)
            .order_by("attempt_time")
            .values_list("attempt_time", "failures_since_start")
        )
        counted = sum(failures for _, failures in attempts)
        for attempt_time, failures in attempts:
            if counted < limit:
                break
            counted -= failures
            ends = max(ends, attempt_time + cool_off)
    return ends


def lockouts_lift(*, usernames: Iterable[str] = (), addresses: Iterable[str] = ()) -> int:
    """Forget the failed logins of these accounts and addresses, which lifts
    their lock-outs; returns how many counters were removed. The record of
    the failures (axes' failure log) stays."""
    usernames, addresses = set(usernames), set(addresses)
    lifted = list(AccessAttempt.objects.filter(Q(username__in=usernames) | Q(ip_address__in=addresses)))
    known = set(
        User.objects.filter(username__in={attempt.username for attempt in lifted}).values_list(
            "username", flat=True
        )
    )
    for attempt in lifted:
        # A name no account has is shown as the failed logins' own entries show it.
        name = attempt.username if attempt.username in known else unknown_name(attempt.username or "")
        record(
            action="lockout_lifted",
            target=attempt,
            changes={"failures": {"before": attempt.failures_since_start, "after": 0}},
            note=f"{name if attempt.username else 'any account'} from {attempt.ip_address or 'any address'}",
        )
    removed = 0
    for username in usernames:
        removed += reset(username=username)
    for address in addresses:
        removed += reset(ip=address)
    return removed
