"""A whole crawl of the demo platform: the archive matches /_truth.json, the WARCs are sound."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from crawl_helpers import (ROOT, assert_matches_truth, rows, run_crawl, warc_records,
                           warcio_check)

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def demo_job(demo_platform, tmp_path_factory) -> Path:
    job_dir = tmp_path_factory.mktemp("crawl") / "demo-job"
    run_crawl(job_dir, demo_platform, ids="1-200", extra=("--warc-max-size", "150KB"))
    return job_dir


def test_whole_range_matches_truth(demo_job, demo_platform):
    assert_matches_truth(demo_job, demo_platform.truth)


def test_every_public_item_archived_once(demo_job, demo_platform):
    truth = demo_platform.truth
    per_url = Counter(url for (url,) in rows(demo_job, "SELECT url FROM captures"))
    for pid, state in truth["posts"].items():
        assert per_url[f"{demo_platform.api}/api/v1/posts/{pid}"] == 1, pid
    for url in truth["media"]:
        assert per_url[url] == 1, url


def test_rows_point_at_their_warc_records(demo_job):
    records = {(name, offset): record for name, offset, record in warc_records(demo_job)}
    captures = rows(demo_job, "SELECT warc_filename, warc_offset, warc_record_id, url, status, "
                              "warc_type, payload_sha256, payload_size FROM captures")
    assert captures
    for name, offset, record_id, url, status, warc_type, sha256, size in captures:
        record = records[(name, offset)]
        assert record.rec_headers.get_header("WARC-Record-ID") == record_id
        assert record.rec_headers.get_header("WARC-Target-URI") == url
        assert record.rec_type == warc_type
        assert record.http_headers.get_statuscode() == str(status)
        digest = record.rec_headers.get_header("WARC-Payload-Digest")
        assert digest.startswith("sha256:")
    posts = rows(demo_job, "SELECT count(*) FROM posts p JOIN captures c ON c.id = p.capture_id "
                           "WHERE c.url = p.url AND c.status = 200")
    assert posts[0][0] == rows(demo_job, "SELECT count(*) FROM posts")[0][0]
    media = rows(demo_job, "SELECT count(*) FROM media m JOIN captures c ON c.id = m.capture_id "
                           "WHERE c.payload_sha256 = m.sha256 AND c.payload_size = m.size")
    assert media[0][0] == rows(demo_job, "SELECT count(*) FROM media")[0][0]


def test_warc_files_rotate_and_pass_warcio_check(demo_job):
    warcio_check(demo_job)
    files = sorted((demo_job / "warc").glob("*.warc.gz"))
    assert len(files) >= 2, "150KB rotation should have produced several files"
    assert all(f.name.startswith("demo-job-") for f in files)
    by_file: dict[str, list] = {}
    for name, _offset, record in warc_records(demo_job):
        by_file.setdefault(name, []).append(record)
    for name, records in by_file.items():
        assert records[0].rec_type == "warcinfo"
        assert records[0].rec_headers.get_header("WARC-Filename") == name
        assert sum(r.rec_type == "warcinfo" for r in records) == 1


def test_request_records_pair_with_responses(demo_job):
    records = [r for _, _, r in warc_records(demo_job)]
    ids = {r.rec_headers.get_header("WARC-Record-ID"): r for r in records}
    requests = [r for r in records if r.rec_type == "request"]
    answers = [r for r in records if r.rec_type in ("response", "revisit")]
    assert len(requests) == len(answers)
    for request in requests:
        answer = ids[request.rec_headers.get_header("WARC-Concurrent-To")]
        assert answer.rec_headers.get_header("WARC-Target-URI") == \
            request.rec_headers.get_header("WARC-Target-URI")
        agent = request.http_headers.get_header("User-Agent")
        assert agent.startswith("lifeboat/") and "+http" in agent


def test_identical_payloads_stored_once_as_revisits(demo_job):
    """Issue 6 item 1: a payload already archived in the job becomes a revisit record."""
    revisits = rows(demo_job, "SELECT url, payload_sha256, refers_to, warc_record_id "
                              "FROM captures WHERE warc_type = 'revisit'")
    assert revisits, "the demo platform re-uploads media under new URLs"
    originals = dict(rows(demo_job, "SELECT warc_record_id, payload_sha256 FROM captures "
                                    "WHERE warc_type = 'response'"))
    for url, sha256, refers_to, _ in revisits:
        assert originals[refers_to] == sha256, url
    stored = Counter(sha for (sha,) in rows(
        demo_job, "SELECT payload_sha256 FROM captures WHERE warc_type = 'response' "
                  "AND status = 200 AND payload_size > 0"))
    assert max(stored.values()) == 1
    records = {r.rec_headers.get_header("WARC-Record-ID"): r for _, _, r in warc_records(demo_job)}
    for url, _, refers_to, record_id in revisits:
        record = records[record_id]
        assert record.rec_headers.get_header("WARC-Profile").endswith(
            "/revisit/identical-payload-digest")
        assert record.rec_headers.get_header("WARC-Refers-To") == refers_to
        assert record.rec_headers.get_header("WARC-Refers-To-Target-URI") == \
            records[refers_to].rec_headers.get_header("WARC-Target-URI")
        assert record.rec_headers.get_header("WARC-Refers-To-Date") == \
            records[refers_to].rec_headers.get_header("WARC-Date")
    media_revisits = [u for u, *_ in revisits if "/media/" in u]
    assert media_revisits
    by_url = dict(rows(demo_job, "SELECT url, sha256 FROM media"))
    assert all(by_url[u] for u in media_revisits)


def test_status_command_summarises_the_ledger(demo_job, demo_platform):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, str(ROOT / "crawl.py"), "status", str(demo_job)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    states = Counter(demo_platform.truth["posts"].values())
    line = next(l for l in result.stdout.splitlines() if l.startswith("demo post:"))
    assert f"archived {states['archived']}" in line
    assert f"missing {states['missing']}" in line
    assert f"failed {states['malformed']}" in line
    assert "captures:" in result.stdout


def test_job_toml_records_what_the_job_was_started_with(demo_job, demo_platform):
    import tomllib

    job = tomllib.loads((demo_job / "job.toml").read_text(encoding="utf-8"))
    assert job["profile_name"] == "demo" and job["ids"] == "1-200"
    assert job["vars"]["api"] == demo_platform.api
    assert 'name = "demo"' in job["profile_text"]
    assert sorted(p.name for p in (demo_job / "logs").iterdir()) == [
        "crawl.log", "requests.log", "skipped.log"]


def test_rerun_retries_failed_ids_and_skips_finished_ones(demo_platform, tmp_path):
    truth = demo_platform.truth["posts"]
    malformed = min(int(pid) for pid, state in truth.items() if state == "malformed")
    last = malformed + 5
    job = tmp_path / "rerun"
    run_crawl(job, demo_platform, ids=f"1-{last}")
    log = job / "logs" / "requests.log"
    first_run = len(log.read_text().splitlines())
    run_crawl(job, demo_platform, ids=f"1-{last}")
    again = [line.split("\t")[4] for line in log.read_text().splitlines()[first_run:]
             if "\tsend\t" in line]
    failed = [f"{demo_platform.api}/api/v1/posts/{pid}" for pid, state in truth.items()
              if state == "malformed" and int(pid) <= last]
    assert sorted(u for u in again if not u.endswith("/robots.txt")) == sorted(failed)
    attempts = dict(rows(job, "SELECT id, attempts FROM ledger WHERE item_type = 'post'"))
    assert attempts[str(malformed)] == 2 and attempts["1"] == 1
    malformed_row = rows(job, "SELECT state, reason FROM ledger WHERE id = ?",
                                       (str(malformed),))
    assert malformed_row[0][0] == "failed"
    assert malformed_row[0][1].startswith("malformed JSON")


def test_readers_indexes_are_built_when_the_crawl_ends(demo_job):
    """The crawl writes without Datasette's indexes and builds them once at its end, so a
    finished archive answers the posts facets and media-by-hash lookups from an index."""
    plans = {sql: " ".join(str(row[-1]) for row in rows(demo_job, f"EXPLAIN QUERY PLAN {sql}"))
             for sql in ("SELECT count(*) FROM posts WHERE author = 'wei'",
                         "SELECT count(*) FROM posts WHERE deleted = 1",
                         "SELECT count(*) FROM posts WHERE date(created_at) = '2021-01-01'",
                         "SELECT id FROM captures WHERE payload_sha256 = 'x'",
                         "SELECT id FROM captures WHERE url = 'x'")}
    for sql, plan in plans.items():
        assert "USING" in plan and "INDEX" in plan, (sql, plan)
