"""What a login keeps in the session between its steps.

- A login waiting for its code: the password was right, the person has a
  two-step login, and until the code is right they are *not* logged in
  (nothing, the API included, sees them as anyone but anonymous).
- The secret of an enrolment waiting for its first code, encrypted like
  every secret a page shows once (``runbooks.crypto``): the session lives in
  the database.
- Whether this session's login used a second factor (django-otp's own key,
  so its tools agree).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.contrib.auth import BACKEND_SESSION_KEY, load_backend
from django.contrib.auth import login as auth_login
from django.contrib.auth.models import User
from django.http import HttpRequest
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp import login as otp_login
from django_otp.models import Device

from runbooks.crypto import DecryptionError, decrypt_json, encrypt_json

PENDING_LOGIN_KEY = "squadron.login.pending"
ENROLMENT_KEY = "squadron.two_step.enrolment"
#: How long the code may take after the password: then the password again.
PENDING_LOGIN_SECONDS = 300


@dataclass(frozen=True)
class PendingLogin:
    """A person who gave their password and owes their code."""

    user: User
    backend: str
    next_url: str


def login_pending_start(request: HttpRequest, *, user: User, next_url: str) -> None:
    backend = getattr(user, "backend", None) or request.session.get(BACKEND_SESSION_KEY) or ""
    request.session[PENDING_LOGIN_KEY] = {
        "user": user.pk,
        "backend": backend,
        "next": next_url,
        "until": time.time() + PENDING_LOGIN_SECONDS,
    }


def login_pending(request: HttpRequest) -> PendingLogin | None:
    """The login waiting for its code in this session, or None: none, expired,
    or its account was deactivated meanwhile."""
    kept = request.session.get(PENDING_LOGIN_KEY)
    if not isinstance(kept, dict) or not isinstance(kept.get("until"), float | int):
        return None
    if kept["until"] < time.time():
        del request.session[PENDING_LOGIN_KEY]
        return None
    user_id = kept.get("user")
    user = User.objects.filter(pk=user_id, is_active=True).first() if isinstance(user_id, int) else None
    if user is None:
        return None
    try:
        load_backend(kept["backend"])
    except (ImportError, KeyError):
        return None
    return PendingLogin(user=user, backend=kept["backend"], next_url=str(kept.get("next") or ""))


def login_pending_finish(request: HttpRequest, *, pending: PendingLogin, device: Device) -> None:
    """Log in the person whose code ``device`` accepted, and mark the session
    as verified by that device."""
    request.session.pop(PENDING_LOGIN_KEY, None)
    auth_login(request, pending.user, backend=pending.backend)
    otp_login(request, device)


def login_pending_cancel(request: HttpRequest) -> None:
    request.session.pop(PENDING_LOGIN_KEY, None)


def two_step_verified(request: HttpRequest) -> bool:
    """Whether this session's login passed a second factor (at login, or by
    enrolling)."""
    return bool(request.session.get(DEVICE_ID_SESSION_KEY))


def mark_two_step_verified(request: HttpRequest, device: Device) -> None:
    otp_login(request, device)


def enrolment_key(request: HttpRequest, *, new: str) -> str:
    """The secret of the enrolment under way in this session; ``new`` becomes
    it if there is none, so a reload shows the QR code already scanned."""
    kept = request.session.get(ENROLMENT_KEY)
    if isinstance(kept, str):
        try:
            key = decrypt_json(kept)
        except DecryptionError:  # the credential key was replaced meanwhile
            key = None
        if isinstance(key, str):
            return key
    request.session[ENROLMENT_KEY] = encrypt_json(new)
    return new


def enrolment_key_clear(request: HttpRequest) -> None:
    request.session.pop(ENROLMENT_KEY, None)
