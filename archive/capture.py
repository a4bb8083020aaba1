"""Capture every HTTP exchange of a crawl into the job's WARC files and ``captures`` rows.

``capture_exchange`` takes one exchange as it crossed the wire (``archive.wire.
WireExchange``: the request and response bytes, URL, peer IP, time, TLS) and writes it as a
``response`` record (or a ``revisit`` record when the same payload is already archived in
this job) whose block is the response bytes as received, a ``request`` record whose block
is the request bytes as sent (``WARC-Concurrent-To`` the response), and, for the first
exchange of a TLS connection, a ``metadata`` record with the peer's certificate chain;
1xx heads received before the answer are a ``metadata`` record of their own (neither has
a WARC-Target-URI: pywb would replay it for the URL). An answer the crawler's parser
refused (``WireExchange.unparsed``) is a ``response`` record whose block is every byte
received, its head split where warcio's reader splits it.
warcio builds every record; the HTTP heads are handed to it as ``RawHead`` so that it
writes them byte for byte. ``WARC-Payload-Digest`` covers the bytes after the head as
received (chunked framing included), as warcio, wget and pywb compute and check it.

Exchanges are written in batches (``PendingExchanges``): up to ``PENDING_EXCHANGES`` of them
or ``PENDING_BYTES`` of payload wait in memory, and all are written before any row that
points at them is committed. Built and written in one tight loop, warcio's records cost
less CPU than one at a time between Scrapy's other work (bench/README.md, section 1). A
kill loses them together with their uncommitted rows, which the next run fetches again. Record ID and WARC-Date are fixed when the answer arrives (the date is
when the request was sent). The crawler side (``spiders.capture``) feeds this module;
archive/ imports no crawler.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from io import BytesIO
from typing import TYPE_CHECKING, Any, Callable

from warcio.recordloader import ArcWarcRecord
from warcio.timeutils import datetime_to_iso_date

from archive.results import Capture
from archive.wire import RawHead, WireExchange, head_end, new_record_id, warcio_split

if TYPE_CHECKING:
    import sqlite_utils

    from archive.job import Job
    from archive.writer import RotatingWarcWriter, Sha256WARCWriter

PENDING_EXCHANGES = 64
PENDING_BYTES = 8 << 20
# a request record's payload is almost always empty: its digest is known in advance
EMPTY_PAYLOAD_DIGEST = "sha256:" + base64.b32encode(hashlib.sha256(b"").digest()).decode("ascii")
CERTIFICATE_CHAIN = "application/pem-certificate-chain"
# a metadata record holding the 1xx heads received before an answer, byte for byte
INTERIM_TYPE = "application/http; msgtype=response"


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


def warc_date(epoch: float) -> str:
    """WARC-Date (WARC/1.1: microseconds) of an instant in epoch seconds."""
    return datetime_to_iso_date(datetime.fromtimestamp(epoch, timezone.utc).replace(tzinfo=None),
                                use_micros=True)


def _tls_headers(record: ArcWarcRecord, exchange: WireExchange) -> None:
    """WARC-Protocol and WARC-Cipher-Suite of a TLS exchange (as wget-at writes them)."""
    tls = exchange.tls
    if tls is None:
        return
    headers = record.rec_headers
    headers.add_header("WARC-Protocol", exchange.protocol.lower())
    if tls.version:
        headers.add_header("WARC-Protocol", tls.version)
    if tls.cipher:
        headers.add_header("WARC-Cipher-Suite", tls.cipher)


def build_records(builder: Sha256WARCWriter, exchange: WireExchange, original: Original | None,
                  record_id: str, date: str) -> list[ArcWarcRecord]:
    """[response or revisit record, request record, and for the first exchange of a TLS
    connection its certificate metadata record], built by warcio; the first has
    ``record_id`` and all have ``date``."""
    extra = {"WARC-Record-ID": record_id, "WARC-Date": date}
    if exchange.ip_address:
        extra["WARC-IP-Address"] = exchange.ip_address
    if exchange.truncated:
        extra["WARC-Truncated"] = exchange.truncated
    tls = exchange.tls
    if tls is not None:
        extra["WARC-Concurrent-To"] = tls.record_id
    head = RawHead(exchange.response_head)
    if exchange.unparsed:  # the block is what came, split where warcio's reader splits it
        raw = exchange.body
        split = warcio_split(raw)
        extra["WARC-Payload-Digest"] = warc_digest(exchange.payload_sha256)
        main = builder.create_warc_record(exchange.url, "response", payload=BytesIO(raw[split:]),
                                          length=len(raw) - split, warc_headers_dict=extra,
                                          http_headers=RawHead(raw[:split]))
    elif original is None:
        transferred = exchange.transferred_sha256
        if transferred is not None:  # otherwise warcio digests the body as stored
            extra["WARC-Payload-Digest"] = warc_digest(transferred)
        stream = exchange.body_file if exchange.body_file is not None \
            else BytesIO(exchange.body)
        main = builder.create_warc_record(exchange.url, "response", payload=stream,
                                          length=exchange.body_size or len(exchange.body),
                                          warc_headers_dict=extra, http_headers=head)
    else:
        extra["WARC-Refers-To"] = original.record_id
        main = builder.create_revisit_record(exchange.url, warc_digest(exchange.payload_sha256),
                                             original.url, original.date, http_headers=head,
                                             warc_headers_dict=extra)
    request = exchange.request
    end = head_end(request)
    request_extra = {"WARC-Date": date, "WARC-Concurrent-To": record_id}
    if end == len(request):
        request_extra["WARC-Payload-Digest"] = EMPTY_PAYLOAD_DIGEST
    req = builder.create_warc_record(
        exchange.url, "request", payload=BytesIO(request[end:]), length=len(request) - end,
        http_headers=RawHead(request[:end], is_http_request=True),
        warc_headers_dict=request_extra)
    records = [main, req]
    if exchange.interim:  # 1xx heads: a reader of the response must see the final status
        interim = builder.create_warc_record(  # no WARC-Target-URI: pywb would replay it
            None, "metadata", payload=BytesIO(exchange.interim),
            length=len(exchange.interim), warc_content_type=INTERIM_TYPE,
            warc_headers_dict={"WARC-Date": date, "WARC-Concurrent-To": record_id})
        records.append(interim)
    if tls is not None:
        _tls_headers(main, exchange)
        _tls_headers(req, exchange)
        if exchange.certificates:
            pem = tls.pem()
            metadata = {"WARC-Record-ID": tls.record_id, "WARC-Date": date,
                        "WARC-Concurrent-To": record_id}
            if exchange.ip_address:
                metadata["WARC-IP-Address"] = exchange.ip_address
            cert = builder.create_warc_record(None, "metadata", payload=BytesIO(pem),  # no URI:
                                              length=len(pem), warc_headers_dict=metadata,
                                              warc_content_type=CERTIFICATE_CHAIN)
            # pywb indexes a metadata record under its WARC-Target-URI and replayed the
            # chain instead of the answer when its type sorted first (image/*, text/*)
            _tls_headers(cert, exchange)
            records.append(cert)
    return records


@dataclass
class PendingExchanges:
    """Exchanges captured, not yet in the WARC; ``write`` puts them there in order and fills
    in their captures rows' WARC position."""

    writer: RotatingWarcWriter
    waiting: list[tuple[WireExchange, Original | None, dict[str, Any]]] = field(
        default_factory=list)
    size: int = 0
    # told of an error writing a full batch from ``add``; True: handled (the job stops)
    on_error: Callable[[BaseException], bool] | None = None
    stopped: bool = False  # set once writing failed for good: exchanges are dropped

    def add(self, exchange: WireExchange, original: Original | None,
            row: dict[str, Any]) -> None:
        if self.stopped:
            exchange.close()
            return
        self.waiting.append((exchange, original, row))
        self.size += exchange.body_size or len(exchange.body)
        if len(self.waiting) >= PENDING_EXCHANGES or self.size >= PENDING_BYTES:
            try:
                self.write()
            except Exception as exc:
                if self.on_error is None or not self.on_error(exc):
                    raise

    def write(self) -> None:
        for exchange, original, row in self.waiting:
            try:
                records = build_records(self.writer.builder, exchange, original,
                                        row["warc_record_id"], row["fetched_at"])
                written = self.writer.write(records)[0]
            finally:
                exchange.close()
            row.update(warc_filename=written.filename, warc_offset=written.offset,
                       warc_length=written.length)
        self.waiting.clear()
        self.size = 0

    def stop(self) -> None:
        """Writing failed for good (the disk is full): drop what waits, take no more."""
        self.stopped = True
        for exchange, _, _ in self.waiting:
            exchange.close()
        self.waiting.clear()
        self.size = 0


