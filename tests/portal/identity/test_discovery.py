"""Finding the provider's endpoints from its issuer, as OpenID Connect
Discovery 1.0 (section 4) says, against a real HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import override_settings

from portal.identity.oidc_config import discovery, discovery_forget, oidc_config


@pytest.fixture
def provider() -> Iterator[tuple[str, list[str]]]:
    """A provider whose issuer ends with a slash, as Auth0's does: it serves
    its document at the issuer less that slash, plus the well-known path."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            issuer = f"http://127.0.0.1:{self.server.server_address[1]}/tenant/"
            if self.path != "/tenant/.well-known/openid-configuration":
                self.send_error(404)
                return
            body = json.dumps(
                {
                    "issuer": issuer,
                    **{
                        endpoint: f"{issuer}{endpoint}"
                        for endpoint in (
                            "authorization_endpoint",
                            "token_endpoint",
                            "userinfo_endpoint",
                            "jwks_uri",
                        )
                    },
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    discovery_forget()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/tenant/", asked
    finally:
        discovery_forget()
        server.shutdown()
        server.server_close()
        thread.join()


def test_an_issuer_ending_with_a_slash_finds_its_document_without_a_double_slash(provider) -> None:
    issuer, asked = provider
    with override_settings(
        SQUADRON_OIDC_ISSUER=issuer, SQUADRON_OIDC_CLIENT_ID="c", SQUADRON_OIDC_CLIENT_SECRET="s"
    ):
        config = oidc_config()
    assert config is not None and config.issuer == issuer

    document = discovery(config)

    assert asked == ["/tenant/.well-known/openid-configuration"]
    assert document["issuer"] == issuer  # compared as configured, slash and all
    assert document["token_endpoint"] == f"{issuer}token_endpoint"
