"""A real local HTTP server standing in for an SMS vendor.

It records every request (method, path, query, headers, body) and answers from a queue of
scripted replies, so adapter tests assert on what the vendor received, over a real socket.
Besides answering, a reply can close the connection after reading the request or never answer
(until the test ends), which is how vendors fail in ways that leave the outcome unknown.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from http.client import HTTPMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest


@dataclass
class Received:
    method: str
    path: str  # without the query string
    query: dict[str, str]
    headers: HTTPMessage  # case-insensitive: received.headers["authorization"]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        """The form-encoded body; a field sent twice would show up as a list."""
        fields = parse_qs(self.body.decode(), keep_blank_values=True, strict_parsing=True)
        return {name: values[0] if len(values) == 1 else values for name, values in fields.items()}


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    action: str = "answer"  # answer | close | hang


class FakeVendor:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._replies: deque[Reply] = deque()
        self._released = threading.Event()
        vendor = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
                vendor.requests.append(
                    Received(self.command, parts.path, query, self.headers, body)
                )
                reply = vendor._replies.popleft() if vendor._replies else Reply(599, b"unscripted")
                if reply.action == "hang":
                    vendor._released.wait(timeout=30)
                if reply.action in ("hang", "close"):
                    self.close_connection = True
                    return  # nothing written: the client sees the connection end
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, format, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,))
        self._thread.daemon = True
        self._thread.start()

    # --- scripting ---------------------------------------------------------------------------

    def reply(
        self,
        status: int = 200,
        *,
        json: Any = None,
        text: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        headers = dict(headers or {})
        if json is not None:
            body = _json_dumps(json)
            headers.setdefault("Content-Type", "application/json")
        else:
            body = (text or "").encode()
            headers.setdefault("Content-Type", "text/plain")
        self._replies.append(Reply(status, body, headers))

    def close_after_reading(self) -> None:
        """Read the whole request, then close the connection without a word."""
        self._replies.append(Reply(action="close"))

    def never_answer(self) -> None:
        """Read the request and keep the connection open, silent, until the test ends."""
        self._replies.append(Reply(action="hang"))

    @property
    def last(self) -> Received:
        assert self.requests, "the vendor received nothing"
        return self.requests[-1]

    def stop(self) -> None:
        self._released.set()
        self.server.shutdown()
        self.server.server_close()


def _json_dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


@pytest.fixture
def vendor():
    server = FakeVendor()
    yield server
    server.stop()


@pytest.fixture
def closed_port_url() -> str:
    """The origin of a port nobody listens on: connecting is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
