"""Helpers shared by the crawl tests: run the real CLI, read a job back, compare to truth."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

ROOT = Path(__file__).resolve().parent.parent


def crawl_args(job_dir: Path, platform, ids: str | None = None, profile: str = "demo",
               extra: tuple[str, ...] = ()) -> list[str]:
    args = [sys.executable, str(ROOT / "crawl.py"), "crawl", profile, "--out", str(job_dir),
            "--var", f"api={platform.api}", "--var", f"media={platform.media}", "--no-extract"]
    if ids:
        args += ["--ids", ids]
    return args + list(extra)


def run_crawl(job_dir: Path, platform, ids: str | None = None, profile: str = "demo",
              extra: tuple[str, ...] = (), timeout: float = 120) -> subprocess.CompletedProcess:
    """``python crawl.py crawl ...`` as a user runs it; fails the test on a non-zero exit."""
    result = subprocess.run(crawl_args(job_dir, platform, ids, profile, extra), cwd=ROOT,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def start_crawl(job_dir: Path, platform, ids: str | None = None,
                extra: tuple[str, ...] = ()) -> subprocess.Popen:
    return subprocess.Popen(crawl_args(job_dir, platform, ids, extra=extra), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def loopback_profile(name: str, body: str) -> str:
    """Profile ``name`` scoped to its ``base`` var (a loopback test server), then ``body``."""
    return (f'name = "{name}"\ncontact = "https://example.org/operator"\n'
            '[vars]\nbase = ""\n[scope]\nallowed_hosts = ["${base}"]\n' + body)


def profile_args(profile: Path, job_dir: Path, base: str, *extra: str) -> list[str]:
    """``crawl.py crawl PROFILE`` with ``base`` set to a loopback test server."""
    return [sys.executable, str(ROOT / "crawl.py"), "crawl", str(profile), "--out", str(job_dir),
            "--var", f"base={base}", "--no-extract", *extra]


def run_profile(profile_text: str, profile: Path, job_dir: Path, base: str, *extra: str,
                timeout: float = 60) -> subprocess.CompletedProcess:
    """Write ``profile_text`` to ``profile`` and crawl it; fails the test on a non-zero exit."""
    profile.write_text(profile_text, encoding="utf-8")
    result = subprocess.run(profile_args(profile, job_dir, base, *extra), cwd=ROOT,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def lifeboat(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """``python crawl.py ARGS`` as a user runs it; the caller judges the exit code."""
    return subprocess.run([sys.executable, str(ROOT / "crawl.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def crawl_bundled(profile: str, job_dir: Path, *args: str,
                  timeout: float = 180) -> subprocess.CompletedProcess:
    """``python crawl.py crawl PROFILE --out JOB ARGS`` (extraction included); fails the
    test on a non-zero exit."""
    result = lifeboat("crawl", profile, "--out", str(job_dir), *args, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def count_events(job_dir: Path, event: str) -> int:
    log = job_dir / "logs" / "requests.log"
    if not log.is_file():
        return 0
    with open(log, encoding="utf-8") as fh:
        return sum(1 for line in fh if f"\t{event}\t" in line)


def wait_for(predicate, timeout: float = 60, step: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(step)


def rows(job_dir: Path, sql: str, params: tuple = ()) -> list[tuple]:
    db = sqlite3.connect(job_dir / "archive.db")
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def content(job_dir: Path) -> dict:
    """What a crawl saved, without run-specific ids/offsets: for comparing two crawls."""
    return {
        "posts": rows(job_dir, "SELECT id, profile, url, author, created_at, text, deleted, raw "
                               "FROM posts ORDER BY id"),
        "media": rows(job_dir, "SELECT url, sha256, content_type, size FROM media ORDER BY url"),
        "post_media": rows(job_dir, "SELECT post_id, media_url FROM post_media ORDER BY 1, 2"),
        "ledger": rows(job_dir, "SELECT profile, item_type, id, state, last_status, reason "
                                "FROM ledger ORDER BY 1, 2, 3"),
    }


def expected_state(truth_state: str) -> str:
    """lifeboat's ledger state for a /_truth.json post state (documented in the README)."""
    return "failed" if truth_state == "malformed" else truth_state


def assert_matches_truth(job_dir: Path, truth: dict) -> None:
    """Every post state, every media payload and every user as the platform says."""
    ledger = dict(rows(job_dir, "SELECT id, state FROM ledger WHERE item_type = 'post'"))
    reasons = dict(rows(job_dir, "SELECT id, reason FROM ledger WHERE item_type = 'post'"))
    assert set(ledger) == set(truth["posts"])
    wrong = {pid: (state, ledger[pid]) for pid, state in truth["posts"].items()
             if ledger[pid] != expected_state(state)}
    assert not wrong, wrong
    for pid, state in truth["posts"].items():
        if state == "malformed":
            assert reasons[pid].startswith("malformed JSON"), reasons[pid]
    posts = dict(rows(job_dir, "SELECT id, deleted FROM posts"))
    public = {pid for pid, s in truth["posts"].items() if s in ("archived", "deleted")}
    assert set(posts) == public
    assert all(posts[pid] == (truth["posts"][pid] == "deleted") for pid in public)
    media = dict(rows(job_dir, "SELECT url, sha256 FROM media"))
    assert set(media) == set(truth["media"])
    assert all(media[url] == spec["sha256"] for url, spec in truth["media"].items())
    linked = rows(job_dir, "SELECT post_id, media_url FROM post_media")
    assert sorted(linked) == sorted((pid, url) for pid, urls in truth["post_media"].items()
                                    for url in urls)
    users = dict(rows(job_dir, "SELECT id, state FROM ledger WHERE item_type = 'user'"))
    truth_users = [u if isinstance(u, str) else u["username"] for u in truth["users"]]
    assert all(users.get(user) == "archived" for user in truth_users), users


def warc_records(job_dir: Path) -> list[tuple[str, int, object]]:
    """(file name, offset, record) for every record of every WARC of the job."""
    out = []
    for path in sorted((job_dir / "warc").glob("*.warc.gz")):
        with open(path, "rb") as fh:
            iterator = ArchiveIterator(fh)
            for record in iterator:
                record.content_stream().read()
                out.append((path.name, iterator.get_record_offset(), record))
    return out


def warc_blocks(paths: list[Path]) -> list[tuple[object, bytes]]:
    """(WARC headers, record block as stored) of every record of ``paths``: warcio reads
    the block without parsing its HTTP head (``no_record_parse``)."""
    out = []
    for path in paths:
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh, no_record_parse=True):
                out.append((record.rec_headers, record.raw_stream.read()))
    return out


def warcio_check(job_dir: Path) -> None:
    files = sorted((job_dir / "warc").glob("*.warc.gz"))
    assert files
    warcio = Path(sys.executable).with_name("warcio")
    result = subprocess.run([str(warcio), "check", *map(str, files)], capture_output=True,
                            text=True, env={**os.environ})
    assert result.returncode == 0, result.stdout + result.stderr


def start_serve(job_dir: Path, log: Path,
                tiles: str | None = "/no-tiles/{z}/{x}/{y}.png") -> tuple[subprocess.Popen, str]:
    """Run `lifeboat serve DIR --port 0` (output to ``log``); return it and its URL.
    ``tiles=None`` keeps the bundled offline basemap."""
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "crawl.py"), "serve", str(job_dir), "--port", "0",
             *(["--tiles", tiles] if tiles else [])],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        for line in log.read_text().splitlines():
            if line.startswith("lifeboat serve: http://"):
                return proc, line.split(": ", 1)[1].strip()
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"lifeboat serve printed no URL: {log.read_text()}")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
