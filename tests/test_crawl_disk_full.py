"""Disk full: a real crawl on a small tmpfs stops at once with one clear line, leaves no
half-written record or row, and resumes once there is room again."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from crawl_helpers import (ROOT, assert_matches_truth, crawl_args, rows, run_crawl,
                           warcio_check)

pytestmark = pytest.mark.timeout(240)


def _mount_small_disk(where, size: str) -> str | None:
    """Mount a tmpfs of ``size`` at ``where``; None, or why it could not be done."""
    if os.geteuid() != 0:
        return "mounting a small tmpfs needs root (the disk-full test runs as root in CI)"
    if shutil.which("mount") is None:
        return "no mount command"
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        return f"mount -t tmpfs refused here: {done.stderr.strip()}"
    return None


@pytest.fixture
def small_disk(tmp_path):
    where = tmp_path / "disk"
    why = _mount_small_disk(where, "1m")
    if why:
        pytest.skip(why)
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "crawl.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_disk_full_stops_at_once_with_one_line_and_resumes(small_disk, demo_platform):
    job = small_disk / "job"
    full = subprocess.run(crawl_args(job, demo_platform, ids="1-200"), cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert full.returncode == 1, full.stdout + full.stderr
    said = [line for line in full.stderr.replace("\r", "\n").splitlines()
            if line.strip() and not line.startswith("lifeboat demo:")]  # the progress bar
    assert len(said) == 1, said[:20]
    assert said[0].startswith("lifeboat: the disk is full") and "rerun the same command" in said[0]
    assert "Traceback" not in full.stdout + full.stderr
    walked = rows(job, "SELECT count(*) FROM ledger WHERE item_type = 'post' AND state != 'queued'")
    assert 0 < walked[0][0] < 200

    # room again: nothing half-written was left behind, then the same command finishes
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    assert "rerun the same command to resume" in cli("status", str(job)).stdout
    warcio_check(job)
    checked = cli("verify", str(job))
    problems = [line for line in checked.stdout.splitlines() if line.startswith("PROBLEM")
                and "not a terminal state" not in line]  # IDs queued when it stopped
    assert not problems, checked.stdout
    run_crawl(job, demo_platform, ids="1-200")
    assert_matches_truth(job, demo_platform.truth)
    assert "OK: no problems found" in cli("verify", str(job)).stdout
