"""A damaged archive.db: every command that opens it says so in one error message (with
what to do), exits non-zero, never shows a traceback; verify runs SQLite's integrity check
and still checks the WARC files."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from crawl_helpers import ROOT, run_crawl

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def job(demo_platform, tmp_path_factory) -> Path:
    job_dir = tmp_path_factory.mktemp("damaged-db") / "job"
    run_crawl(job_dir, demo_platform, ids="1-40")
    db = sqlite3.connect(job_dir / "archive.db")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return job_dir


def damaged_copy(job: Path, where: Path, how: str) -> Path:
    copy = where / how
    shutil.copytree(job, copy)
    for leftover in copy.glob("archive.db-*"):
        leftover.unlink()
    path = copy / "archive.db"
    if how == "not-a-database":
        path.write_bytes(b"this was overwritten by something else " * 100)
    else:  # pages in the middle of the file overwritten
        data = bytearray(path.read_bytes())
        start = len(data) // 2 // 4096 * 4096
        data[start:start + 8192] = b"\x55" * 8192
        path.write_bytes(bytes(data))
    return copy


def lifeboat(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "crawl.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("how", ["not-a-database", "pages-overwritten"])
def test_every_command_reports_a_damaged_database(job, demo_platform, tmp_path, how):
    copy = damaged_copy(job, tmp_path, how)
    commands = {
        "verify": ("verify", str(copy)),
        "serve": ("serve", str(copy), "--port", "0"),
        "extract": ("extract", str(copy)),
        "crawl": ("crawl", "demo", "--out", str(copy), "--ids", "1-40", "--no-extract",
                  "--var", f"api={demo_platform.api}", "--var", f"media={demo_platform.media}"),
    }
    for name, args in commands.items():
        result = lifeboat(*args)
        said = result.stdout + result.stderr
        assert result.returncode != 0, (name, said)
        assert "Traceback" not in said, (name, said)
        assert "damaged" in said or "integrity check" in said, (name, said)
    verified = lifeboat("verify", str(copy))
    assert "PROBLEM archive.db: SQLite integrity check:" in verified.stdout
    assert "WARC files: " in verified.stdout and "digests: " in verified.stdout
    assert not [line for line in verified.stdout.splitlines()
                if line.startswith("PROBLEM") and "archive.db" not in line]
