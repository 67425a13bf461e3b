"""A real HTTP server on 127.0.0.1 that receives webhooks and checks their
signature, as a subscriber's receiver would; or, with ``hang``, one that
reads each request and never answers it until the test releases it."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    signature_valid: bool

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
                expected = "sha256=" + hmac.new(receiver.secret.encode(), body, hashlib.sha256).hexdigest()
                valid = hmac.compare_digest(expected, self.headers.get("X-Squadron-Signature", ""))
                receiver.received.append(Received(dict(self.headers.items()), body, valid))
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