def capture_exchange(job: Job, exchange: WireExchange, held: bool = False) -> Capture:
    """Queue one exchange for the WARC and buffer its captures row (its WARC position is
    filled in when the exchange is written, before the row is committed); return what the
    crawler needs of it.
    ``held`` rows wait for the spider's result for their item (``JobStore.add_capture``)."""
    if exchange.unparsed:  # the payload as warcio reads the record: what verify checks
        payload = exchange.body[warcio_split(exchange.body):]
        exchange.payload_sha256 = hashlib.sha256(payload).hexdigest()
        exchange.payload_size = len(payload)
    sha256_hex = exchange.payload_sha256
    original = None
    if reusable(exchange.status, exchange.payload_size) and not exchange.truncated \
            and not exchange.chunked and not exchange.unparsed:
        original = job.digests.get(sha256_hex)
    if original is not None:
        exchange.close()  # a revisit holds the head only
    row = {
        "url": exchange.url,
        "status": exchange.status or None,  # None: no status line could be read
        "content_type": exchange.content_type,
        "warc_filename": None,
        "warc_offset": None,
        "warc_length": None,
        "warc_record_id": new_record_id(),
        "payload_sha256": sha256_hex,
        "payload_size": exchange.payload_size,
        "fetched_at": warc_date(exchange.sent_at),
        "warc_type": "revisit" if original else "response",
        "refers_to": original.record_id if original else None,
    }
    if not exchange.truncated and not exchange.chunked and not exchange.unparsed:
        job.digests.add_row(row)
    job.store.add_capture(row, held=held)
    if exchange.tls is not None and not exchange.tls.written:
        exchange.certificates = True  # with this exchange: later ones only link to it
        exchange.tls.written = True
    job.pending.add(exchange, original, row)
    return Capture(row["id"], row["status"], row["content_type"], sha256_hex,
                   exchange.payload_size, row["warc_type"])
