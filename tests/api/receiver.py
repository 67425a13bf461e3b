"""A real HTTP server on 127.0.0.1 that receives webhooks and checks their
signature, as a subscriber's receiver would: with the Standard Webhooks
reference library itself (``signature_valid``), and by the old
``X-Squadron-Signature`` recipe of the transition period
(``legacy_signature_valid``, False when that header is not sent); or, with ``hang``, one that
reads each request and never answers it until the test releases it."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook, WebhookVerificationError


def verified_by_the_standard_library(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    try:
        Webhook(secret).verify(body, headers)
    except (WebhookVerificationError, EmptyWebhookSecretError, ValueError, binascii.Error):
        return False
    return True


def verified_the_old_way(secret: str, body: bytes, header: str) -> bool:
    """The receiver README showed before Standard Webhooks, keyed with the
    bytes the secret encodes (the whole old string, for a migrated one)."""
    if not header or not secret.startswith("whsec_"):
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    return hmac.compare_digest("sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest(), header)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    signature_valid: bool
    legacy_signature_valid: bool

    @property
    def payload(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    secret: str = ""
    status: int = 200
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    hang: bool = False
    released: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = dict(self.headers.items())
                old_signature = self.headers.get("X-Squadron-Signature", "")
                receiver.received.append(
                    Received(
                        headers,
                        body,
                        verified_by_the_standard_library(receiver.secret, body, headers),
                        verified_the_old_way(receiver.secret, body, old_signature),
                    )
                )
                if receiver.delay:
                    time.sleep(receiver.delay)
                if receiver.hang:
                    receiver.released.wait()
                answer = b"ok" if receiver.status < 400 else b"receiver is unhappy"
                try:
                    self.send_response(receiver.status)
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass  # the sender gave up waiting

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/squadron?source=test"

    def release(self) -> None:
        """Let every hanging request (and those to come) be answered."""
        self.released.set()

    def stop(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()
