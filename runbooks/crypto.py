"""Encryption at rest for credential secrets.

``SQUADRON_CREDENTIAL_KEY`` may hold several comma-separated keys: the first
encrypts, all decrypt, so keys can be rotated without re-entering secrets.
Each key is stretched to a Fernet key with HKDF, so any long random string
works as a key.
"""

from __future__ import annotations

import base64
import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class DecryptionError(Exception):
    """The stored ciphertext cannot be read with any configured key."""


def _fernet_for(secret: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"squadron-credentials", info=b"fernet").derive(
        secret.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


@lru_cache(maxsize=4)
def _cipher(key_setting: str) -> MultiFernet:
    keys = [key.strip() for key in key_setting.split(",") if key.strip()]
    return MultiFernet([_fernet_for(key) for key in keys])


def encrypt_json(value: object) -> str:
    payload = json.dumps(value, sort_keys=True).encode()
    return _cipher(settings.SQUADRON_CREDENTIAL_KEY).encrypt(payload).decode()


def decrypt_json(token: str) -> object:
    try:
        payload = _cipher(settings.SQUADRON_CREDENTIAL_KEY).decrypt(token.encode())
    except InvalidToken:
        raise DecryptionError(
            "cannot decrypt: SQUADRON_CREDENTIAL_KEY does not hold the key it was written with"
        ) from None
    return json.loads(payload)
