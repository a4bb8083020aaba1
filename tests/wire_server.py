"""A raw-socket HTTP server that writes fixed bytes: what a WARC's record blocks must hold.

``/case/N`` answers with ``ANSWERS[NAMES[N - 1]]`` byte for byte and closes the connection
(an RST instead of a FIN for the ``reset`` cases); ``/big/N`` streams an N-byte body and
``/trailers/N`` sends chunk trailers without end. Every request is kept as received
(``WireServer.requests``: path -> list of raw request bytes). Listens on 127.0.0.1, port 0;
``python tests/wire_server.py`` serves it by hand.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections import defaultdict

def body(name: str) -> bytes:
    """Each case's own payload (identical ones would be archived as revisits)."""
    return b'{"case": "%s", "text": "as sent"}' % name.encode()


def _length(head: bytes, payload: bytes) -> bytes:
    return head.replace(b"{n}", b"%d" % len(payload)) + payload


ANSWERS: dict[str, bytes] = {
    # the cases a user found rewritten (issue 13), then more
    "reason-phrase": _length(b"HTTP/1.1 200 Okay Then\r\nContent-Type: application/json\r\n"
                             b"Content-Length: {n}\r\n\r\n", body("reason-phrase")),
    "lower-case-names": _length(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                                b"x-lower-case: yes\r\ncontent-length: {n}\r\n\r\n", body("lower-case-names")),
    "www-authenticate": _length(b"HTTP/1.1 401 Unauthorized\r\n"
                                b'WWW-Authenticate: Basic realm="x"\r\nContent-Length: {n}\r\n\r\n',
                                body("www-authenticate")),
    "repeated-headers": _length(b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX-One: 1\r\n"
                                b"Set-Cookie: b=2\r\nLink: </a>; rel=a\r\nSet-Cookie: c=3\r\n"
                                b"Link: </b>; rel=b\r\nContent-Length: {n}\r\n\r\n", body("repeated-headers")),
    "chunked-trailers": (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Transfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"
                         b"a\r\n" + body("chunked-trailers")[:10] + b"\r\n"
                         + b"%x;ext=1\r\n" % (len(body("chunked-trailers")) - 10)
                         + body("chunked-trailers")[10:]
                         + b"\r\n0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n"),
    "chunked-plain": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"%x\r\n" % len(body("chunked-plain")) + body("chunked-plain")
                      + b"\r\n0\r\n\r\n"),
    "utf8-header": _length("HTTP/1.1 200 OK\r\nContent-Disposition: attachment; "
                           "filename=\"café.json\"\r\nX-Name: Zoë 東京\r\n"
                           "Content-Length: {n}\r\n\r\n".encode("utf-8"), body("utf8-header")),
    "http10-close": (b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n"
                     + body("http10-close")),
    "http11-close": b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body("http11-close"),
    "odd-spacing": _length(b"HTTP/1.1 200 OK\r\nX-Tight:no-space\r\nX-Wide:    wide   \r\n"
                           b"Content-Length:   {n}\r\n\r\n", body("odd-spacing")),
    "bare-lf": _length(b"HTTP/1.1 200 OK\nContent-Type: application/json\nContent-Length: {n}\n\n",
                       body("bare-lf")),
    "binary-body": _length(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                           b"Content-Length: {n}\r\n\r\n", bytes(range(256)) * 4),
    "no-body-204": b"HTTP/1.1 204 No Content\r\nX-Empty: 1\r\n\r\n",
    "redirect": b"HTTP/1.1 302 Found\r\nLocation: /case/1\r\nContent-Length: 0\r\n\r\n",
    "server-error": _length(b"HTTP/1.1 500 Internal Oops\r\nContent-Length: {n}\r\n\r\n",
                            body("server-error")),
    "reset-no-length": (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n"
                        + body("reset-no-length")[:12]),
    "reset-chunked": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"%x\r\n" % len(body("reset-chunked")) + body("reset-chunked")[:12]),
    # 1xx interim answers before the answer: kept, the final answer is what rows see
    "continue-100": (b"HTTP/1.1 100 Continue\r\n\r\n"
                     + _length(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                               b"Content-Length: {n}\r\n\r\n", body("continue-100"))),
    "early-hints-103": (b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload; as=style\r\n"
                        b"\r\nHTTP/1.1 103 Early Hints\r\nLink: </f.woff2>; rel=preload\r\n\r\n"
                        + _length(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                  b"Content-Length: {n}\r\n\r\n", body("early-hints-103"))),
    # answers llhttp refuses, or cut off in the head: archived as received all the same
    "garbage-status": b"HTTP/1.1 2x0 Weird\r\nContent-Length: 4\r\n\r\nnope",
    "not-http": b"SSH-2.0-OpenSSH_9.6\r\nProtocol mismatch.\n",
    "no-colon": _length(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"This line has no colon\r\nContent-Length: {n}\r\n\r\n", body("no-colon")),
    "bad-chunk-size": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
                       + body("bad-chunk-size") + b"\r\n0\r\n\r\n"),
    "head-cut-off": b"HTTP/1.1 200 OK\r\nContent-Type: appl",
}
NAMES = list(ANSWERS)
RESET = {"reset-no-length", "reset-chunked"}
INTERIM = {"continue-100": 1, "early-hints-103": 2}  # how many 1xx heads come first
# refused or cut off: item failed, every attempt archived as received (ledger reason)
REFUSED = {"garbage-status": "non-integer status code", "not-http": "ParseError",
           "no-colon": "ParseError", "bad-chunk-size": "ParseError",
           "head-cut-off": "ConnectionDone"}
# answered the same by lifeboat and by wget (resets are retried: two answers each)
STATIC = [name for name in NAMES if name not in RESET and name not in INTERIM
          and name not in REFUSED]


def case_path(name: str) -> str:
    return f"/case/{NAMES.index(name) + 1}"


class WireServer:
    """Serve ``ANSWERS`` from a thread; ``url`` is its base URL."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests: dict[str, list[bytes]] = defaultdict(list)
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> WireServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.sock.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                more = conn.recv(65536)
                if not more:
                    return
                data += more
            path = data.split(b" ", 2)[1].decode("ascii")
            self.requests[path].append(data)
            try:
                if path.startswith("/big/"):
                    self._big(conn, int(path.rsplit("/", 1)[1]))
                elif path.startswith("/trailers"):
                    self._endless_trailers(conn)
                elif path.startswith("/case/"):
                    name = NAMES[int(path.rsplit("/", 1)[1]) - 1]
                    conn.sendall(ANSWERS[name])
                    if name in RESET:
                        time.sleep(0.1)  # the bytes arrive; then an RST, not a FIN
                        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                        struct.pack("ii", 1, 0))
                else:
                    conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            except OSError:  # the client gave up (a limit): fine
                pass

    @staticmethod
    def _big(conn: socket.socket, size: int) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\n"
                     b"Content-Length: %d\r\n\r\n" % size)
        block = bytes(range(256)) * 4096  # 1 MiB
        sent = 0
        while sent < size:
            piece = block[:size - sent]
            conn.sendall(piece)
            sent += len(piece)

    @staticmethod
    def _endless_trailers(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"5\r\nhello\r\n0\r\n")
        line = b"X-Trailer: " + b"t" * 100 + b"\r\n"
        for _ in range(1_000_000):  # ~110 MB unless the client stops reading first
            conn.sendall(line * 100)


if __name__ == "__main__":
    with WireServer() as server:
        print(server.url, {name: case_path(name) for name in NAMES})
        server.thread.join()
