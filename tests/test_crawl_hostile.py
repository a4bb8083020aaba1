"""A real `lifeboat crawl` against a hostile server (tests/hostile_server.py).

Every bad answer must end in a recorded ledger state with a reason, the answer archived
when one arrived, no host outside the profile contacted, memory bounded, no hang.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.checker import Checker

import hostile_server as hs
from archive.reader import open_record
from crawl_helpers import ROOT, loopback_profile, rows, run_profile, warc_blocks
from spiders.profile import ProfileError, parse_profile

pytestmark = pytest.mark.timeout(120)

PROFILE = loopback_profile("hostile", """
[politeness]
autothrottle = false
retry_times = 1
backoff_base = 0.1
backoff_max = 0.5
retry_after_max = 2.0
timeout = 1.5
max_json_size = "4MB"
[items.item]
url = "${base}/item/{id}"
table = "posts"
[items.item.ids]
start = 1
stop = %d
[items.item.fields]
author = "author"
text = "text"
media = "files"
[items.item.discover]
media = "files"
[items.media]
url = "{id}"
parse = "none"
table = "media"
""" % len(hs.CASES))


@pytest.fixture(scope="module")
def servers():
    main, base = hs.serve()
    canary, hs.Hostile.canary = hs.serve()
    yield base
    main.shutdown()
    canary.shutdown()


def crawl(base: str, job_dir: Path, profile_text: str, *extra: str,
          timeout: float = 60) -> float:
    """Run ``lifeboat crawl`` as a user would; returns the seconds it took."""
    started = time.monotonic()
    result = run_profile(profile_text, job_dir.parent / f"{job_dir.name}.toml", job_dir, base,
                         *extra, timeout=timeout)
    assert "Traceback" not in result.stderr
    return time.monotonic() - started


@pytest.fixture(scope="module")
def job(servers, tmp_path_factory) -> Path:
    job_dir = tmp_path_factory.mktemp("hostile") / "job"
    crawl(servers, job_dir, PROFILE)
    return job_dir


def state(job_dir: Path, case: str) -> tuple[str, int, int | None, str | None]:
    """(state, attempts, last_status, reason) of the walked ID that serves ``case``."""
    ((row),) = rows(job_dir, "SELECT state, attempts, last_status, reason FROM ledger "
                             "WHERE item_type = 'item' AND id = ?", (hs.case_id(case),))
    return row


def captures_of(job_dir: Path, case: str) -> list[tuple]:
    return rows(job_dir, "SELECT status, payload_size, warc_filename, warc_offset FROM captures "
                         "WHERE url LIKE ? ORDER BY id", (f"%/item/{hs.case_id(case)}",))


def requests_log(job_dir: Path, case: str) -> list[tuple[float, str, str]]:
    """(time, event, status) of every request event for one case."""
    out = []
    for line in (job_dir / "logs" / "requests.log").read_text(encoding="utf-8").splitlines():
        when, event, _slot, status, url, *_ = line.split("\t")
        if url.endswith(f"/item/{hs.case_id(case)}"):
            out.append((float(when), event, status))
    return out


def test_every_id_recorded_and_the_archive_valid(job):
    walked = rows(job, "SELECT count(*) FROM ledger WHERE item_type = 'item'")[0][0]
    assert walked == len(hs.CASES)
    assert not rows(job, "SELECT id FROM ledger WHERE state = 'queued' OR reason IS NULL "
                         "AND state NOT IN ('archived', 'deleted')")
    assert "Traceback" not in (job / "logs" / "crawl.log").read_text(encoding="utf-8")
    # warcio's own checker; in-process, because only lifeboat's adapter lets warcio read the
    # br answer sent unasked with the brotli package Scrapy installs (warcio#73)
    checker = Checker(SimpleNamespace(inputs=sorted(map(str, (job / "warc").glob("*.gz"))),
                                      verbose=False))
    assert checker.process_all() == 0
    verify = subprocess.run([sys.executable, str(ROOT / "crawl.py"), "verify", str(job)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_rate_limits(job):
    for case, least in (("retry-after-seconds", 0.9), ("retry-after-date", 0.9)):
        assert state(job, case)[:3] == ("archived", 2, 200)
        events = requests_log(job, case)
        told = next(t for t, event, status in events if event == "recv" and status == "429")
        again = [t for t, event, _ in events if event == "send" and t > told]
        assert again and again[0] - told >= least, (case, events)
    reason = state(job, "retry-after-absurd")[3]
    assert state(job, "retry-after-absurd")[:3] == ("failed", 1, 429)
    assert "Retry-After 86400 s is over politeness.retry_after_max (2 s); not retried" in reason
    assert hs.Hostile.hits[f"/item/{hs.case_id('retry-after-absurd')}"] == 1
    assert state(job, "storm")[:3] == ("failed", 2, 503)
    assert "HTTP 503 after 2 attempts" in state(job, "storm")[3]
    assert state(job, "storm-then-ok")[:3] == ("archived", 2, 200)
    # every answer is archived, the retried ones too; the ledger tells the last one
    assert [c[0] for c in captures_of(job, "storm")] == [503, 503]
    assert [c[0] for c in captures_of(job, "storm-then-ok")] == [503, 200]
    post_capture = rows(job, "SELECT capture_id FROM posts WHERE id = ?",
                        (hs.case_id("storm-then-ok"),))[0][0]
    assert post_capture == rows(job, "SELECT id FROM captures WHERE url LIKE ? AND status = 200",
                                (f"%/item/{hs.case_id('storm-then-ok')}",))[0][0]


def test_redirects(job):
    for case in ("redirect-loop", "redirect-chain"):
        assert state(job, case)[0] == "failed" and state(job, case)[3] == "more than 5 redirects"
    assert len(captures_of(job, "redirect-loop")) == 6  # every hop archived
    short = state(job, "redirect-short-chain")
    assert short[:3] == ("archived", 4, 200)
    assert rows(job, "SELECT url FROM posts WHERE id = ?", (hs.case_id("redirect-short-chain"),)
                )[0][0].endswith("?via=short-chain")
    skipped = (job / "logs" / "skipped.log").read_text(encoding="utf-8")
    for case, where in (("redirect-offhost", "/stolen"), ("redirect-userinfo", "/userinfo"),
                        ("redirect-backslash", "/backslash"),
                        ("redirect-metadata", "http://169.254.169.254/latest/meta-data/"),
                        ("redirect-private", "http://10.0.0.1/admin")):
        found_in = f"/item/{hs.case_id(case)}"
        state_, _, status, reason = state(job, case)
        assert (state_, status) == ("failed", 302) and reason.startswith("redirected out of scope")
        line = next(line for line in skipped.splitlines() if line.endswith(found_in))
        assert where in line and "not listed in scope.allowed_hosts" in line, line
    assert "private address 169.254.169.254 not listed" in skipped
    assert "private address 10.0.0.1 not listed" in skipped
    # the canary (the "other host") never saw a request, whatever trick the URL used
    assert not [p for p in hs.Hostile.hits if p.endswith(("/stolen", "/userinfo", "/backslash"))]
    sent = [line for line in (job / "logs" / "requests.log").read_text().splitlines()
            if "\tsend\t" in line]
    assert not [line for line in sent if "169.254" in line or "10.0.0.1" in line]
    assert state(job, "redirect-login")[0] == "forbidden"
    assert "login page" in state(job, "redirect-login")[3]
    # a redirect to another ID is followed; that ID is still walked under its own ID
    assert state(job, "redirect-other-id")[:3] == ("archived", 2, 200)
    assert rows(job, "SELECT url FROM posts WHERE id = ?", (hs.case_id("redirect-other-id"),)
                )[0][0].endswith(f"/item/{hs.case_id('ok')}")
    assert state(job, "ok")[0] == "archived"


def test_bombs_and_lying_lengths(job):
    state_, _, status, reason = state(job, "gzip-bomb")
    assert (state_, status) == ("failed", 200)
    assert reason.startswith("oversize: larger than 4000000 bytes once decompressed")
    ((_, size, name, offset),) = captures_of(job, "gzip-bomb")
    assert size == len(hs.BOMB)
    with open_record(job / "warc" / name, offset) as record:  # the raw gzip, as sent
        assert record.http_headers.get_header("Content-Encoding") == "gzip"
        assert record.raw_stream.read(2) == b"\x1f\x8b"
    assert "/item/%s\toversize" % hs.case_id("gzip-bomb") in \
        (job / "logs" / "skipped.log").read_text(encoding="utf-8")
    # neither this bomb nor the one served as robots.txt (which Scrapy fetches, under the
    # 2GB media limit if nothing else applied) was inflated: peak memory stays far below
    assert hs.Hostile.hits["/robots.txt"] == 1
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss < 600 * 1024
    for case in ("slow-drip", "silent"):
        assert state(job, case)[:2] == ("failed", 2)
        assert state(job, case)[3].startswith("DownloadTimeoutError")
    assert state(job, "length-short")[0] == "failed"
    assert state(job, "length-short")[3].startswith("malformed JSON")
    for case in ("length-long", "reset-mid-body"):
        state_, attempts, _, reason = state(job, case)
        assert (state_, attempts) == ("failed", 2) and reason.startswith("truncated"), case
        attempts = captures_of(job, case)  # both partial bodies, marked so
        assert len(attempts) == 2, case
        for _, size, name, offset in attempts:
            with open_record(job / "warc" / name, offset) as record:
                assert record.rec_headers.get_header("WARC-Truncated") == "disconnect"
                assert len(record.raw_stream.read()) == size > 0
    assert state(job, "huge-header")[:2] == ("failed", 2)
    assert "ConnectionDone" in state(job, "huge-header")[3]
    assert state(job, "many-headers")[0] == "archived"
    ((_, _, name, offset),) = captures_of(job, "many-headers")
    with open_record(job / "warc" / name, offset) as record:
        assert sum(k.startswith("X-Many-") for k, _ in record.http_headers.headers) == 3000
    assert state(job, "json-deep")[3] == "malformed JSON: nested too deeply to parse"
    assert captures_of(job, "json-deep")[0][1] == 400_000
    assert state(job, "json-huge")[3].startswith("oversize")
    ((_, size, name, offset),) = captures_of(job, "json-huge")  # what came before the cut
    with open_record(job / "warc" / name, offset) as record:
        assert record.rec_headers.get_header("WARC-Truncated") == "length"
        assert int(record.http_headers.get_header("Content-Length")) > 4_000_000 > size


def test_broken_text_and_lying_content_types(job):
    assert state(job, "json-bad-utf8")[0] == "failed"
    assert "utf-8" in state(job, "json-bad-utf8")[3]
    author, text, raw = rows(job, "SELECT author, text, raw FROM posts WHERE id = ?",
                             (hs.case_id("json-surrogates"),))[0]
    assert (author, text) == ("\ufffd", "x\ufffdy") and "\\ud800" in raw
    assert state(job, "json-as-html")[0] == "archived"
    assert state(job, "jpeg-as-json")[3].startswith("malformed JSON")
    assert state(job, "gzip-lie")[:3] == ("failed", 1, 200)
    assert state(job, "gzip-lie")[3].startswith("BadGzipFile")
    assert captures_of(job, "gzip-lie")  # archived as sent, though it cannot be decoded
    assert state(job, "brotli-garbage")[0] == "failed"
    # lifeboat asks only for what warcio can read back: a server sends br or zstd unasked
    asked = set()
    for path in (job / "warc").glob("*.warc.gz"):
        with open(path, "rb") as fh:  # headers only: payloads are never decoded here
            asked.update(record.http_headers.get_header("Accept-Encoding")
                         for record in ArchiveIterator(fh) if record.rec_type == "request")
    assert asked == {"gzip, deflate"}
    assert state(job, "encoding-unknown")[0] == "archived"  # kept as it is, and it parses
    assert state(job, "no-content-type")[0] == "archived"
    assert rows(job, "SELECT content_type FROM captures WHERE url LIKE ?",
                (f"%/item/{hs.case_id('no-content-type')}",)) == [(None,)]
    media = dict(rows(job, "SELECT url, content_type FROM media"))
    kinds = {url.rsplit("/", 1)[1]: kind for url, kind in media.items()}
    assert kinds == {"jpeg-as-text": "text/plain", "jpeg-as-json": "application/json",
                     "html-as-jpeg": "image/jpeg", "jpeg-no-type": None}


def test_extraction_trusts_bytes_not_labels(job):
    result = subprocess.run([sys.executable, str(ROOT / "crawl.py"), "extract", str(job)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    found = {url.rsplit("/", 1)[1]: (mime, width, error) for url, mime, width, error in rows(
        job, "SELECT m.url, x.mime_type, x.width, x.error FROM media m "
             "JOIN media_metadata x ON x.sha256 = m.sha256")}
    for name in ("jpeg-as-text", "jpeg-as-json", "jpeg-no-type"):
        assert found[name][:2] == ("image/jpeg", 8), found
    assert found["html-as-jpeg"][2], found


def test_broken_links_are_skipped_not_fatal(job):
    assert state(job, "ok")[0] == "archived"  # although its post lists unusable links
    skipped = (job / "logs" / "skipped.log").read_text(encoding="utf-8")
    for link in hs.BROKEN_LINKS:
        assert f"\t{link}\tnot a valid URL: " in skipped, link
    assert len(rows(job, "SELECT media_url FROM post_media WHERE post_id = '1'")) == \
        len(hs.MEDIA) + len(hs.BROKEN_LINKS)
    assert state(job, "redirect-broken")[:2] == ("failed", 1)


def test_garbage_status_line(job):
    state_, attempts, status, reason = state(job, "garbage-status")
    assert (state_, attempts, status) == ("failed", 2, None)
    assert reason.startswith("DownloadFailedError: ParseError: ('non-integer status code'")
    ids = rows(job, "SELECT warc_record_id, status FROM captures WHERE url LIKE ?",
               (f"%/item/{hs.case_id('garbage-status')}",))
    assert len(ids) == 2 and {status for _, status in ids} == {None}  # each attempt archived
    blocks = {h.get_header("WARC-Record-ID"): b
              for h, b in warc_blocks(sorted((job / "warc").glob("*.warc.gz")))}
    for record_id, _ in ids:  # as received
        assert blocks[record_id] == b"HTTP/1.1 OK-ISH maybe\r\n\x00\x01garbage\r\n\r\n{}"
    assert state(job, case="ok")[0] == "archived"  # and the crawl went on


SEQ = loopback_profile("seq", """
[politeness]
autothrottle = false
concurrency = 2
[items.post]
url = "${base}/seq/{id}"
table = "posts"
[items.post.ids]
start = 1
stop = 100000
stop_after_missing = 10
""")


def test_open_ended_walk_stops_after_missing_ids(servers, tmp_path):
    job_dir = tmp_path / "seq"
    crawl(servers, job_dir, SEQ)
    states = dict(rows(job_dir, "SELECT id, state FROM ledger"))
    assert [states[str(n)] for n in range(1, 6)] == ["archived"] * 5
    assert [states[str(n)] for n in range(6, 16)] == ["missing"] * 10
    assert len(states) < 30
    hits = sum(n for path, n in hs.Hostile.hits.items() if path.startswith("/seq/"))
    assert hits == len(states)
    log = (job_dir / "logs" / "crawl.log").read_text(encoding="utf-8")
    assert "walk of post stopped at ID" in log and "ids.stop_after_missing" in log
    crawl(servers, job_dir, SEQ)  # resuming knows the run of missing IDs from the ledger
    assert sum(n for path, n in hs.Hostile.hits.items() if path.startswith("/seq/")) == hits


@pytest.mark.parametrize("value", ["-1", "\"ten\"", "true"])
def test_stop_after_missing_is_validated(value):
    text = SEQ.replace("stop_after_missing = 10", f"stop_after_missing = {value}")
    with pytest.raises(ProfileError,
                       match=r"items\.post\.ids\.stop_after_missing: a number of consecutive"):
        parse_profile(text, "seq.toml", {"base": "http://127.0.0.1:1"})


SEEN = loopback_profile("seen", """
[politeness]
autothrottle = false
concurrency = 1
[items.post]
url = "${base}/seen/{id}"
table = "posts"
[items.post.ids]
start = 1
stop = 5
[items.post.discover]
post = "see"
""")


def test_each_item_fetched_once_per_run(servers, tmp_path):
    """Post 1 points ahead at 4 (fetched early, then skipped by the walk); post 3 points
    back at 1, already walked: neither is fetched twice."""
    job_dir = tmp_path / "seen"
    crawl(servers, job_dir, SEEN)
    assert [hs.Hostile.hits[f"/seen/{n}"] for n in range(1, 6)] == [1] * 5
    assert rows(job_dir, "SELECT id, state FROM ledger ORDER BY id") == [
        (str(n), "archived") for n in range(1, 6)]
    # next run, another range: post 6 points at post 2, which the ledger already has
    crawl(servers, job_dir, SEEN, "--ids", "6-6")
    assert [hs.Hostile.hits[f"/seen/{n}"] for n in range(1, 7)] == [1] * 6
