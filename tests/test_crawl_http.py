"""Edge cases against a small loopback server: encodings, headers, redirects, scope, robots."""

from __future__ import annotations

import gzip
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from archive.reader import open_record
from crawl_helpers import loopback_profile, rows, run_profile, warc_records, warcio_check

pytestmark = pytest.mark.timeout(120)

BIG = bytes(range(256)) * 20      # 5120 bytes: over the profile's 2KB media limit
SMALL = b"\x89PNG small file"

PROFILE = loopback_profile("edge", """
[politeness]
retry_times = 1
backoff_base = 0.05
start_delay = 0.01
max_media_size = "2KB"
[items.item]
url = "${base}/api/items/{id}"
table = "posts"
[items.item.ids]
start = 1
stop = 9
[items.item.fields]
author = "author"
created_at = "length(author)"  # breaks on item 9, whose author is a number
text = "text"
media = "files"
[items.item.discover]
file = "files"
secret = "secret"
[items.item.states]
missing_if = "error == 'not found'"
[items.file]
url = "{id}"
parse = "none"
table = "media"
[items.secret]
url = "${base}/private/{id}"
""")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hits: Counter = Counter()

    def log_message(self, *args) -> None:
        pass

    def reply(self, status: int, body: bytes = b"", headers: tuple = ()) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        Handler.hits[self.path] += 1
        base = f"http://{self.headers['Host']}"
        json_type = ("Content-Type", "application/json")
        if self.path == "/robots.txt":
            return self.reply(200, b"User-agent: *\nDisallow: /private/\n")
        if self.path == "/api/items/1":
            doc = {"author": "ann", "text": "h\u00e9llo \u05e9\u05dc\u05d5\u05dd",
                   "files": [f"{base}/files/big.bin", f"{base}/files/small.bin",
                             "http://10.1.2.3/x.jpg", "https://example.com/y.jpg",
                             f"{base}/files/{'x' * 9000}.bin", f"{base}/files/stream.bin"],
                   "secret": "s1"}
            return self.reply(200, gzip.compress(json.dumps(doc).encode()), (
                json_type, ("Content-Encoding", "gzip"), ("Link", "</a>; rel=a"),
                ("Link", "</b>; rel=b")))
        if self.path == "/api/items/2":
            return self.reply(302, b"", (("Location", "/login?next=/api/items/2"),))
        if self.path == "/api/items/3":
            return self.reply(301, b"", (("Location", "http://example.org/moved"),))
        if self.path == "/api/items/4":
            return self.reply(302, b"", (("Location", "/api/items/44"),))
        if self.path == "/api/items/44":  # chunked: Twisted undoes it before we see the body
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            for part in (b'{"author": "bo", ', b'"text": "moved", "files": []}'):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return None
        if self.path == "/api/items/5":
            return self.reply(401, b'{"error": "login required"}', (json_type,))
        if self.path == "/api/items/6":
            return self.reply(410, b'{"error": "gone"}', (json_type,))
        if self.path == "/api/items/7":
            return self.reply(200, b'{"error": "not found"}', (json_type,))
        if self.path == "/api/items/9":
            return self.reply(200, b'{"author": 42, "text": "odd", "files": []}', (json_type,))
        if self.path == "/api/items/8":
            return self.reply(500, b'{"error": "boom"}', (json_type,))
        if self.path == "/files/stream.bin":  # no Content-Length: the limit hits mid-body
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            for _ in range(5):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(BIG), BIG))
            self.wfile.write(b"0\r\n\r\n")
            return None
        if self.path == "/files/big.bin":
            return self.reply(200, BIG, (("Content-Type", "application/octet-stream"),))
        if self.path == "/files/small.bin":
            return self.reply(200, SMALL, (("Content-Type", "image/png"),))
        return self.reply(404, b"{}", (json_type,))


@pytest.fixture(scope="module")
def edge_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def crawl_edge(base: str, tmp: Path, profile_text: str, *extra: str) -> Path:
    job_dir = tmp / "job"
    run_profile(profile_text, tmp / "edge.toml", job_dir, base, *extra, timeout=90)
    return job_dir


@pytest.fixture(scope="module")
def edge_job(edge_server, tmp_path_factory) -> Path:
    return crawl_edge(edge_server, tmp_path_factory.mktemp("edge"), PROFILE)


def ledger(job_dir: Path) -> dict[tuple[str, str], tuple[str, str]]:
    return {(t, i): (s, r) for t, i, s, r in
            rows(job_dir, "SELECT item_type, id, state, reason FROM ledger")}


