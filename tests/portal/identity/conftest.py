"""What the login tests share: posting the forms as a browser does, and
computing an authenticator app's code from its secret."""

from __future__ import annotations

import binascii
import time
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django_otp.oath import TOTP

from portal.identity.services import Enrolment, totp_enrol, totp_key_new

#: The factories' password (tests/factories.py).
PASSWORD = "pw-for-tests-1"


def app_code(key: str, *, steps_ahead: int = 0) -> str:
    """What an authenticator app holding ``key`` shows now (or that many
    30-second steps later): six digits, leading zeros kept."""
    totp = TOTP(binascii.unhexlify(key))
    totp.time = time.time() + 30 * steps_ahead
    return f"{totp.token():06d}"


def post_login(client: Client, username: str, password: str, path: str = "/login/", **headers: Any) -> Any:
    return client.post(path, {"username": username, "password": password}, **headers)


def logged_in_as(client: Client) -> str | None:
    return client.session.get("_auth_user_id")


@pytest.fixture
def enrol():
    """Turn on the two-step login of a user as the page does; returns the
    enrolment and the app's secret. The code that enrolled it is spent: the
    next one to use is ``app_code(key, steps_ahead=1)``."""

    def enrolled(user: User) -> tuple[Enrolment, str]:
        key = totp_key_new()
        return totp_enrol(user=user, key=key, code=app_code(key)), key

    return enrolled
