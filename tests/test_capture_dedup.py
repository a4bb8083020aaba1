"""Payload deduplication does not depend on the order Scrapy runs callbacks in."""

from __future__ import annotations

import hashlib
import time

from archive.capture import capture_exchange
from archive.job import Job
from archive.results import Result
from archive.wire import WireExchange
from crawl_helpers import rows, warc_records


def test_identical_payload_downloaded_before_the_first_is_claimed_is_a_revisit(tmp_path):
    """Two media with the same bytes both arrive before the spider's result for the first
    (common under CPU load): the second is still stored as a revisit, never twice."""
    job_dir = tmp_path / "job"
    job = Job(job_dir, "demo", 1 << 20, {"software": "lifeboat test"}).open()
    body = b"\xff\xd8\xff\xe0 the same photo under two URLs"
    try:
        written = []
        for n in (1, 2):
            url = f"http://127.0.0.1:1/media/{n}.jpg"
            exchange = WireExchange(
                url=url, request=f"GET /media/{n}.jpg HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n".encode(),
                response_head=b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n"
                              b"Content-Length: %d\r\n\r\n" % len(body),
                body=body, status=200, payload_sha256=hashlib.sha256(body).hexdigest(),
                payload_size=len(body), sent_at=time.time(), content_type="image/jpeg")
            written.append(capture_exchange(job, exchange, held=True))
        for capture in written:  # the spider's results arrive only now
            job.store.add_result(Result(captures=[capture.id]))
    finally:
        job.close()
    captured = rows(job_dir, "SELECT url, warc_type, refers_to, warc_record_id FROM captures "
                             "ORDER BY id")
    assert [(url.rsplit("/", 1)[1], kind) for url, kind, _, _ in captured] == [
        ("1.jpg", "response"), ("2.jpg", "revisit")]
    assert captured[1][2] == captured[0][3]
    records = {r.rec_headers.get_header("WARC-Record-ID"): r for _, _, r in warc_records(job_dir)}
    assert records[captured[1][3]].rec_headers.get_header("WARC-Refers-To") == captured[0][3]
