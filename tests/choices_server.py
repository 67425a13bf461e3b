"""A real HTTP server on 127.0.0.1 that answers an order form's choices
(``x-choices-from: {url: ...}``): ``/zones`` a JSON list, ``/labelled``
values with labels, ``/broken`` text that is not JSON, ``/moved`` a
redirect, ``/down`` a 503, ``/drip`` a list one byte at a time (each
within the timeout, all of it well past it). It counts the requests it served, so a test
sees what the cache spared it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWERS: dict[str, tuple[int, bytes]] = {
    "/zones": (200, json.dumps(["dmz", "office"]).encode()),
    "/labelled": (
        200,
        json.dumps([{"value": "eu", "label": "Europe"}, {"value": "us", "label": "Americas"}]).encode(),
    ),
    "/broken": (200, b"<html>not json</html>"),
    "/down": (503, b"maintenance"),
}

#: Between two bytes of ``/drip``: under a one-second timeout, its 16 bytes
#: take 6.4 s in all.
DRIP_SECONDS = 0.4


class ChoicesServer:
    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                if self.path == "/drip":
                    self._drip(json.dumps(["dmz", "office"]).encode())
                    return
                if self.path == "/moved":
                    self.send_response(302)
                    self.send_header("Location", "/zones")
                    self.end_headers()
                    return
                status, body = ANSWERS.get(self.path, (404, b"no such list"))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _drip(self, body: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    for byte in body:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(DRIP_SECONDS)
                except OSError:
                    pass  # the client gave up: what the test wants

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@contextmanager
def choices_server() -> Iterator[ChoicesServer]:
    server = ChoicesServer()
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
        thread.join()
