"""spiders.http_handler against real loopback servers: what Scrapy and lifeboat get back.

Most tests drive the handler with scripted raw answers from an asyncio server on port 0
(each test counts the connections it saw); one runs ``lifeboat crawl`` end to end.
"""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ipaddress
import json
import ssl
import threading
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from scrapy import Request
from scrapy.exceptions import (DownloadCancelledError, DownloadConnectionRefusedError,
                               DownloadFailedError, DownloadTimeoutError, ResponseDataLossError)
from scrapy.http import TextResponse
from scrapy.utils.test import get_crawler

from crawl_helpers import (loopback_profile, rows, run_profile, warc_blocks, warc_records,
                           warcio_check)
from spiders.http_handler import LeanHttpDownloadHandler
from spiders.idwalk import error_state

pytestmark = pytest.mark.timeout(60)

Reply = Callable[[str, asyncio.StreamWriter], Awaitable[bool]]  # True: keep the connection


def answer(status: str = "200 OK", body: bytes = b"", headers: tuple = (),
           length: bool = True) -> bytes:
    head = [f"HTTP/1.1 {status}".encode(), *(f"{k}: {v}".encode() for k, v in headers)]
    if length:
        head.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(head) + b"\r\n\r\n" + body


class RawServer:
    """An asyncio server on 127.0.0.1:0 that answers each request with ``reply(path, w)``."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.connections = 0
        self.paths: list[str] = []

    async def __aenter__(self) -> RawServer:
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", 0, ssl=self.tls())
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()

    def tls(self) -> ssl.SSLContext | None:
        return None

    def url(self, path: str, scheme: str = "http", host: str = "127.0.0.1") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.paths.append(head.split(b" ")[1].decode())
                if not await self.reply(self.paths[-1], writer):
                    break
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


def handler(**settings) -> LeanHttpDownloadHandler:
    return LeanHttpDownloadHandler(get_crawler(settings_dict={
        "DOWNLOAD_TIMEOUT": 5, "CONCURRENT_REQUESTS_PER_DOMAIN": 4, **settings}))


async def fetch(url: str, handler_: LeanHttpDownloadHandler | None = None, **meta):
    own = handler_ is None
    handler_ = handler_ or handler()
    try:
        return await handler_.download_request(Request(url, meta=meta))
    finally:
        if own:
            await handler_.close()


async def test_keep_alive_reused_and_answer_as_sent():
    post = json.dumps({"id": 1, "text": "hello"}).encode()

    async def reply(path, writer):
        writer.write(answer(body=post, headers=(("Content-Type", "application/json"),
                                                ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"))))
        return True

    async with RawServer(reply) as server:
        lean = handler()
        responses = [await fetch(server.url(f"/api/posts/{n}"), lean) for n in range(5)]
        responses += await asyncio.gather(*(fetch(server.url(f"/p/{n}"), lean) for n in range(3)))
        responses.append(await fetch(server.url("/again"), lean))
        await lean.close()
    assert server.connections <= 3  # 9 requests: one connection, then at most three at once
    assert server.paths[:5] == [f"/api/posts/{n}" for n in range(5)]
    first = responses[0]
    assert isinstance(first, TextResponse) and first.json() == {"id": 1, "text": "hello"}
    assert (first.status, first.protocol) == (200, "HTTP/1.1")
    assert first.ip_address == ipaddress.ip_address("127.0.0.1")
    assert first.headers.getlist("Set-Cookie") == [b"a=1", b"b=2"]
    assert first.headers["Content-Length"] == str(len(post)).encode()
    assert all(r.body == post for r in responses)


async def test_stale_pooled_connection_retried_once_on_a_fresh_one():
    async def reply(path, writer):
        if path == "/second" and server.connections == 1:
            return False  # the server dropped the idle connection: no byte of an answer
        writer.write(answer(body=path.encode()))
        return True

    async with RawServer(reply) as server:
        lean = handler()
        assert (await fetch(server.url("/first"), lean)).body == b"/first"
        assert (await fetch(server.url("/second"), lean)).body == b"/second"
        await lean.close()
    assert server.paths == ["/first", "/second", "/second"] and server.connections == 2


async def test_fresh_connection_closed_without_answer_is_not_retried():
    async def reply(path, writer):
        return False

    async with RawServer(reply) as server:
        with pytest.raises(DownloadFailedError) as failed:
            await fetch(server.url("/x"))
    assert server.connections == 1
    state, reason, _ = error_state(failed.value, None)
    assert state == "failed" and "ConnectionDone" in reason and "no complete response" in reason


@pytest.mark.parametrize("fail", [False, True])
async def test_body_cut_short_is_dataloss(fail):
    async def reply(path, writer):
        writer.write(answer(body=b'{"text": "cut', headers=(("Content-Length", "100"),),
                            length=False))
        return False

    async with RawServer(reply) as server:
        if fail:
            with pytest.raises(ResponseDataLossError):
                await fetch(server.url("/x"), download_fail_on_dataloss=True)
            return
        response = await fetch(server.url("/x"), download_fail_on_dataloss=False)
    assert response.flags == ["dataloss"] and response.body == b'{"text": "cut'


async def test_maxsize_declared_and_streamed():
    async def reply(path, writer):
        if path == "/declared":
            writer.write(answer(body=b"x" * 500))
        else:  # chunked, no length to check up front: the limit hits mid-body
            writer.write(answer(headers=(("Transfer-Encoding", "chunked"),), length=False))
            writer.write(b"".join(b"64\r\n" + b"y" * 100 + b"\r\n" for _ in range(5)))
            writer.write(b"0\r\n\r\n")
        return True

    async with RawServer(reply) as server:
        for path, prefix in (("/declared", "Expected to receive 500"),
                             ("/streamed", "Received 300")):
            with pytest.raises(DownloadCancelledError, match=prefix):
                await fetch(server.url(path), download_maxsize=250)
        with pytest.raises(DownloadCancelledError) as cancelled:
            await fetch(server.url("/streamed"), handler(DOWNLOAD_MAXSIZE=99))
    assert error_state(cancelled.value, 99) == ("failed", "oversize: larger than 99 bytes", True)


async def test_timeout_covers_the_whole_exchange():
    async def reply(path, writer):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        await writer.drain()
        await asyncio.sleep(5)
        return False

    async with RawServer(reply) as server:
        started = asyncio.get_running_loop().time()
        with pytest.raises(DownloadTimeoutError) as timed_out:
            await fetch(server.url("/drip"), download_timeout=0.3)
        assert asyncio.get_running_loop().time() - started < 2
    assert error_state(timed_out.value, None)[1].startswith("DownloadTimeoutError: Getting")


async def test_chunked_1xx_no_length_head_and_no_body_statuses():
    gz = gzip.compress(b'{"a": 1}')

    async def reply(path, writer):
        if path == "/chunked":
            writer.write(answer(headers=(("Transfer-Encoding", "chunked"),
                                         ("Content-Encoding", "gzip")), length=False))
            writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(gz), gz))
        elif path == "/early":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n"
                         b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
                         + answer(body=b"final"))
        elif path == "/eof":  # HTTP/1.0, no length: the body runs to the close
            writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nto the end")
            return False
        elif path == "/head":
            writer.write(answer(headers=(("Content-Length", "1234"),), length=False))
        else:
            writer.write(answer(path[1:].replace("-", " "), length=False))
        return True

    async with RawServer(reply) as server:
        lean = handler()
        chunked = await fetch(server.url("/chunked"), lean)
        early = await fetch(server.url("/early"), lean)
        eof = await fetch(server.url("/eof"), lean)
        head = await lean.download_request(Request(server.url("/head"), method="HEAD"))
        empty = [await fetch(server.url(p), lean) for p in ("/204-No-Content", "/304-Not-Modified")]
        await lean.close()
    assert chunked.body == gz and chunked.headers["Content-Encoding"] == b"gzip"
    assert b"Transfer-Encoding" not in chunked.headers
    assert (early.status, early.body, early.headers.get("Link")) == (200, b"final", None)
    assert (eof.body, eof.protocol, eof.text) == (b"to the end", "HTTP/1.0", "to the end")
    assert (head.status, head.body, head.headers["Content-Length"]) == (200, b"", b"1234")
    assert [(r.status, r.body) for r in empty] == [(204, b""), (304, b"")]
    # chunked and 1xx answers kept the connection; the HTTP/1.0 close and HEAD did not
    assert server.connections == 3


@pytest.mark.parametrize("spooled", [False, True])
async def test_interim_heads_are_kept_apart_from_the_answer(spooled, monkeypatch):
    """1xx heads go to ``WireExchange.interim`` byte for byte, in memory or with a body
    spooled to disk; the answer's head and body are the rest of what the server sent."""
    interim = (b"HTTP/1.1 100 Continue\r\n\r\n"
               b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n")
    payload = bytes(range(256)) * 64
    final = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(payload) + payload

    async def reply(path, writer):  # the body in two parts: it passes SPOOL_AT unfinished
        writer.write(interim + final[:2048])
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(final[2048:])
        return True

    if spooled:
        monkeypatch.setattr("spiders.http_handler.SPOOL_AT", 1024)
    async with RawServer(reply) as server:
        request = Request(server.url("/x"), meta={"lifeboat_spool": spooled})
        lean = handler()
        response = await lean.download_request(request)
        await lean.close()
    wire = request.meta["lifeboat_wire"]
    body = wire.body_file.read() if spooled else wire.body
    wire.close()
    assert (wire.interim, wire.response_head + body) == (interim, final)
    assert (response.status, wire.status) == (200, 200)
    assert response.body == (b"" if spooled else payload)


async def test_connection_close_and_stray_bytes_end_the_connection():
    async def reply(path, writer):
        if path == "/close":  # says close, but leaves the socket open: the client closes
            writer.write(answer(body=b"bye", headers=(("Connection", "close"),)))
        elif path == "/stray":  # a second answer nobody asked for rides on the first
            writer.write(answer(body=b"abc") + answer(body=b"unasked"))
        else:
            writer.write(answer(body=b"ok"))
        return True

    async with RawServer(reply) as server:
        lean = handler()
        request = Request(server.url("/close"))
        bodies = [(await lean.download_request(request)).body]
        bodies += [(await fetch(server.url(p), lean)).body for p in ("/stray", "/after")]
        await lean.close()
    assert bodies == [b"bye", b"abc", b"ok"] and server.connections == 3
    assert 0 < request.meta["download_latency"] < 5


async def test_garbage_status_line_and_refused_connection():
    async def reply(path, writer):
        writer.write(b"HTTP/1.1 OK-ISH maybe\r\n\x00\x01garbage\r\n\r\n{}")
        return False

    async with RawServer(reply) as server:
        with pytest.raises(DownloadFailedError) as garbage:
            await fetch(server.url("/x"))
    assert error_state(garbage.value, None)[1].startswith(
        "DownloadFailedError: ParseError: ('non-integer status code'")
    wire = garbage.value.lifeboat_wire  # the bytes received, for the WARC
    assert wire.unparsed and wire.truncated is None and wire.status == 0
    assert wire.body == b"HTTP/1.1 OK-ISH maybe\r\n\x00\x01garbage\r\n\r\n{}"
    with pytest.raises(DownloadConnectionRefusedError):
        await fetch(server.url("/gone"))  # the server is closed: nothing listens there


def self_signed(tmp_path) -> ssl.SSLContext:
    """A loopback TLS server context with a fresh self-signed certificate for localhost."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return context


async def test_https_with_a_self_signed_certificate_and_sni(tmp_path):
    context = self_signed(tmp_path)
    names = []
    context.sni_callback = lambda sslobj, name, ctx: names.append(name)

    async def reply(path, writer):
        writer.write(answer(body=b"over tls " + path.encode()))
        return True

    class TlsServer(RawServer):
        def tls(self):
            return context

    async with TlsServer(reply) as server:
        lean = handler()
        first = await fetch(server.url("/a", "https", "localhost"), lean)
        second = await fetch(server.url("/b", "https", "localhost"), lean)
        await lean.close()
    assert (first.body, second.body) == (b"over tls /a", b"over tls /b")
    assert names == ["localhost"] and server.connections == 1


# ------------------------------------------------------------------ a real crawl

class Posts(BaseHTTPRequestHandler):
    """/item/N: a post; counts the client ports (connections) that asked."""

    protocol_version = "HTTP/1.1"
    ports: set = set()

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        Posts.ports.add(self.client_address[1])
        if not self.path.startswith("/item/"):
            body, status = b"{}", 404
        else:
            body, status = json.dumps({"author": "ann", "text": self.path}).encode(), 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if self.path == "/item/7":  # chunked: archived with its framing, read de-chunked
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_crawl_archives_every_post_over_few_connections(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Posts)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    profile = loopback_profile("keepalive", """
[politeness]
autothrottle = false
concurrency = 2
[items.item]
url = "${base}/item/{id}"
table = "posts"
[items.item.ids]
start = 1
stop = 40
[items.item.fields]
author = "author"
text = "text"
""")
    job = tmp_path / "job"
    try:
        run_profile(profile, tmp_path / "keepalive.toml", job,
                    f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
    assert rows(job, "SELECT count(*) FROM ledger WHERE state = 'archived'") == [(40,)]
    assert rows(job, "SELECT text FROM posts WHERE id = '7'") == [("/item/7",)]
    assert len(Posts.ports) <= 3  # 41 requests (robots.txt too) over kept-alive connections
    blocks = {headers.get_header("WARC-Target-URI").rsplit("/", 1)[1]: block
              for headers, block in warc_blocks(sorted((job / "warc").glob("*.warc.gz")))
              if headers.get_header("WARC-Type") == "response"}
    # the chunked answer is archived with its framing, as it crossed the wire
    body = json.dumps({"author": "ann", "text": "/item/7"}).encode()
    assert blocks["7"].endswith(b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n"
                                % (len(body), body))
    responses = {r.rec_headers.get_header("WARC-Target-URI").rsplit("/", 1)[1]: r
                 for _, _, r in warc_records(job) if r.rec_type == "response"}
    assert responses["7"].http_headers.get_header("Transfer-Encoding") == "chunked"
    assert responses["7"].rec_headers.get_header("WARC-IP-Address") == "127.0.0.1"
    warcio_check(job)
