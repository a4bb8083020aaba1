"""One HTTP exchange as it crossed the wire: the facts archive/ writes WARC records from.

A crawler (lifeboat's download handler, ``spiders/http_handler.py``) fills a
``WireExchange`` with the exact request bytes it sent and the exact response bytes it
received (status line, header case, order and repeats, chunked framing and trailers),
plus the facts around them (URL, peer IP, time, TLS); ``archive.capture`` writes it as
WARC records whose blocks are those bytes. Nothing here knows Scrapy.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from io import BytesIO
from typing import BinaryIO

from warcio.recordloader import ArcWarcRecordLoader
from warcio.statusandheaders import (StatusAndHeaders, StatusAndHeadersParser,
                                     StatusAndHeadersParserException)

INFORMATIONAL = (b"HTTP/1.0 1", b"HTTP/1.1 1")


@dataclass
class TlsFacts:
    """What one TLS connection negotiated and the certificates the peer showed (DER,
    its own first); ``record_id`` names the metadata record that holds them, written
    once per connection with the first exchange archived from it."""

    version: str  # "tls/1.3", as WARC-Protocol writes it
    cipher: str  # OpenSSL's name of the cipher suite
    chain: list[bytes]
    record_id: str
    written: bool = False  # queued for the WARC with an exchange (``certificates``)

    def pem(self) -> bytes:
        """The chain as concatenated PEM certificates (application/pem-certificate-chain)."""
        out = []
        for der in self.chain:
            text = base64.encodebytes(der).decode("ascii").replace("\n", "")
            lines = [text[i:i + 64] for i in range(0, len(text), 64)]
            out.append("-----BEGIN CERTIFICATE-----\n" + "\n".join(lines)
                       + "\n-----END CERTIFICATE-----\n")
        return "".join(out).encode("ascii")


@dataclass
class WireExchange:
    """One request and its answer as bytes, and the facts the WARC records need.

    ``response_head`` is the answer's head as received (status line to the blank line
    included); what followed it (the body as transferred: chunked framing and trailers
    kept) is ``body``, or for a large answer ``body_file`` (an open temporary file holding
    ``body_size`` bytes, closed once written). ``payload_sha256`` / ``payload_size``
    describe the entity as the crawler handed it on (de-chunked, Content-Encoding kept).
    ``interim`` holds the 1xx heads (100 Continue, 103 Early Hints) received before the
    answer, as received. An ``unparsed`` exchange is an answer the crawler's parser refused
    (or one cut off in its head): ``body`` holds every byte received, ``response_head`` is
    empty, ``status`` is what the parser read of the status line (0: nothing) and the
    payload fields are unset (``archive.capture`` takes them from warcio's reading).
    """

    url: str
    request: bytes
    response_head: bytes
    body: bytes
    status: int
    payload_sha256: str
    payload_size: int
    sent_at: float  # when the request was sent (epoch seconds): the records' WARC-Date
    ip_address: str | None = None
    chunked: bool = False
    truncated: str | None = None  # WARC-Truncated: "length", "disconnect"
    body_file: BinaryIO | None = None
    body_size: int = 0
    body_sha256: str | None = None  # of the bytes after the head, when they differ
    content_type: str | None = None
    protocol: str = "HTTP/1.1"
    tls: TlsFacts | None = None
    certificates: bool = False  # the TLS metadata record is written with this exchange
    interim: bytes = b""  # 1xx heads before the answer, as received
    unparsed: bool = False  # refused by the crawler's parser: ``body`` is all that came

    @property
    def transferred_sha256(self) -> str | None:
        """Hex SHA-256 of the bytes after the head (WARC-Payload-Digest), when known
        without reading them again."""
        if self.body_sha256 is not None:
            return self.body_sha256
        return None if self.chunked else self.payload_sha256

    def close(self) -> None:
        if self.body_file is not None:
            self.body_file.close()
            self.body_file = None


class RawHead(StatusAndHeaders):
    """An HTTP head for warcio whose bytes are the ones received, never re-serialised.

    warcio writes ``headers_buff`` as the start of the record block; its
    ``compute_headers_buffer`` would rebuild it from the parsed fields (header case,
    folding, bare LF and non-ASCII bytes lost), so it is a no-op here. ``statusline``
    is only what warcio's logic looks at (a head is "true" when it has one)."""

    def __init__(self, raw: bytes, is_http_request: bool = False) -> None:
        first = raw.split(b"\n", 1)[0].rstrip(b"\r").decode("latin-1")
        protocol, _, statusline = first.partition(" ")
        if is_http_request:  # "GET /x HTTP/1.1": warcio keeps request lines whole
            protocol, statusline = "", first
        super().__init__(statusline or first or "-", [], protocol=protocol,
                         is_http_request=is_http_request)
        self.headers_buff = raw

    def compute_headers_buffer(self, header_filter=None) -> None:
        """Keep the bytes as received."""


def warcio_split(raw: bytes) -> int:
    """Where warcio's reader ends the HTTP head of a response record whose block is
    ``raw`` (however malformed): what follows is the payload it digests and replays."""
    stream = BytesIO(raw)
    try:
        loader = ArcWarcRecordLoader(verify_http=False)
        loader.load_http_headers("response", "http:", stream, len(raw))
    except (EOFError, StatusAndHeadersParserException, ValueError):
        return 0
    return stream.tell()


def head_end(raw: bytes, start: int = 0) -> int:
    """Offset just past the blank line that ends the HTTP head starting at ``start``
    (CRLF or bare LF line ends, as llhttp accepts them); len(raw) if there is none."""
    crlf = raw.find(b"\n\r\n", start)
    lf = raw.find(b"\n\n", start)
    ends = [i + 3 for i in (crlf,) if i >= 0] + [i + 2 for i in (lf,) if i >= 0]
    return min(ends) if ends else len(raw)


def final_message_start(raw: bytes) -> int:
    """Offset of the final answer in ``raw``, after any 1xx informational heads."""
    start = 0
    while raw.startswith(INFORMATIONAL, start):
        start = head_end(raw, start)
    return start


def chunked_end(raw: bytes, start: int) -> int:
    """Offset just past a chunked body (last chunk, trailers, blank line) that starts at
    ``start``; len(raw) if it does not end within ``raw``."""
    pos = start
    while True:
        eol = raw.find(b"\n", pos)
        if eol < 0:
            return len(raw)
        size_text = raw[pos:eol].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return len(raw)
        if size == 0:  # the last chunk: trailer lines up to a blank line
            return head_end(raw, eol)
        pos = eol + 1 + size
        pos = raw.find(b"\n", pos)
        if pos < 0:
            return len(raw)
        pos += 1


def new_record_id() -> str:
    """A fresh WARC-Record-ID (``<urn:uuid:...>``), as warcio makes them."""
    return StatusAndHeadersParser.make_warc_id()
