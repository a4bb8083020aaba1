"""A crawl through 429s with Retry-After, 503s and dropped connections loses nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawl_helpers import assert_matches_truth, rows, run_crawl, warcio_check

pytestmark = pytest.mark.timeout(240)

RETRY_AFTER = 1


@pytest.fixture(scope="module")
def faulty(demo_factory):
    return demo_factory(posts=150, seed=5, rate_limit_every=35, retry_after=RETRY_AFTER,
                        error_rate=0.05, drop_rate=0.04)


@pytest.fixture(scope="module")
def faulty_job(faulty, tmp_path_factory) -> Path:
    job_dir = tmp_path_factory.mktemp("faults") / "job"
    run_crawl(job_dir, faulty, ids="1-150")
    return job_dir


def read_log(job_dir: Path) -> list[tuple[float, str, str, str, str, str]]:
    lines = (job_dir / "logs" / "requests.log").read_text(encoding="utf-8").splitlines()
    out = []
    for line in lines:
        when, event, slot, status, url, detail = line.split("\t")
        out.append((float(when), event, slot, status, url, detail))
    return out


def test_every_public_item_archived_despite_faults(faulty_job, faulty):
    assert_matches_truth(faulty_job, faulty.truth)
    warcio_check(faulty_job)


def test_transient_answers_are_retried_and_archived(faulty_job):
    log = read_log(faulty_job)
    statuses = {status for _, event, _, status, _, _ in log if event == "recv"}
    assert {"429", "503"} <= statuses
    archived = {status for (status,) in rows(faulty_job, "SELECT DISTINCT status FROM captures")}
    assert {429, 503} <= archived  # every exchange is evidence, the retried ones too
    # ... while posts and media point at the final answer
    assert not rows(faulty_job, "SELECT p.id FROM posts p JOIN captures c ON c.id = p.capture_id "
                                "WHERE c.status != 200")
    assert not rows(faulty_job, "SELECT m.url FROM media m JOIN captures c ON c.id = m.capture_id "
                                "WHERE c.status != 200")


def test_retry_after_respected(faulty_job):
    """After a 429/503 with Retry-After: S, nothing is sent to that host for S seconds
    from the moment its head arrived (the "pause" line, logged before the body is read)."""
    log = read_log(faulty_job)
    pauses = [(when, slot, float(detail)) for when, event, slot, status, _, detail in log
              if event == "pause"]
    limited = [url for _, event, _, status, url, detail in log
               if event == "recv" and status in ("429", "503") and detail]
    assert len(pauses) == len(limited)
    assert pauses
    assert all(seconds == RETRY_AFTER for _, _, seconds in pauses)
    sends = [(when, slot, url) for when, event, slot, _, url, _ in log if event == "send"]
    for start, slot, seconds in pauses:
        early = [url for when, s, url in sends if s == slot and start < when < start + seconds - 0.02]
        assert not early, f"sent during a {seconds}s Retry-After pause from {start}: {early}"
    crawl_log = (faulty_job / "logs" / "crawl.log").read_text(encoding="utf-8")
    assert "Retry-After 1.0 s" in crawl_log and "pausing host" in crawl_log


def test_attempts_counted(faulty_job):
    retried = rows(faulty_job, "SELECT count(*) FROM ledger WHERE attempts > 1")[0][0]
    assert retried > 0
    assert rows(faulty_job, "SELECT min(attempts) FROM ledger")[0][0] == 1


def test_retry_after_values_and_backoff():
    from email.utils import formatdate

    from spiders.middlewares import parse_retry_after, retry_delay

    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 0 ") == 0.0
    now = 1_800_000_000.0
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now=now) == 30.0
    assert parse_retry_after(formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert [retry_delay(n, None, 0.5, 3.0, 600) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 3.0]
    assert retry_delay(1, 30.0, 0.5, 3.0, 600) == 30.0
    assert retry_delay(1, 3600.0, 0.5, 3.0, 600) == 600
