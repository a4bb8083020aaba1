"""A hostile HTTP server for crawl tests: rate limits, redirect tricks, bombs, lies, garbage.

``/item/N`` answers with case ``CASES[N - 1]``; ``case_id(name)`` gives N. ``/media/NAME``
serves files whose Content-Type lies, ``/seq/N`` exists for N <= 5 (an open-ended walk) and
``/seen/N`` are posts that point at each other. ``Hostile.hits`` counts requests per path.
``serve()`` starts it on 127.0.0.1, port 0; a second instance is a "canary" host that
must never be contacted. Run ``python tests/hostile_server.py`` to poke at it by hand.
"""

from __future__ import annotations

import gzip
import io
import json
import socket
import struct
import threading
import time
from collections import Counter
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CASES = [
    "ok", "retry-after-seconds", "retry-after-date", "retry-after-absurd", "storm",
    "storm-then-ok", "redirect-loop", "redirect-chain", "redirect-short-chain",
    "redirect-offhost", "redirect-metadata", "redirect-private", "redirect-userinfo",
    "redirect-backslash", "redirect-login", "redirect-other-id", "gzip-bomb", "slow-drip",
    "length-short", "length-long", "huge-header", "many-headers", "json-deep", "json-huge",
    "json-bad-utf8", "json-surrogates", "json-as-html", "jpeg-as-json", "garbage-status",
    "reset-mid-body", "no-content-type", "redirect-broken", "silent", "gzip-lie",
    "encoding-unknown", "brotli-garbage",
]
MEDIA = ["jpeg-as-text", "jpeg-as-json", "html-as-jpeg", "jpeg-no-type"]
BOMB_INFLATED = 1 << 30  # 1 GiB of zeros in about 1 MB of gzip
BROKEN_LINKS = ["http://[::1/broken", "http://127.0.0.1:99999/x.jpg", "javascript:alert(1)"]
HTML = b"<!doctype html><html><body><h1>Not a photo</h1></body></html>"


def case_id(name: str) -> str:
    return str(CASES.index(name) + 1)


def _jpeg() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 6), (200, 40, 40)).save(out, "JPEG")
    return out.getvalue()