def test_states_for_statuses_redirects_and_conditions(edge_job):
    states = ledger(edge_job)
    assert states[("item", "1")][0] == "archived"
    assert states[("item", "2")] == ("forbidden", states[("item", "2")][1])
    assert "login" in states[("item", "2")][1]
    assert states[("item", "3")][0] == "failed" and "out of scope" in states[("item", "3")][1]
    assert states[("item", "4")][0] == "archived"
    assert states[("item", "5")][0] == "forbidden"
    assert states[("item", "6")][0] == "missing"
    assert states[("item", "7")] == ("missing", "states.missing_if matched")
    assert states[("item", "8")][0] == "failed" and "HTTP 500 after 2 attempts" in states[("item", "8")][1]
    assert Handler.hits["/api/items/8"] == 2
    state, reason = states[("item", "9")]
    assert state == "failed" and reason.startswith("profile expression failed on this answer: "
                                                   "JMESPathTypeError")
    assert not rows(edge_job, "SELECT id FROM posts WHERE id = '9'")
    post = rows(edge_job, "SELECT url, author, text FROM posts WHERE id = '4'")
    assert post == [(post[0][0], "bo", "moved")] and post[0][0].endswith("/api/items/44")


def test_response_archived_as_sent_with_every_header(edge_job):
    ((name, offset, record),) = [
        (n, o, r) for n, o, r in warc_records(edge_job)
        if r.rec_type == "response" and r.rec_headers.get_header("WARC-Target-URI")
        .endswith("/api/items/1")]
    assert record.http_headers.get_header("Content-Encoding") == "gzip"
    links = [v for k, v in record.http_headers.headers if k.lower() == "link"]
    assert links == ["</a>; rel=a", "</b>; rel=b"]
    with open_record(edge_job / "warc" / name, offset) as again:
        assert again.raw_stream.read()[:2] == b"\x1f\x8b"  # still gzip-compressed as sent
    ((name, offset, chunked),) = [
        (n, o, r) for n, o, r in warc_records(edge_job)
        if r.rec_type == "response" and r.rec_headers.get_header("WARC-Target-URI")
        .endswith("/api/items/44")]
    # archived with its chunked framing, as sent; warcio reads it de-chunked
    assert chunked.http_headers.get_header("Transfer-Encoding") == "chunked"
    with open_record(edge_job / "warc" / name, offset) as again:
        assert again.content_stream().read() == b'{"author": "bo", "text": "moved", "files": []}'
    (text,) = rows(edge_job, "SELECT text FROM posts WHERE id = '1'")[0]
    assert text == "h\u00e9llo \u05e9\u05dc\u05d5\u05dd"
    warcio_check(edge_job)


def test_scope_robots_and_size_limits_logged_not_fatal(edge_job):
    skipped = (edge_job / "logs" / "skipped.log").read_text(encoding="utf-8")
    assert "http://10.1.2.3/x.jpg\tprivate address 10.1.2.3 not listed" in skipped
    assert "https://example.com/y.jpg\thost example.com not listed" in skipped
    assert "http://example.org/moved\thost example.org not listed" in skipped
    assert "/private/s1\tdisallowed by robots.txt" in skipped
    assert "/files/big.bin\toversize" in skipped
    assert "/files/stream.bin\toversize" in skipped
    assert "xxx.bin\tURL longer than 8192 characters" in skipped
    states = ledger(edge_job)
    assert states[("secret", "s1")] == ("forbidden", "disallowed by robots.txt")
    big = next(k for k in states if k[1].endswith("/files/big.bin"))
    assert states[big][0] == "failed" and states[big][1].startswith("oversize")
    assert Handler.hits["/private/s1"] == 0
    small = rows(edge_job, "SELECT url, size, content_type FROM media")
    assert [(s, t) for _, s, t in small] == [(len(SMALL), "image/png")]
    assert rows(edge_job, "SELECT media_url FROM post_media WHERE post_id = '1'")


def test_robots_ignored_only_when_the_profile_says_so_and_logged(edge_server, edge_job, tmp_path):
    before = Handler.hits["/private/s1"]
    text = PROFILE.replace("[politeness]\n", "[politeness]\nobey_robots = false\n")
    job_dir = crawl_edge(edge_server, tmp_path, text, "--ids", "1-1")
    assert Handler.hits["/private/s1"] == before + 1
    assert ledger(job_dir)[("secret", "s1")][0] == "missing"  # the server's 404
    log = (job_dir / "logs" / "crawl.log").read_text(encoding="utf-8")
    assert "robots.txt is NOT obeyed: profile edge sets politeness.obey_robots = false" in log
