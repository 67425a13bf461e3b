"""``Authorization: Token KEY`` (or ``Bearer KEY``) with hashed, revocable,
expiring keys (portal/integrations/tokens.py)."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from portal.integrations.models import ApiToken
from portal.integrations.tokens import TokenError, token_authenticate

KEYWORD = "Token"
# Generated clients (openapi-python-client, openapi-generator) send a key as
# a bearer token by default: the same key under either word.
KEYWORDS = (KEYWORD.lower().encode(), b"bearer")


class HashedTokenAuthentication(BaseAuthentication):
    """Authenticates a request that carries ``Authorization: Token KEY`` or
    ``Authorization: Bearer KEY``.

    ``request.auth`` is the ``ApiToken``, so throttles can count per token.
    A request without the header is left to the next authenticator (the
    browser's session); a request with a bad key is refused outright rather
    than quietly treated as anonymous.
    """

    def authenticate(self, request: Request) -> tuple[object, ApiToken] | None:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() not in KEYWORDS:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Send the header as 'Authorization: Token KEY' (or 'Bearer KEY')."
            )
        try:
            key = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        try:
            token = token_authenticate(key)
        except TokenError as error:
            raise exceptions.AuthenticationFailed(str(error)) from None
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        # Makes an unauthenticated request a 401 with a challenge, not a 403.
        return KEYWORD


class HashedTokenScheme(OpenApiAuthenticationExtension):
    target_class = HashedTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: object) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token KEY` (or `Bearer KEY`): create a key under *API tokens* in the "
            "portal, or with `manage.py create_api_token USERNAME`.",
        }
