"""A lean HTTP/1.1 download handler for lifeboat's crawls: asyncio + httptools (llhttp).

Scrapy's default handler drives Twisted's HTTP client, the largest CPU cost per request on
this kind of crawl (bench/README.md, section 1). ``LeanHttpDownloadHandler`` speaks
HTTP/1.1 with asyncio protocols and llhttp as the response parser and keeps a keep-alive
pool per (scheme, host, port); the rest of Scrapy and lifeboat see the same Response.

Kept from Scrapy's handler: ``download_timeout`` (the whole exchange), ``download_maxsize``
(declared or streamed; Scrapy's ``DownloadCancelledError`` and message), dataloss (a body
cut short: a response flagged ``dataloss``, or ``ResponseDataLossError`` when
``download_fail_on_dataloss``), ``download_latency``, ``ip_address``, ``protocol``, the
Response class from ``scrapy.responsetypes``, raw ``Content-Encoding`` and repeated
headers. Scrapy's body arrives de-chunked and ``Transfer-Encoding`` is dropped, as Twisted
did; chunk trailers are not among Scrapy's headers.

The WARC gets the bytes themselves (issue 13): each exchange's exact request bytes and the
answer's bytes as received (its head, then the body with chunked framing and trailers) go
to ``request.meta["lifeboat_wire"]`` as an ``archive.wire.WireExchange`` (with the peer IP,
the time sent and, over TLS, the connection's ``TlsFacts``), or, when the download fails
after the head arrived (size limit, timeout, data loss raised), on the exception as
``lifeboat_wire`` with ``truncated`` set. An answer llhttp refuses (a garbage status
line, a header line without a colon, a bad chunk size) or one cut off in its head is
evidence too: every byte received, as an ``unparsed`` ``WireExchange`` on the exception
(or, past the head, the usual one without ``truncated``). 1xx interim heads (100
Continue, 103 Early Hints) go to ``WireExchange.interim``; Scrapy sees the final answer.
A body that ends with a reset is data loss even
without ``Content-Length``; a clean close ends an HTTP/1.0 body. Chunk framing and trailers
count against ``MAX_FRAMING``. A request with meta ``lifeboat_spool`` (media) whose answer
passes ``SPOOL_AT`` keeps its body in an unnamed temporary file (``LIFEBOAT_SPOOL_DIR``)
and Scrapy gets an empty body. Certificates are not checked (Scrapy's default).

Errors without an answer are Scrapy's exceptions, caused by Twisted's
``ResponseFailed`` / ``ResponseNeverReceived`` with the same reasons Twisted gave
(``ParseError``, ``ConnectionDone``), which ``spiders.idwalk.error_state`` words.
An answer carrying ``Retry-After`` sends lifeboat's ``RETRY_AFTER_HEARD`` signal as soon as
its headers are parsed, before its body is read (``spiders.middlewares`` pauses the host
there). Left out: proxies, ``bindaddress``, the ``headers_received`` / ``bytes_received``
signals (nothing in lifeboat listens), ``response.certificate``, HTTP/2, and Twisted's leniency
for header lines without a colon (llhttp refuses the answer: a ``ParseError``).
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import socket
import ssl
import tempfile
import time
from typing import TYPE_CHECKING, Any, BinaryIO, Callable

import httptools
from scrapy.core.downloader.handlers.base import BaseDownloadHandler
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    NotSupported,
    ResponseDataLossError,
)
from scrapy.http import Headers
from scrapy.responsetypes import responsetypes
from scrapy.utils.ssl import _make_ssl_context
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.python.failure import Failure
from twisted.web._newclient import ParseError
from twisted.web.client import ResponseFailed, ResponseNeverReceived

from archive.wire import (TlsFacts, WireExchange, chunked_end, final_message_start, head_end,
                          new_record_id)

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

# signal sent (request, status, retry_after: the header's text) when an answer's head
# carries Retry-After, before its body is read
RETRY_AFTER_HEARD = object()

MAX_HEADER_LINE = 16384  # one header over this ends the exchange (Twisted's line limit)
MAX_HEAD = 1 << 20  # all header lines together (thousands of small ones still pass)
# bytes after the head that are not body (chunk-size lines, extensions, trailers) may be
# at most this plus CHUNK_FRAMING per chunk: endless trailers end the exchange
MAX_FRAMING = 2 * MAX_HEAD
CHUNK_FRAMING = 64
SPOOL_AT = 8 << 20  # a body that may stay on disk (meta "lifeboat_spool") goes there past this
NO_BODY_STATUSES = (204, 304)
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
DEFAULT_PORTS = {"http": 80, "https": 443}


# WARC-Truncated of an answer cut off by an error (anything else: "length", a limit)
_TRUNCATED = {DownloadTimeoutError: "time", ResponseDataLossError: "disconnect"}


class _Stale(Exception):
    """The connection closed before any byte of the answer: a pooled one the server had
    already dropped, retried once on a fresh connection."""


def _no_answer(reason: BaseException, got_bytes: bool) -> DownloadFailedError:
    """Scrapy's error for an exchange without a usable answer, caused by Twisted's wrapper
    so that lifeboat words it as it did with Twisted's client."""
    wrapper = (ResponseFailed if got_bytes else ResponseNeverReceived)([Failure(reason)])
    error = DownloadFailedError(f"{reason.__class__.__name__}: {reason}")
    error.__cause__ = wrapper
    return error


