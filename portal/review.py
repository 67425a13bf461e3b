"""The review step of the order form: what the user confirms travels sealed.

Between "Review order" and "Place order" the inputs must survive a round trip
through the browser, secrets included, without a secret ever being written
into the page in clear or into the session table. They go as one token
encrypted and authenticated with the credential key (``runbooks.crypto``):
the browser holds it but can neither read nor alter it. The token is bound
to the user and the product and expires, so it cannot be replayed by someone
else or much later; ``order_submit`` validates the inputs again in any case.
Each review carries a random nonce: placing the same review twice (Back, then
"Place order" again) finds the order it already placed.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from runbooks.crypto import DecryptionError, decrypt_json, encrypt_json

#: A review left open longer than this must be filled in again.
REVIEW_TTL_SECONDS = 3600


class ReviewExpired(Exception):
    """The token is unreadable, someone else's, for another product or too old."""


@dataclass(frozen=True)
class Review:
    inputs: dict[str, Any]
    product_version: int
    nonce: str


def seal_review(*, user_id: int, product_id: int, product_version: int, inputs: dict[str, Any]) -> str:
    return encrypt_json(
        {
            "u": user_id,
            "p": product_id,
            "v": product_version,
            "t": int(time.time()),
            "n": secrets.token_urlsafe(18),
            "inputs": inputs,
        }
    )


def open_review(token: str, *, user_id: int, product_id: int) -> Review:
    try:
        payload = decrypt_json(token)
    except (DecryptionError, ValueError, TypeError):
        raise ReviewExpired from None
    if (
        not isinstance(payload, dict)
        or payload.get("u") != user_id
        or payload.get("p") != product_id
        or not isinstance(payload.get("inputs"), dict)
        or not isinstance(payload.get("t"), int)
        or not isinstance(payload.get("n"), str)
        or time.time() - payload["t"] > REVIEW_TTL_SECONDS
    ):
        raise ReviewExpired
    return Review(inputs=payload["inputs"], product_version=int(payload.get("v") or 0), nonce=payload["n"])
