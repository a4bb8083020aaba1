"""A lean HTTP/1.1 server on asyncio.Protocol: keep-alive, HEAD, pre-rendered responses.

Only what the demo platform needs: GET/HEAD, one request at a time per connection (pipelined
requests are answered in order), `Connection: close`, HTTP/1.0 keep-alive, and a per-request
delay that never blocks other connections. The application decides the response; `None`
means "drop the connection without answering".
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from http import HTTPStatus
from typing import Protocol

MAX_HEAD = 64 * 1024


@dataclass(frozen=True, slots=True)
class Response:
    """A pre-rendered response: `head` holds the status line and headers, no blank line."""

    head: bytes
    body: bytes

    def encode(self, close: bool, keep_alive_header: bool, head_only: bool) -> bytes:
        connection = b"\r\nConnection: close" if close else (
            b"\r\nConnection: keep-alive" if keep_alive_header else b"")
        return b"".join((self.head, connection, b"\r\n\r\n", b"" if head_only else self.body))


def make_response(status: int, body: bytes, content_type: str,
                  headers: tuple[tuple[str, str], ...] = ()) -> Response:
    """Render status line and headers once; the body length goes into Content-Length."""
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", "Server: lifeboat-demo",
             f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return Response("\r\n".join(lines).encode("latin-1"), body)


class App(Protocol):
    """What a host serves: a response (or None to drop) and how long to wait before it."""

    def handle(self, method: str, path: str, headers: dict[str, str]) -> Response | None: ...

    def delay(self, path: str) -> float: ...


BAD_REQUEST = make_response(400, b"bad request\n", "text/plain; charset=utf-8")
TOO_LARGE = make_response(431, b"request head too large\n", "text/plain; charset=utf-8")
NOT_ALLOWED = make_response(405, b"only GET and HEAD\n", "text/plain; charset=utf-8",
                            (("Allow", "GET, HEAD"),))


class HttpProtocol(asyncio.Protocol):
    """One client connection."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.buffer = b""
        self.waiting = False  # a delayed response is pending; later requests queue behind it
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.process()

    def process(self) -> None:
        """Answer every complete request in the buffer, in order."""
        while not self.waiting and self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    self.send(TOO_LARGE.encode(True, False, False), close=True)
                return
            request = parse_head(self.buffer[:end])
            body_length = request[3] if request else 0
            if len(self.buffer) < end + 4 + body_length:
                return
            self.buffer = self.buffer[end + 4 + body_length:]
            if request is None:
                self.send(BAD_REQUEST.encode(True, False, False), close=True)
                return
            self.answer(*request[:3])

    def answer(self, method: str, target: str, headers: dict[str, str]) -> None:
        version_10 = headers.get(":version") == "HTTP/1.0"
        connection = headers.get("connection", "").lower()
        close = "close" in connection or (version_10 and "keep-alive" not in connection)
        if method not in ("GET", "HEAD"):
            response: Response | None = NOT_ALLOWED
        else:
            response = self.app.handle(method, target.split("?", 1)[0], headers)
        data = None if response is None else response.encode(
            close, version_10 and not close, method == "HEAD")
        delay = self.app.delay(target)
        if delay > 0:
            self.waiting = True
            asyncio.get_running_loop().call_later(delay, self.send_later, data, close)
        else:
            self.send(data, close)

    def send_later(self, data: bytes | None, close: bool) -> None:
        self.waiting = False
        self.send(data, close)
        self.process()

    def send(self, data: bytes | None, close: bool) -> None:
        """Write a response (None: drop the connection unanswered), closing if asked."""
        if self.transport is None:
            return
        if data is not None:
            self.transport.write(data)
        if close or data is None:
            self.transport.close()
            self.transport = None


def parse_head(head: bytes) -> tuple[str, str, dict[str, str], int] | None:
    """(method, target, lower-cased headers plus ':version', body length), None if broken."""
    try:
        text = head.decode("latin-1")
        request_line, *lines = text.split("\r\n")
        method, target, version = request_line.split(" ")
        headers = {":version": version}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return method, target, headers, int(headers.get("content-length", 0))
    except ValueError:
        return None