def _parse_error(data: bytes, exc: Exception) -> ParseError:
    """Twisted's ParseError for what llhttp refused, naming the status line's fault."""
    line = data.split(b"\r\n", 1)[0].split(b"\n", 1)[0][:200]
    if isinstance(exc, httptools.HttpParserInvalidStatusError):
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[1].isdigit():
            return ParseError("non-integer status code", line)
    return ParseError(str(exc) or exc.__class__.__name__, line)


class _HttpConnection(asyncio.Protocol):
    """One HTTP/1.1 connection; one exchange at a time, its state held on the protocol.

    Every byte of the answer is kept as received (``raw``, or past ``SPOOL_AT`` a
    temporary file when the request allows it): the WARC record block is those bytes.
    llhttp only parses them to hand Scrapy its Response."""

    def __init__(self, loop: asyncio.AbstractEventLoop, key: tuple[str, str, int],
                 heard_retry_after: Callable[[Request, int, bytes], None] | None = None,
                 spool_dir: str | None = None) -> None:
        self.loop = loop
        self.key = key
        self.heard_retry_after = heard_retry_after
        self.request: Request | None = None
        self.spool_dir = spool_dir
        self.transport: asyncio.Transport | None = None
        self.ip_address: Any = None
        self.tls: TlsFacts | None = None
        self.closed = False
        self.reused = False
        self.parser = httptools.HttpResponseParser(self)
        self.parser.set_dangerous_leniencies(  # as browsers and Twisted read answers
            lenient_headers=True, lenient_optional_cr_before_lf=True,
            lenient_spaces_after_chunk_size=True)
        self.waiter: asyncio.Future | None = None

    # ---------------------------------------------------------------- transport events

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        if peer:
            self.ip_address = ipaddress.ip_address(peer[0].split("%", 1)[0])
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self.tls = _tls_facts(ssl_object)

    def start(self, data: bytes, is_head: bool, maxsize: int, started: float,
              spool: bool = False) -> asyncio.Future:
        """Send one request; the future resolves when the answer is complete or failed."""
        self.waiter = waiter = self.loop.create_future()
        self.is_head = is_head
        self.maxsize = maxsize
        self.started = started
        self.sent_at = time.time()
        self.request_bytes = data
        self.may_spool = spool
        self.latency = 0.0
        self.got_bytes = False
        self.head_size = 0
        self.head_done = False
        self.informational = False
        self.had_informational = False
        self.done = False
        self.excess = False
        self.keep_alive = False
        self.headers: list[tuple[bytes, bytes]] = []
        self.raw: list[bytes] = []
        self.raw_size = 0
        self.spool: BinaryIO | None = None
        self.chunks: list[bytes] = []
        self.chunk_count = 0
        self.size = 0
        self.declared: int | None = None
        self.chunked = False
        self.transfer_encoded = False
        self.flags: list[str] | None = None
        self.error: BaseException | None = None
        self.transport.write(data)  # type: ignore[union-attr]
        return waiter

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.done:  # bytes nobody asked for: not reusable
            self.close()
            return
        self.got_bytes = True
        self.raw_size += len(data)
        if self.spool is None:
            self.raw.append(data)
        else:
            self.spool.write(data)
            self.raw_hash.update(data)
        if not self.head_done:
            self.head_size += len(data)
            if self.head_size > MAX_HEAD:
                self._fail(_no_answer(ConnectionDone(
                    f"the response headers are over {MAX_HEAD} bytes"), True))
                return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(_no_answer(ParseError("protocol upgrade is not supported", b""), True))
            return
        except httptools.HttpParserError as exc:
            if self.done:  # bytes after a complete answer: drop the connection
                self.excess = True
                self.keep_alive = False
                self.close()
            elif self.error is not None:
                self._fail(self.error)
            else:
                self._fail(_no_answer(_parse_error(data, exc), True))
            return
        if self.head_done and not self.done:
            if self.raw_size - self.size > MAX_FRAMING + CHUNK_FRAMING * self.chunk_count:
                self._fail(_no_answer(ConnectionDone(
                    f"chunk framing and trailers are over {MAX_FRAMING} bytes"), True))
            elif self.may_spool and self.spool is None and self.raw_size > SPOOL_AT:
                self._start_spool()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is None or self.done or self.waiter.done():
            return
        if not self.got_bytes:
            self._fail(_Stale(exc))
        elif not self.head_done:
            self._fail(_no_answer(exc or ConnectionDone(), True))
        elif self.declared is None and not self.chunked and exc is None:
            self.flags = ["partial"]  # a body read to a clean close is complete
            self._finish()
        else:  # short of its length or chunks, or reset: data loss
            self.flags = ["dataloss"]
            self.error = exc or ConnectionLost("the body ended before its length")
            self._finish()

    # ---------------------------------------------------------------- parser callbacks

    def on_message_begin(self) -> None:
        if self.done:  # another message after the answer (or after HEAD): not ours
            raise ValueError("unexpected bytes after the answer")
        self.headers = []
        self.chunks = []
        self.size = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) + len(value) > MAX_HEADER_LINE:
            self.error = _no_answer(ConnectionDone(
                f"a header line is over {MAX_HEADER_LINE} bytes; connection closed"), True)
            raise ValueError("header line too long")
        if not self.head_done:  # trailers stay in the archived bytes only
            self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # 100 Continue, 103 Early Hints: the answer follows
            self.informational = self.had_informational = True
            return
        self.head_done = True
        self.latency = time.monotonic() - self.started
        retry_after = None
        for name, value in self.headers:
            lower = name.lower()
            if lower == b"content-length":
                self.declared = int(value) if value.strip().isdigit() else None
            elif lower == b"transfer-encoding":
                self.transfer_encoded = True
                self.chunked = b"chunked" in value.lower()
            elif lower == b"retry-after":
                retry_after = value
        if retry_after is not None and self.heard_retry_after is not None:
            self.heard_retry_after(self.request, status, retry_after)  # type: ignore[arg-type]
        if self.is_head:  # no body follows, whatever Content-Length says
            self._finish()
            return
        if self.maxsize and self.declared is not None and self.declared > self.maxsize:
            self.error = self._oversize(self.declared, expected=True)
            raise ValueError("declared body over the limit")

    def on_chunk_header(self) -> None:
        self.chunk_count += 1

    def on_body(self, body: bytes) -> None:
        if self.done:  # HEAD is answered at its headers; llhttp may still expect a body
            return
        self.size += len(body)
        if self.maxsize and self.size > self.maxsize:
            self.chunks = []
            self.error = self._oversize(self.size, expected=False)
            raise ValueError("body over the limit")
        if self.chunked:  # otherwise the body is cut out of the raw bytes at the end
            if self.spool is None:
                self.chunks.append(body)
            else:
                self.payload_hash.update(body)

    def on_message_complete(self) -> None:
        if self.informational:
            self.informational = False
            return
        if not self.done:
            self.keep_alive = self.parser.should_keep_alive()
            self._finish()

    # ---------------------------------------------------------------- the bytes

    def _start_spool(self) -> None:
        """Move the body received so far to a temporary file; the rest goes there too."""
        raw = b"".join(self.raw)
        start = final_message_start(raw) if self.had_informational else 0
        end = head_end(raw, start)
        self.spool_head = raw[start:end]
        self.spool_interim = raw[:start]
        self.spool = tempfile.TemporaryFile(dir=self.spool_dir)
        self.spool.write(memoryview(raw)[end:])
        self.raw_hash = hashlib.sha256(memoryview(raw)[end:])
        self.payload_hash = hashlib.sha256(b"".join(self.chunks)) if self.chunked else None
        self.raw = []
        self.chunks = []

    def unparsed_wire(self, url: str, truncated: str | None) -> WireExchange:
        """An answer with no head llhttp accepted (refused, or cut off in its head): every
        byte received, 1xx heads included, as one block that nothing here parsed."""
        raw = b"".join(self.raw)
        return WireExchange(
            url=url, request=self.request_bytes, response_head=b"", body=raw,
            status=self.parser.get_status_code(), payload_sha256="", payload_size=0,
            sent_at=self.sent_at,
            ip_address=str(self.ip_address) if self.ip_address is not None else None,
            truncated=truncated, tls=self.tls, unparsed=True)

    def wire(self, url: str, truncated: str | None = None,
             as_sent: bool = False) -> tuple[WireExchange, bytes]:
        """The exchange as bytes (the answer's own head and what followed it, no bytes
        of a next message) and the body Scrapy gets (empty when it stayed on disk).
        ``as_sent``: the payload is the bytes after the head, not de-chunked (the body
        was refused or cut at a limit)."""
        flags = self.flags or ()
        if truncated is None and "dataloss" in flags:
            truncated = "disconnect"
        if self.spool is not None:
            head, rest, interim = self.spool_head, b"", self.spool_interim
            size = self.raw_size - len(head)
            if self.excess and self.declared is not None and not self.chunked \
                    and size > self.declared:
                size = self.declared
                self.spool.truncate(size)
            self.spool.seek(0)
            body = b""
            body_sha = self.raw_hash.hexdigest() if size == self.raw_size - len(head) else None
            payload_sha = self.payload_hash.hexdigest() if self.chunked else body_sha
            payload_size = self.size
        else:
            raw = self.raw[0] if len(self.raw) == 1 else b"".join(self.raw)
            start = final_message_start(raw) if self.had_informational else 0
            end_of_head = head_end(raw, start)
            end = len(raw)
            if self.excess or self.is_head:
                end = _message_end(raw, end_of_head, self)
            head = raw[start:end_of_head] if start or end_of_head < len(raw) else raw
            interim = raw[:start] if start else b""
            rest = raw[end_of_head:end]
            body = b"".join(self.chunks) if self.chunked and not as_sent else rest
            if self.is_head:
                body = b""
            payload_sha = hashlib.sha256(body).hexdigest()
            payload_size = len(body)
            body_sha = None
            size = len(rest)
        content_type = None
        for name, value in self.headers:
            if name.lower() == b"content-type":
                content_type = value.decode("latin-1")
        wire = WireExchange(
            url=url, request=self.request_bytes, response_head=head, body=rest,
            status=self.parser.get_status_code(), payload_sha256=payload_sha,
            payload_size=payload_size, sent_at=self.sent_at,
            ip_address=str(self.ip_address) if self.ip_address is not None else None,
            chunked=self.chunked, truncated=truncated, body_file=self.spool, body_size=size,
            body_sha256=body_sha, content_type=content_type,
            protocol=f"HTTP/{self.parser.get_http_version()}", tls=self.tls, interim=interim)
        self.spool = None  # the WireExchange owns and closes it
        return wire, body

    # ---------------------------------------------------------------- outcome

    def _oversize(self, size: int, expected: bool) -> DownloadCancelledError:
        prefix = "Expected to receive" if expected else "Received"
        message = (f"{prefix} {size} bytes which is larger than download max size "
                   f"({self.maxsize}) in request {self.request_text}.")
        logger.warning(message)
        return DownloadCancelledError(message)

    def _finish(self) -> None:
        self.done = True
        if self.is_head:
            self.keep_alive = False  # llhttp would wait for the body HEAD never gets
        if not self.waiter.done():  # type: ignore[union-attr]
            self.waiter.set_result(None)  # type: ignore[union-attr]

    def _fail(self, error: BaseException) -> None:
        self.done = True
        self.keep_alive = False
        self.close()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(error)

    def timeout(self, url: str, seconds: float) -> None:
        self._fail(DownloadTimeoutError(f"Getting {url} took longer than {seconds} seconds."))

    def discard(self) -> None:
        """Drop a spooled body nobody will archive."""
        if self.spool is not None:
            self.spool.close()
            self.spool = None

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _truncated(exc: Exception) -> str | None:
    """WARC-Truncated of an answer whose download failed after bytes came: none when
    llhttp refused it (the record holds what came up to the refusal and no more is read)."""
    kind = _TRUNCATED.get(type(exc))
    if kind is not None:
        return kind
    wrapper = exc.__cause__
    reason = wrapper.reasons[0].value if isinstance(wrapper, ResponseFailed) else None
    if isinstance(reason, ParseError):
        return None
    if reason is None or isinstance(reason, ConnectionDone) and " over " in str(reason):
        return "length"  # over the size limit, the head or framing limits
    return "disconnect"  # the connection ended in the head


