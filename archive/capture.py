"""Capture every HTTP exchange of a crawl into the job's WARC files and ``captures`` rows.

``CaptureMiddleware`` is a Scrapy downloader middleware placed between the retry
middleware and ``HttpCompressionMiddleware``: it sees each final response (not the
transient 429/5xx answers that are retried) with its body exactly as the server sent it,
Content-Encoding intact. Each exchange becomes a ``response`` record (or a ``revisit``
record when the same payload digest is already archived in this job) and a ``request``
record pointing at it with ``WARC-Concurrent-To``.

Exchanges are written in batches (``PendingExchanges``): up to ``PENDING_EXCHANGES`` of them
or ``PENDING_BYTES`` of payload wait in memory, and all are written before any row that
points at them is committed. Built and written in one tight loop, warcio's records cost
~0.08 ms less CPU each than one at a time between Scrapy's other work (bench/README.md,
section 1). A kill loses them together with their uncommitted rows, which the next run
fetches again. Record ID and WARC-Date are fixed when the answer arrives.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from http import HTTPStatus
from io import BytesIO
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urlsplit

from warcio.recordloader import ArcWarcRecord
from warcio.statusandheaders import StatusAndHeaders, StatusAndHeadersParser

if TYPE_CHECKING:
    import sqlite_utils
    from scrapy.crawler import Crawler
    from scrapy.http import Request, Response

    from archive.job import Job
    from archive.writer import RotatingWarcWriter, Sha256WARCWriter

# The body we get is already de-chunked. lifeboat's download handler (like Twisted's client)
# drops Transfer-Encoding itself; should another handler keep it, it is renamed so replay
# does not de-chunk again.
RENAMED_HEADERS = {"transfer-encoding": "X-Archive-Orig-Transfer-Encoding"}
REASONS = {status.value: status.phrase for status in HTTPStatus}
PENDING_EXCHANGES = 64
PENDING_BYTES = 8 << 20
# a request record's payload is almost always empty: its digest is known in advance
EMPTY_PAYLOAD_DIGEST = "sha256:" + base64.b32encode(hashlib.sha256(b"").digest()).decode("ascii")


@dataclass(frozen=True)
class Original:
    """The record that holds a payload first archived in this job."""

    record_id: str
    url: str
    date: str


class DigestIndex:
    """payload SHA-256 (hex) -> the response record that first archived it."""

    def __init__(self) -> None:
        self._by_digest: dict[str, Original] = {}

    @classmethod
    def load(cls, db: sqlite_utils.Database) -> DigestIndex:
        index = cls()
        for digest, record_id, url, date in db.execute(
                "SELECT payload_sha256, warc_record_id, url, fetched_at FROM captures "
                "WHERE warc_type IN ('response', 'resource') AND payload_size > 0 "
                "AND status BETWEEN 200 AND 299 ORDER BY id"):
            index._by_digest.setdefault(digest, Original(record_id, url, date))
        return index

    def get(self, digest: str) -> Original | None:
        return self._by_digest.get(digest)

    def add_row(self, row: dict[str, Any]) -> None:
        """Remember a captures row as soon as it is captured, if it holds a payload to
        reuse: its row may be held until the item's result arrives, and an identical
        payload downloaded meanwhile must still become a revisit."""
        if row["warc_type"] == "response" and reusable(row["status"], row["payload_size"]):
            self._by_digest.setdefault(
                row["payload_sha256"], Original(row["warc_record_id"], row["url"], row["fetched_at"]))


def reusable(status: int, size: int) -> bool:
    """Only successful, non-empty payloads are stored once and revisited afterwards."""
    return 200 <= status < 300 and size > 0


def warc_digest(sha256_hex: str) -> str:
    """``sha256:BASE32`` as WARC-Payload-Digest writes it."""
    return "sha256:" + base64.b32encode(bytes.fromhex(sha256_hex)).decode("ascii")


def _header_pairs(headers: Any) -> list[tuple[str, str]]:
    """Every header value of a Scrapy Headers object, repeated ones included (read as the
    plain dict of name -> [values] it is: its own accessors normalise every name again)."""
    pairs = []
    for name, values in dict.items(headers):
        text = name.decode("latin-1")
        text = RENAMED_HEADERS.get(text.lower(), text)
        pairs.extend((text, value.decode("latin-1")) for value in values)
    return pairs


def request_headers(request: Request) -> StatusAndHeaders:
    """The request line and headers as sent (Host added as Twisted sends it)."""
    parts = urlsplit(request.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    pairs = _header_pairs(request.headers)
    if not any(name.lower() == "host" for name, _ in pairs):
        pairs.insert(0, ("Host", parts.netloc))
    return StatusAndHeaders(f"{request.method} {target} HTTP/1.1", pairs, protocol="",
                            is_http_request=True)


def response_headers(response: Response) -> StatusAndHeaders:
    """The status line (standard reason phrase: Scrapy drops the server's) and all headers."""
    status = f"{response.status} {REASONS.get(response.status, '')}".rstrip()
    return StatusAndHeaders(status, _header_pairs(response.headers),
                            protocol=response.protocol or "HTTP/1.1")


@dataclass(frozen=True)
class Exchange:
    """What one exchange's WARC records are made of, taken as the answer arrives: Scrapy's
    middlewares change the response's headers afterwards (HttpCompression drops
    Content-Encoding once it has decoded the body)."""

    url: str
    body: bytes
    response_headers: StatusAndHeaders
    request_url: str
    request_body: bytes
    request_headers: StatusAndHeaders
    extra: dict[str, str]  # WARC-Truncated, WARC-IP-Address

    @classmethod
    def of(cls, request: Request, response: Response) -> Exchange:
        extra = {}
        if "dataloss" in response.flags:  # the connection closed before Content-Length bytes
            extra["WARC-Truncated"] = "disconnect"
        if response.ip_address is not None:
            extra["WARC-IP-Address"] = str(response.ip_address)
        return cls(response.url, response.body, response_headers(response), request.url,
                   request.body or b"", request_headers(request), extra)


def build_records(builder: Sha256WARCWriter, exchange: Exchange, sha256_hex: str,
                  original: Original | None, record_id: str, date: str
                  ) -> tuple[ArcWarcRecord, ArcWarcRecord]:
    """(response or revisit record, request record) for one exchange, built by warcio;
    the first has ``record_id`` and both have ``date``."""
    body = exchange.body
    extra = {"WARC-Record-ID": record_id, "WARC-Date": date, **exchange.extra}
    if original is None:
        extra["WARC-Payload-Digest"] = warc_digest(sha256_hex)
        main = builder.create_warc_record(exchange.url, "response", payload=BytesIO(body),
                                          length=len(body), warc_headers_dict=extra,
                                          http_headers=exchange.response_headers)
    else:
        extra["WARC-Refers-To"] = original.record_id
        main = builder.create_revisit_record(exchange.url, warc_digest(sha256_hex),
                                             original.url, original.date,
                                             http_headers=exchange.response_headers,
                                             warc_headers_dict=extra)
    request_body = exchange.request_body
    request_extra = {"WARC-Date": date, "WARC-Concurrent-To": record_id}
    if not request_body:
        request_extra["WARC-Payload-Digest"] = EMPTY_PAYLOAD_DIGEST
    req = builder.create_warc_record(
        exchange.request_url, "request", payload=BytesIO(request_body),
        length=len(request_body), http_headers=exchange.request_headers,
        warc_headers_dict=request_extra)
    return main, req


@dataclass
class PendingExchanges:
    """Exchanges captured, not yet in the WARC; ``write`` puts them there in order and fills
    in their captures rows' WARC position."""

    writer: RotatingWarcWriter
    waiting: list[tuple[Exchange, str, Original | None, dict[str, Any]]] = field(
        default_factory=list)
    size: int = 0
    # told of an error writing a full batch from ``add``; True: handled (the job stops)
    on_error: Callable[[BaseException], bool] | None = None
    stopped: bool = False  # set once writing failed for good: exchanges are dropped

    def add(self, exchange: Exchange, sha256_hex: str, original: Original | None,
            row: dict[str, Any]) -> None:
        if self.stopped:
            return
        self.waiting.append((exchange, sha256_hex, original, row))
        self.size += len(exchange.body)
        if len(self.waiting) >= PENDING_EXCHANGES or self.size >= PENDING_BYTES:
            try:
                self.write()
            except Exception as exc:
                if self.on_error is None or not self.on_error(exc):
                    raise

    def write(self) -> None:
        for exchange, sha256_hex, original, row in self.waiting:
            records = build_records(self.writer.builder, exchange, sha256_hex, original,
                                    row["warc_record_id"], row["fetched_at"])
            written, _ = self.writer.write(list(records))
            row.update(warc_filename=written.filename, warc_offset=written.offset,
                       warc_length=written.length)
        self.waiting.clear()
        self.size = 0

    def stop(self) -> None:
        """Writing failed for good (the disk is full): drop what waits, take no more."""
        self.stopped = True
        self.waiting.clear()
        self.size = 0


def capture_exchange(job: Job, request: Request, response: Response) -> dict[str, Any]:
    """Queue one exchange for the WARC and buffer its captures row; return that row (its
    WARC position is filled in when the exchange is written, before the row is committed)."""
    body = response.body
    sha256_hex = hashlib.sha256(body).hexdigest()
    original = job.digests.get(sha256_hex) if reusable(response.status, len(body)) else None
    content_type = response.headers.get("Content-Type")
    row = {
        "url": response.url,
        "status": response.status,
        "content_type": content_type.decode("latin-1") if content_type else None,
        "warc_filename": None,
        "warc_offset": None,
        "warc_length": None,
        "warc_record_id": StatusAndHeadersParser.make_warc_id(),
        "payload_sha256": sha256_hex,
        "payload_size": len(body),
        "fetched_at": job.writer.builder.curr_warc_date(),
        "warc_type": "revisit" if original else "response",
        "refers_to": original.record_id if original else None,
    }
    job.digests.add_row(row)
    job.store.add_capture(row, held="lifeboat_item" in request.meta)
    job.pending.add(Exchange.of(request, response), sha256_hex, original, row)
    return row


class CaptureMiddleware:
    """Downloader middleware writing every final response (and its request) to the WARC."""

    def __init__(self, crawler: Crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CaptureMiddleware:
        return cls(crawler)

    def process_response(self, request: Request, response: Response) -> Response:
        job = getattr(self.crawler.spider, "job", None)
        if job is not None:
            row = capture_exchange(job, request, response)
            request.meta["lifeboat_capture"] = row
            self.crawler.stats.inc_value(f"lifeboat/captures/{row['warc_type']}")
        return response

