"""Replay a packed demo crawl in pywb, installed in its own virtual environment.

pywb pins an old redis client that conflicts with scrapy-redis, so it lives in a cached venv
(``~/.cache/lifeboat-pywb-venv/``, keyed by pywb and Python version; the first run installs
it from PyPI in about 10 seconds). pywb reads the job's own ``indexes/index.cdxj`` and WARCs
and serves them on a loopback port; raw (``id_``) replay must give back the exact bytes the
demo platform serves, including for URLs archived as revisit records.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from archive.cdxj import read_cdxj
from crawl import cli
from crawl_helpers import rows, run_crawl

PYWB_VERSION = "2.10.0"
COLLECTION = "lifeboat"


def pywb_venv() -> Path:
    """A virtual environment with pywb, built once and reused across runs."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    root = cache / "lifeboat-pywb-venv"
    venv = root / f"pywb-{PYWB_VERSION}-py{sys.version_info[0]}.{sys.version_info[1]}"
    ready = venv / ".lifeboat-ready"
    if ready.is_file():
        return venv
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder at a time (pytest-xdist workers)
        if ready.is_file():
            return venv
        shutil.rmtree(venv, ignore_errors=True)  # a half-built one from an interrupted run
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        result = subprocess.run([str(venv / "bin" / "pip"), "install", "-q",
                                 f"pywb=={PYWB_VERSION}"], capture_output=True, text=True,
                                timeout=600)
        if result.returncode != 0:
            pytest.fail(f"pip install pywb=={PYWB_VERSION} failed (is PyPI reachable?):\n"
                        f"{result.stdout}{result.stderr}")
        ready.touch()
    return venv


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


@pytest.fixture(scope="module")
def job(tmp_path_factory, demo_platform) -> Path:
    """A real crawl of the demo platform (with revisits) over several rotated WARC files,
    packed by `lifeboat pack`."""
    job_dir = tmp_path_factory.mktemp("replay") / "job"
    run_crawl(job_dir, demo_platform, ids="1-60", extra=("--warc-max-size", "100KB"))
    assert len(list((job_dir / "warc").glob("*.warc.gz"))) > 1
    result = CliRunner().invoke(cli, ["pack", str(job_dir)])
    assert result.exit_code == 0, result.output
    return job_dir


@contextlib.contextmanager
def wayback_in(home: Path) -> Iterator[str]:
    """pywb's `wayback` on a loopback port, run in ``home`` (its config.yaml or
    collections); yields its base URL and stops it afterwards."""
    venv = pywb_venv()
    port = free_port()
    log = open(home / "wayback.log", "wb")
    server = subprocess.Popen([str(venv / "bin" / "wayback"), "-b", "127.0.0.1", "-p", str(port)],
                              cwd=home, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (home / "wayback.log").read_text()
            try:
                fetch(base + "/")
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, (home / "wayback.log").read_text()
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


@pytest.fixture(scope="module")
def wayback(job, tmp_path_factory) -> Iterator[str]:
    """pywb's `wayback` on a loopback port over the job's CDXJ and WARCs; its base URL."""
    home = tmp_path_factory.mktemp("pywb")
    (home / "config.yaml").write_text(
        f"collections:\n  {COLLECTION}:\n"
        f"    index_paths: {job / 'indexes' / 'index.cdxj'}\n"
        f"    archive_paths: {job / 'warc'}/\n", encoding="utf-8")
    with wayback_in(home) as base:
        yield base


def replay_url(wayback: str, job: Path, capture_url: str) -> str:
    """pywb's raw-replay URL of a capture, at the timestamp the index gives it."""
    name, offset = rows(job, "SELECT warc_filename, warc_offset FROM captures WHERE url = ? "
                             "ORDER BY id LIMIT 1", (capture_url,))[0]
    stamp = {ln.position: ln.timestamp for ln in read_cdxj(job / "indexes" / "index.cdxj")}
    return f"{wayback}/{COLLECTION}/{stamp[(name, offset)]}id_/{capture_url}"


def test_posts_replay_byte_identical(wayback, job):
    urls = [u for (u,) in rows(job, "SELECT url FROM posts WHERE NOT deleted ORDER BY id")]
    assert len(urls) > 10
    for url in urls[:: max(1, len(urls) // 8)]:
        assert fetch(replay_url(wayback, job, url)) == fetch(url), url


def test_media_replay_byte_identical(wayback, job, demo_platform):
    media = rows(job, """SELECT m.url, m.content_type FROM media m
                         JOIN captures c ON c.id = m.capture_id
                         WHERE c.warc_type = 'response' ORDER BY m.url""")
    kinds = {}
    for url, content_type in media:
        kinds.setdefault(content_type, url)
    assert {"image/jpeg", "video/mp4"} <= set(kinds), kinds
    for url in kinds.values():
        body = fetch(replay_url(wayback, job, url))
        assert body == fetch(url), url
        assert hashlib.sha256(body).hexdigest() == demo_platform.truth["media"][url]["sha256"]


def test_revisited_urls_replay_the_full_payload(wayback, job, demo_platform):
    """Payloads stored once: a URL archived as a revisit still replays in full."""
    revisits = rows(job, """SELECT r.url, o.url, r.warc_filename != o.warc_filename
                            FROM captures r JOIN captures o ON o.warc_record_id = r.refers_to
                            WHERE r.warc_type = 'revisit' AND r.url LIKE '%/media/%'""")
    assert revisits, "the demo crawl should hold revisit records for re-uploaded media"
    assert any(other_file for _, _, other_file in revisits)  # resolved across WARC files
    stored = rows(job, "SELECT count(DISTINCT payload_sha256), count(*) FROM captures "
                       "WHERE warc_type = 'response' AND url LIKE '%/media/%'")[0]
    assert stored[0] == stored[1]  # each media payload is in the WARC once
    for url, original, _ in revisits:
        body = fetch(replay_url(wayback, job, url))
        assert len(body) > 0 and body == fetch(url) == fetch(original), url
        assert hashlib.sha256(body).hexdigest() == demo_platform.truth["media"][url]["sha256"]


def test_rotated_job_verifies(job):
    """verify follows revisits and captures across the job's rotated WARC files."""
    result = CliRunner().invoke(cli, ["verify", str(job)])
    files = len(list((job / "warc").glob("*.warc.gz")))
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"WARC files: {files} ")
