"""The shared base of the platform fixture servers: routing, replies, expectations.

A fixture is a small, hand-built imitation of one real platform's public endpoints
(same paths, JSON or HTML shapes and status codes), listening on 127.0.0.1 port 0 in a
thread. It also says what a crawl of it must end with (`Expected`), computed from the
same data it serves, so tests compare the archive with the fixture, not with constants.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .make_assets import ASSET_DIR, ASSETS

CONTENT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
                 ".mp4": "video/mp4"}


@dataclass
class Reply:
    """One HTTP response."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    """What a handler sees: the path's regex match, the query and the headers."""

    path: str
    match: re.Match
    query: dict[str, list[str]]
    headers: dict[str, str]

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter ``name``."""
        return self.query.get(name, [default])[0]


Handler = Callable[[Request], Reply]


@dataclass(frozen=True)
class Expected:
    """How one walked item must end in the job: ledger state, post fields, media URLs."""

    item_type: str
    id: str
    state: str
    author: str | None = None
    created_at: str | None = None
    text: str | None = None
    media: tuple[str, ...] = ()  # absolute URLs


def json_reply(data: Any, status: int = 200, headers: dict[str, str] | None = None,
               content_type: str = "application/json; charset=utf-8") -> Reply:
    """A JSON response."""
    return Reply(status, json.dumps(data, indent=None).encode(), content_type, headers or {})


def html_reply(html: str, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    """An HTML response."""
    return Reply(status, html.encode(), "text/html; charset=utf-8", headers or {})


def asset_reply(name: str) -> Reply:
    """The bytes of a checked-in media asset."""
    path = ASSET_DIR / name
    return Reply(200, path.read_bytes(), CONTENT_TYPES[Path(name).suffix],
                 {"Cache-Control": "public, max-age=31536000"})


class PlatformFixture:
    """One imitation platform. Subclasses fill in routes, data and expectations."""

    #: the bundled profile that crawls it
    profile = ""
    robots = "User-agent: *\nDisallow: /admin/\n"

    def __init__(self) -> None:
        self.base = ""
        self.requests: list[tuple[str, dict[str, str]]] = []
        #: URL path of every media file served -> asset name
        self.media: dict[str, str] = {}

    # -- what subclasses provide ------------------------------------------------------
    def setup(self) -> None:
        """Build the platform's data; called once ``self.base`` is known."""

    def routes(self) -> list[tuple[str, Handler]]:
        """(path regex, handler) pairs, tried in order; the regex must match the path."""
        raise NotImplementedError

    def expected(self) -> list[Expected]:
        """Every item the bundled profile's walk reaches, and how it must end."""
        raise NotImplementedError

    def variables(self) -> dict[str, str]:
        """The ``--var`` values a crawl of this fixture needs."""
        return {"instance": self.base}

    def id_range(self) -> str | None:
        """The ``--ids`` range to walk, or None for the profile's own."""
        return None

    # -- shared helpers -----------------------------------------------------------------
    def url(self, path: str) -> str:
        """An absolute URL on this fixture."""
        return self.base + path

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``: the fixture's host as platforms write it in handles."""
        return self.base.split("://", 1)[1]

    def add_media(self, path: str, asset: str) -> str:
        """Serve ``asset`` at ``path``; returns its absolute URL."""
        self.media[path] = asset
        return self.url(path)

    def gps(self, path: str) -> tuple[float, float] | None:
        """The position written into the media served at ``path``."""
        asset = ASSETS[self.media[path]]
        return None if asset.latitude is None else (asset.latitude, asset.longitude)

    def dispatch(self, raw_path: str, headers: dict[str, str]) -> Reply:
        """Route one GET request."""
        parts = urlsplit(raw_path)
        self.requests.append((raw_path, headers))
        if parts.path == "/robots.txt":
            return Reply(200, self.robots.encode(), "text/plain; charset=utf-8")
        if parts.path in self.media:
            return asset_reply(self.media[parts.path])
        query = parse_qs(parts.query, keep_blank_values=True)
        for pattern, handler in self.routes():
            match = re.fullmatch(pattern, parts.path)
            if match:
                return handler(Request(parts.path, match, query, headers))
        return self.not_found()

    def not_found(self) -> Reply:
        """The platform's reply for a path it does not know."""
        return html_reply("<h1>Not Found</h1>", 404)


def _handler_class(fixture: PlatformFixture) -> type[BaseHTTPRequestHandler]:
    class FixtureHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            reply = fixture.dispatch(self.path, {k.lower(): v for k, v in self.headers.items()})
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Quiet: the fixture keeps its own request log."""

    return FixtureHandler


@contextmanager
def serve(fixture: PlatformFixture) -> Iterator[PlatformFixture]:
    """Run ``fixture`` on 127.0.0.1 (a free port) in a thread for the ``with`` block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(fixture))
    server.daemon_threads = True
    fixture.base = f"http://127.0.0.1:{server.server_address[1]}"
    fixture.setup()
    thread = threading.Thread(target=server.serve_forever, name=f"fixture-{fixture.profile}",
                              daemon=True)
    thread.start()
    try:
        yield fixture
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
