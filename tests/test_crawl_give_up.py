"""An answer that stays malformed is not fetched on every resume forever: after 3 attempts
it is left alone (status says so) until `lifeboat crawl --retry-failed`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from crawl_helpers import ROOT, rows, run_crawl

pytestmark = pytest.mark.timeout(240)


def sends(job, urls: set[str]) -> int:
    lines = (job / "logs" / "requests.log").read_text(encoding="utf-8").splitlines()
    return sum(1 for line in lines if line.split("\t")[1] == "send"
               and line.split("\t")[4] in urls)


def test_malformed_answers_given_up_after_three_attempts(demo_platform, tmp_path):
    malformed = sorted(int(pid) for pid, state in demo_platform.truth["posts"].items()
                       if state == "malformed" and int(pid) <= 80)
    assert malformed
    urls = {f"{demo_platform.api}/api/v1/posts/{pid}" for pid in malformed}
    job = tmp_path / "job"
    fetched = []
    for _ in range(4):
        before = sends(job, urls) if (job / "logs" / "requests.log").exists() else 0
        run_crawl(job, demo_platform, ids="1-80")
        fetched.append(sends(job, urls) - before)
    assert fetched == [len(urls)] * 3 + [0], fetched
    assert {a for a, in rows(job, "SELECT attempts FROM ledger WHERE item_type = 'post' AND "
                                  "state = 'failed'")} == {3}
    status = subprocess.run([sys.executable, str(ROOT / "crawl.py"), "status", str(job)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    assert f"{len(urls)} failed IDs answered unusably 3 times or more are no longer fetched " \
           "again; lifeboat crawl --retry-failed fetches them" in status

    before = sends(job, urls)
    run_crawl(job, demo_platform, ids="1-80", extra=("--retry-failed",))
    assert sends(job, urls) - before == len(urls)
    assert {a for a, in rows(job, "SELECT attempts FROM ledger WHERE item_type = 'post' AND "
                                  "state = 'failed'")} == {4}
