"""Ctrl-C and SIGTERM: a real crawl subprocess gets a real signal, stops cleanly, says where
it stopped and exits 130 / 143; `status` judges against the job's range meanwhile and after;
rerunning the command finishes the job as if it had never stopped."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from datetime import datetime

import pytest

from crawl_helpers import (ROOT, assert_matches_truth, count_events, crawl_args, rows,
                           run_crawl, wait_for, warcio_check)

pytestmark = pytest.mark.timeout(240)

POSTS = 300
STOP_LINE = re.compile(r"^stopped at ID (\d+) of 1\.\.300: rerun the same command to resume$",
                       re.M)


@pytest.fixture(scope="module")
def slow_platform(demo_factory):
    return demo_factory(posts=POSTS, seed=21, latency_ms=40)


def status(job_dir) -> str:
    result = subprocess.run([sys.executable, str(ROOT / "crawl.py"), "status", str(job_dir)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def not_yet_walked(text: str) -> int:
    found = re.search(r"^demo post: IDs 1\.\.300: (\d+) walked, not yet walked: (\d+)$", text,
                      re.M)
    assert found, text
    assert int(found[1]) + int(found[2]) == POSTS
    return int(found[2])


def interrupt(job_dir, platform, signum: int, after: int) -> subprocess.CompletedProcess:
    """Start the crawl, let ``after`` answers come in, send ``signum``, wait for the exit."""
    process = subprocess.Popen(crawl_args(job_dir, platform, ids=f"1-{POSTS}",
                                          extra=("--concurrency", "2")),
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        wait_for(lambda: count_events(job_dir, "recv") >= after or process.poll() is not None)
        assert process.poll() is None, "the crawl ended before the signal"
        running = status(job_dir)
        process.send_signal(signum)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    return subprocess.CompletedProcess(process.args, process.returncode, out,
                                       err + "\n--- status while running ---\n" + running)


def test_sigint_stops_cleanly_says_where_and_resumes(slow_platform, tmp_path):
    job = tmp_path / "job"
    stopped = interrupt(job, slow_platform, signal.SIGINT, after=40)
    assert stopped.returncode == 130, stopped.stdout + stopped.stderr
    line = STOP_LINE.search(stopped.stderr)
    assert line, stopped.stderr
    during = stopped.stderr.split("--- status while running ---\n")[1]
    assert "a crawl is running on" in during
    assert not_yet_walked(during) > 0

    after = status(job)
    assert "a crawl is running" not in after
    assert "was stopped by SIGINT: rerun the same command to resume" in after
    left = not_yet_walked(after)
    assert 0 < left < POSTS
    # the rerun picks up at the first ID not answered; every ID before it is in the ledger
    assert rows(job, "SELECT count(*) FROM ledger WHERE item_type = ? AND CAST(id AS INTEGER) < ?",
                ("post", int(line[1])))[0][0] == int(line[1]) - 1
    assert not rows(job, "SELECT id FROM ledger WHERE item_type = ? AND id = ?", ("post", line[1]))
    # a clean stop: nothing in a state a clean stop leaves behind half-done
    assert not rows(job, "SELECT * FROM ledger WHERE state NOT IN "
                         "('archived', 'missing', 'deleted', 'forbidden', 'failed', 'queued')")

    time.sleep(3)  # idle between the two runs: not crawling time
    run_crawl(job, slow_platform, ids=f"1-{POSTS}")
    assert_matches_truth(job, slow_platform.truth)
    warcio_check(job)
    final = status(job)
    assert not_yet_walked(final) == 0
    rate = re.search(r"^rate: ([\d.]+) IDs/s over (\d+) s of crawling \(2 runs; time between "
                     r"runs left out\)$", final, re.M)
    assert rate, final
    first, last = rows(job, "SELECT min(updated_at), max(updated_at) FROM ledger")[0]
    span = (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds()
    assert int(rate[2]) <= span - 2.5, (rate[0], span)


def test_sigterm_exits_143_with_the_same_line(slow_platform, tmp_path):
    job = tmp_path / "job"
    stopped = interrupt(job, slow_platform, signal.SIGTERM, after=20)
    assert stopped.returncode == 143, stopped.stdout + stopped.stderr
    assert STOP_LINE.search(stopped.stderr), stopped.stderr
    assert "was stopped by SIGTERM" in status(job)