JPEG = _jpeg()
# identical gzip members (16 MiB of zeros each) concatenated are one valid gzip stream
_MEMBER = gzip.compress(b"\0" * (16 << 20), compresslevel=9)
BOMB = _MEMBER * (BOMB_INFLATED // (16 << 20))
ROBOTS_BOMB = _MEMBER * (BOMB_INFLATED // (32 << 20))  # half as big: another payload


class Hostile(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hits: Counter = Counter()
    canary = ""  # base URL of the host that must never be contacted

    def log_message(self, *args) -> None:
        pass

    def reply(self, status: int, body: bytes = b"", headers: tuple = (),
              content_type: str | None = "application/json") -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def raw(self, data: bytes, reset: bool = False) -> None:
        """Write bytes straight to the socket, then close it (with an RST if ``reset``)."""
        self.close_connection = True
        self.wfile.write(data)
        self.wfile.flush()
        if reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))

    def post(self, **extra) -> bytes:
        base = f"http://{self.headers['Host']}"
        doc = {"author": "ann", "text": "hello", "files": [], "path": self.path, **extra}
        if self.path == "/item/1":
            doc["files"] = [f"{base}/media/{name}" for name in MEDIA] + BROKEN_LINKS
        return json.dumps(doc).encode()

    def redirect(self, location: str, status: int = 302) -> None:
        self.reply(status, b"", (("Location", location),), content_type=None)

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        Hostile.hits[self.path] += 1
        hits = Hostile.hits[self.path]
        if path == "/robots.txt":  # a bomb too: robots.txt is fetched by Scrapy, not the profile
            return self.reply(200, ROBOTS_BOMB, (("Content-Encoding", "gzip"),),
                              content_type="text/plain")
        if path.startswith("/media/"):
            return self.media(path.rsplit("/", 1)[1])
        if path.startswith("/chain/"):
            return self.redirect(f"/chain/{int(path.rsplit('/', 1)[1]) + 1}")
        if path.startswith("/seq/"):
            if int(path.rsplit("/", 1)[1]) <= 5:
                return self.reply(200, self.post())
            return self.reply(404, b'{"error": "not found"}')
        if path.startswith("/seen/"):  # 1 -> 4 (ahead of the walk), 3 -> 1 (behind it)
            n = int(path.rsplit("/", 1)[1])
            return self.reply(200, self.post(see={1: "4", 3: "1", 6: "2"}.get(n)))
        if not path.startswith("/item/") or not path[6:].isdigit() \
                or not 1 <= int(path[6:]) <= len(CASES):
            return self.reply(404, b'{"error": "not found"}')
        return getattr(self, "case_" + CASES[int(path[6:]) - 1].replace("-", "_"))(hits)

    # ------------------------------------------------------------------ rate limits

    def case_ok(self, hits: int) -> None:
        self.reply(200, self.post())

    def case_retry_after_seconds(self, hits: int) -> None:
        if hits == 1:
            return self.reply(429, b"{}", (("Retry-After", "1"),))
        self.reply(200, self.post())

    def case_retry_after_date(self, hits: int) -> None:
        if hits == 1:
            return self.reply(429, b"{}", (("Retry-After", formatdate(time.time() + 2,
                                                                        usegmt=True)),))
        self.reply(200, self.post())

    def case_retry_after_absurd(self, hits: int) -> None:
        self.reply(429, b'{"error": "come back tomorrow"}', (("Retry-After", "86400"),))

    def case_storm(self, hits: int) -> None:
        self.reply(503, b'{"error": "overloaded"}')

    def case_storm_then_ok(self, hits: int) -> None:
        if hits == 1:
            return self.reply(503, b'{"error": "overloaded"}')
        self.reply(200, self.post())

    # ------------------------------------------------------------------ redirects

    def case_redirect_loop(self, hits: int) -> None:
        self.redirect(self.path)

    def case_redirect_chain(self, hits: int) -> None:
        self.redirect("/chain/1")

    def case_redirect_short_chain(self, hits: int) -> None:
        self.redirect(f"/item/{case_id('ok')}?via=short-chain" if hits > 2 else self.path,
                      301)

    def case_redirect_offhost(self, hits: int) -> None:
        self.redirect(f"{Hostile.canary}/stolen")

    def case_redirect_metadata(self, hits: int) -> None:
        self.redirect("http://169.254.169.254/latest/meta-data/")

    def case_redirect_private(self, hits: int) -> None:
        self.redirect("http://10.0.0.1/admin")

    def case_redirect_userinfo(self, hits: int) -> None:  # the host is the canary's
        host = Hostile.canary.split("//", 1)[1]
        self.redirect(f"http://{self.headers['Host']}@{host}/userinfo")

    def case_redirect_backslash(self, hits: int) -> None:  # browsers and w3lib: canary
        host = Hostile.canary.split("//", 1)[1]
        self.redirect(f"http://{host}\\@{self.headers['Host']}/backslash")

    def case_redirect_login(self, hits: int) -> None:
        self.redirect(f"/login?next={self.path}")

    def case_redirect_broken(self, hits: int) -> None:
        self.redirect("http://[::1/broken")

    def case_redirect_other_id(self, hits: int) -> None:
        self.redirect(f"/item/{case_id('ok')}", 301)

    # ------------------------------------------------------------------ bombs

    def case_gzip_bomb(self, hits: int) -> None:
        self.reply(200, BOMB, (("Content-Encoding", "gzip"),))

    def case_slow_drip(self, hits: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "100000")
        self.end_headers()
        self.wfile.flush()
        try:
            for _ in range(200):  # 0.2 s a byte: a minute, unless the client gives up
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass
        self.close_connection = True

    def case_silent(self, hits: int) -> None:  # reads the request, never answers
        time.sleep(5)
        self.close_connection = True

    def case_length_short(self, hits: int) -> None:
        body = self.post()
        self.raw(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(body) // 2, body))

    def case_length_long(self, hits: int) -> None:
        body = self.post()
        self.raw(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(body) * 4, body))

    def case_huge_header(self, hits: int) -> None:
        self.reply(200, self.post(), (("X-Huge", "a" * 200_000),))

    def case_many_headers(self, hits: int) -> None:
        self.reply(200, self.post(), tuple((f"X-Many-{i}", "b" * 50) for i in range(3000)))

    def case_json_deep(self, hits: int) -> None:
        self.reply(200, b"[" * 200_000 + b"]" * 200_000)

    def case_json_huge(self, hits: int) -> None:
        self.reply(200, b"[" + b"0," * 3_000_000 + b"0]")  # 6 MB

    def case_json_bad_utf8(self, hits: int) -> None:
        self.reply(200, b'{"author": "\xff\xfe\xc3", "text": "x", "files": []}')

    def case_json_surrogates(self, hits: int) -> None:
        base = f"http://{self.headers['Host']}"
        self.reply(200, b'{"author": "\\ud800", "text": "x\\udfffy", "files": ["'
                   + base.encode() + b'/media/\\ud83d.jpg"]}')

    # ------------------------------------------------------------------ lies, garbage

    def case_json_as_html(self, hits: int) -> None:
        self.reply(200, self.post(), content_type="text/html; charset=utf-8")

    def case_jpeg_as_json(self, hits: int) -> None:
        self.reply(200, JPEG)

    def case_garbage_status(self, hits: int) -> None:
        self.raw(b"HTTP/1.1 OK-ISH maybe\r\n\x00\x01garbage\r\n\r\n{}")

    def case_reset_mid_body(self, hits: int) -> None:
        self.raw(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 5000\r\n\r\n" + self.post()[:20], reset=True)

    def case_gzip_lie(self, hits: int) -> None:  # says gzip, sends plain JSON
        self.reply(200, self.post(), (("Content-Encoding", "gzip"),))

    def case_encoding_unknown(self, hits: int) -> None:
        self.reply(200, self.post(), (("Content-Encoding", "x-lifeboat-unheard-of"),))

    def case_brotli_garbage(self, hits: int) -> None:
        self.reply(200, b"\x8b\x00\x80garbage", (("Content-Encoding", "br"),))

    def case_no_content_type(self, hits: int) -> None:
        self.reply(200, self.post(), content_type=None)

    def media(self, name: str) -> None:
        body, kind = {"jpeg-as-text": (JPEG, "text/plain"),
                      "jpeg-as-json": (JPEG, "application/json"),
                      "html-as-jpeg": (HTML, "image/jpeg"),
                      "jpeg-no-type": (JPEG, None)}.get(name, (b"", "text/plain"))
        self.reply(200 if body else 404, body, content_type=kind)


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # the crawler hanging up on a bomb or a drip is the point, not an error


def serve() -> tuple[ThreadingHTTPServer, str]:
    """Start a server on a free port in a daemon thread; returns it and its base URL."""
    server = QuietServer(("127.0.0.1", 0), Hostile)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


if __name__ == "__main__":
    main_server, url = serve()
    _canary, Hostile.canary = serve()
    print(url, flush=True)
    threading.Event().wait()