def _message_end(raw: bytes, end_of_head: int, conn: _HttpConnection) -> int:
    """Where the answer whose head ends at ``end_of_head`` ends in ``raw`` (bytes of a
    next message, or a body sent with HEAD / 204 / 304, are not part of it)."""
    if conn.is_head or conn.parser.get_status_code() in NO_BODY_STATUSES:
        return end_of_head
    if conn.chunked:
        return chunked_end(raw, end_of_head)
    if conn.declared is not None:
        return min(len(raw), end_of_head + conn.declared)
    return len(raw)


def _tls_facts(ssl_object: Any) -> TlsFacts:
    """Version, cipher suite and the peer's certificates (its own first) of a connection."""
    version = (ssl_object.version() or "").lower().replace("tlsv", "tls/")
    cipher = (ssl_object.cipher() or ("",))[0]
    chain: list[bytes] = []
    inner = getattr(ssl_object, "_sslobj", ssl_object)
    try:  # Python 3.13 has it public; 3.10-3.12 on the C object
        chain = [cert.public_bytes(ssl._ssl.ENCODING_DER)  # type: ignore[attr-defined]
                 if hasattr(cert, "public_bytes") else cert
                 for cert in inner.get_unverified_chain() or ()]
    except (AttributeError, ssl.SSLError, ValueError):
        pass
    if not chain:
        leaf = ssl_object.getpeercert(binary_form=True)
        chain = [leaf] if leaf else []
    return TlsFacts(version, cipher, chain, new_record_id())


class LeanHttpDownloadHandler(BaseDownloadHandler):
    """Scrapy download handler for http and https: asyncio, llhttp, keep-alive pool."""

    lazy = False

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        settings = crawler.settings
        self.default_maxsize = settings.getint("DOWNLOAD_MAXSIZE")
        self.default_timeout = settings.getfloat("DOWNLOAD_TIMEOUT")
        self.fail_on_dataloss = settings.getbool("DOWNLOAD_FAIL_ON_DATALOSS")
        self.per_host = max(1, settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN"))
        self.spool_dir = settings.get("LIFEBOAT_SPOOL_DIR") or None
        self.ssl_context: ssl.SSLContext | None = None
        self.idle: dict[tuple[str, str, int], list[_HttpConnection]] = {}
        self.closing = False

    async def download_request(self, request: Request) -> Response:
        meta = request.meta
        if meta.get("proxy"):
            raise NotSupported(f"{type(self).__name__} does not support proxies "
                               f"(request.meta['proxy'] on {request.url})")
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        timeout = meta.get("download_timeout") or self.default_timeout
        url = request.url.split("#", 1)[0]
        scheme, rest = url.split("://", 1)
        netloc, slash, target = rest.partition("/")
        target = slash + target if slash else "/"
        if target[0] == "?":  # pragma: no cover  (Scrapy's URLs always have a path)
            target = "/" + target
        key = _host_key(scheme.lower(), netloc)
        data = self._request_bytes(request, target, netloc)
        maxsize = meta.get("download_maxsize", self.default_maxsize)
        deadline = started + timeout
        fresh = False
        while True:
            conn = None if fresh else self._pooled(key)
            if conn is None:
                conn = await self._connect(loop, key, url, timeout, deadline)
            conn.request_text = f"<{request.method} {url}>"
            conn.request = request
            timer = loop.call_later(max(0.0, deadline - time.monotonic()),
                                    conn.timeout, url, timeout)
            try:
                await conn.start(data, request.method == "HEAD", maxsize, started,
                                 meta.get("lifeboat_spool", False))
                break
            except _Stale as exc:
                if conn.reused and not fresh and request.method in IDEMPOTENT:
                    fresh = True  # the server had closed it while idle: once, anew
                    continue
                raise _no_answer(exc.args[0] or ConnectionDone(), False)  # noqa: B904
            except BaseException as exc:  # failed, timed out or cancelled: never reused
                conn.close()
                if conn.head_done and isinstance(exc, Exception):  # what came is evidence
                    kind = _truncated(exc)
                    exc.lifeboat_wire = conn.wire(  # type: ignore[attr-defined]
                        url, kind, as_sent=kind in (None, "length"))[0]
                elif conn.got_bytes and isinstance(exc, Exception):  # refused, cut in the head
                    exc.lifeboat_wire = conn.unparsed_wire(  # type: ignore[attr-defined]
                        url, _truncated(exc))
                else:
                    conn.discard()
                raise
            finally:
                timer.cancel()
        meta["download_latency"] = conn.latency
        self._release(conn)
        return self._response(request, url, conn)

    def _response(self, request: Request, url: str, conn: _HttpConnection) -> Response:
        """Scrapy's Response; the exchange's bytes go to ``request.meta["lifeboat_wire"]``."""
        wire, body = conn.wire(url)
        if conn.flags == ["dataloss"]:
            fail = request.meta.get("download_fail_on_dataloss", self.fail_on_dataloss)
            if fail:
                error = ResponseDataLossError(str(conn.error))
                error.lifeboat_wire = wire  # type: ignore[attr-defined]
                raise error from conn.error
        request.meta["lifeboat_wire"] = wire
        headers = Headers([(n, v) for n, v in conn.headers if n.lower() != b"transfer-encoding"]
                          if conn.transfer_encoded else conn.headers)
        cls = responsetypes.from_args(headers=headers, url=url, body=body)
        return cls(url=url, status=wire.status, headers=headers, body=body,
                   flags=conn.flags, ip_address=conn.ip_address, protocol=wire.protocol)

    @staticmethod
    def _request_bytes(request: Request, target: str, netloc: str) -> bytes:
        """The request head (Host first unless the request sets one) and body."""
        lines = [f"{request.method} {target} HTTP/1.1\r\n".encode("latin-1")]
        if b"Host" not in request.headers:
            lines.append(b"Host: " + netloc.rpartition("@")[2].encode("ascii") + b"\r\n")
        for name, values in request.headers.items():
            for value in values:
                lines.append(name + b": " + value + b"\r\n")
        body = request.body
        if (body or request.method in ("POST", "PUT", "PATCH")) \
                and b"Content-Length" not in request.headers:
            lines.append(b"Content-Length: %d\r\n" % len(body))
        lines.append(b"\r\n")
        if body:
            lines.append(body)
        return b"".join(lines)

    # ---------------------------------------------------------------- connections

    def _pooled(self, key: tuple[str, str, int]) -> _HttpConnection | None:
        idle = self.idle.get(key)
        while idle:
            conn = idle.pop()
            if not conn.closed and not conn.transport.is_closing():  # type: ignore[union-attr]
                conn.reused = True
                return conn
        return None

    def _release(self, conn: _HttpConnection) -> None:
        conn.waiter = None
        if conn.closed or not conn.keep_alive or self.closing:
            conn.close()
            return
        idle = self.idle.setdefault(conn.key, [])
        if len(idle) >= self.per_host:
            conn.close()
        else:
            idle.append(conn)

    async def _connect(self, loop: asyncio.AbstractEventLoop, key: tuple[str, str, int],
                       url: str, timeout: float, deadline: float) -> _HttpConnection:
        scheme, host, port = key
        if scheme == "https":
            if self.ssl_context is None:
                self.ssl_context = _make_ssl_context(self.crawler.settings)
            tls: dict[str, Any] = {"ssl": self.ssl_context, "server_hostname": host}
        elif scheme == "http":
            tls = {}
        else:
            raise NotSupported(f"{type(self).__name__} handles http and https, not {url}")
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _HttpConnection(loop, key, self._retry_after, self.spool_dir),
                                       host, port, **tls),
                max(0.0, deadline - time.monotonic()))
        except (TimeoutError, asyncio.TimeoutError) as exc:
            raise DownloadTimeoutError(
                f"Getting {url} took longer than {timeout} seconds.") from exc
        except ConnectionRefusedError as exc:
            raise DownloadConnectionRefusedError(f"{host}:{port}: {exc}") from exc
        except socket.gaierror as exc:
            raise CannotResolveHostError(f"{host}: {exc}") from exc
        except (OSError, ssl.SSLError) as exc:
            raise DownloadFailedError(f"connecting to {host}:{port}: "
                                      f"{exc.__class__.__name__}: {exc}") from exc
        return conn

    def _retry_after(self, request: Request, status: int, value: bytes) -> None:
        """An answer's head carries Retry-After: tell its listeners now, not once the body
        is in (``RETRY_AFTER_HEARD``; they pause the host before queued requests go)."""
        self.crawler.signals.send_catch_log(
            signal=RETRY_AFTER_HEARD, request=request, status=status,
            retry_after=value.decode("latin-1"))

    async def close(self) -> None:
        self.closing = True
        for idle in self.idle.values():
            for conn in idle:
                conn.close()
        self.idle.clear()


def _host_key(scheme: str, netloc: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL's authority; IPv6 brackets and userinfo dropped."""
    hostport = netloc.rpartition("@")[2]
    if hostport.startswith("["):
        host, _, port = hostport[1:].partition("]")
        port = port[1:]
    else:
        host, _, port = hostport.partition(":")
    try:
        number = int(port) if port else DEFAULT_PORTS.get(scheme, 80)
    except ValueError:
        raise NotSupported(f"not a valid port in {netloc!r}") from None
    return scheme, host.lower(), number
