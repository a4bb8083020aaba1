"""archive.db files made by older lifeboats upgrade once; `lifeboat serve` writes nothing.

The old databases are SQL dumps of what older lifeboat commits made (tests/fixtures/old-jobs/
README.md says which); the served demo job is a real crawl of the demo platform.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import stat
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import sqlite_utils

from archive.schema import MIGRATIONS, open_db
from archive.times import utc_time
from crawl_helpers import lifeboat, start_serve, stop
from datasette_job import crawl_demo

pytestmark = pytest.mark.timeout(300)

OLD_JOBS = sorted((Path(__file__).parent / "fixtures" / "old-jobs").glob("*.sql"))
EVERY_MIGRATION = [m.name for m in MIGRATIONS.pending(sqlite_utils.Database(memory=True))]
KEPT_TABLES = ("posts", "media", "post_media", "ledger", "captures", "media_metadata")


def old_job(dump: Path, job_dir: Path) -> Path:
    """A job directory whose archive.db is ``dump`` as the older lifeboat left it."""
    job_dir.mkdir(parents=True)
    conn = sqlite3.connect(job_dir / "archive.db")
    conn.executescript(dump.read_text(encoding="utf-8"))
    conn.close()
    return job_dir


def files(job_dir: Path) -> dict[str, tuple[str, int]]:
    """SHA-256 and mtime of every file under ``job_dir``."""
    return {str(p.relative_to(job_dir)): (hashlib.sha256(p.read_bytes()).hexdigest(),
                                          p.stat().st_mtime_ns)
            for p in sorted(job_dir.rglob("*")) if p.is_file()}


def read(db_path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def rows(db_path: Path, table: str, columns: list[str]) -> list[tuple]:
    return read(db_path, f"SELECT {', '.join(columns)} FROM {table} ORDER BY rowid")


def columns(db_path: Path, table: str) -> list[str]:
    return [r[1] for r in read(db_path, f"PRAGMA table_info({table})")]


def a_word(db_path: Path) -> tuple[str, str]:
    """A post's id and a word of its text (letters only, 5 or more)."""
    for post_id, text in read(db_path, "SELECT id, text FROM posts WHERE text IS NOT NULL"):
        words = re.findall(r"\b[a-zA-Z]{5,}\b", text)
        if words:
            return post_id, words[0]
    raise AssertionError("no post has a word to search for")


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read().decode("utf-8", "replace")


def searched(base: str, word: str) -> list[str]:
    status, body = get(f"{base}/archive/posts.json?_search={urllib.parse.quote(word)}"
                       "&_shape=objects")
    assert status == 200
    return [row["id"] for row in json.loads(body)["rows"]]


@pytest.mark.parametrize("dump", OLD_JOBS, ids=[d.stem for d in OLD_JOBS])
def test_an_older_job_upgrades_once_and_keeps_every_row(dump, tmp_path):
    job_dir = old_job(dump, tmp_path / "job")
    db_path = job_dir / "archive.db"
    before = {t: (columns(db_path, t), rows(db_path, t, columns(db_path, t)))
              for t in KEPT_TABLES}
    zoned = read(db_path, "SELECT count(*) FROM media_metadata WHERE captured_at LIKE '%+__:__'"
                          " OR captured_at LIKE '%-__:__' OR captured_at LIKE '%Z'")[0][0]
    assert zoned > 0 and before["posts"][1]

    result = lifeboat("upgrade", str(job_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"applied {', '.join(EVERY_MIGRATION)}" in result.stdout

    for table, (old_columns, old_rows) in before.items():
        assert rows(db_path, table, old_columns) == old_rows, table
    post_id, word = a_word(db_path)
    hits = read(db_path, "SELECT p.id FROM posts_fts JOIN posts p ON p.rowid = posts_fts.rowid "
                         "WHERE posts_fts MATCH ?", (word,))
    assert (post_id,) in hits
    geotagged = read(db_path, "SELECT count(*) FROM media_metadata mm WHERE latitude IS NOT NULL"
                              " AND sha256 IN (SELECT sha256 FROM media)")[0][0]
    assert geotagged > 0
    assert read(db_path, "SELECT count(*) FROM geotagged_media")[0][0] == geotagged
    assert read(db_path, "SELECT count(*) FROM media_export")[0][0] == \
        read(db_path, "SELECT count(*) FROM post_media")[0][0]
    times = read(db_path, "SELECT captured_at, captured_at_utc FROM media_metadata")
    assert [utc for _, utc in times] == [utc_time(at) for at, _ in times]
    assert sum(utc is not None for _, utc in times) == zoned

    db = open_db(db_path)
    assert db.applied == []
    db.close()
    again = lifeboat("upgrade", str(job_dir))
    assert again.returncode == 0 and "is current; nothing to apply" in again.stdout
    assert read(db_path, "SELECT count(*) FROM _sqlite_migrations")[0][0] == len(EVERY_MIGRATION)


@pytest.mark.parametrize("dump", OLD_JOBS, ids=[d.stem for d in OLD_JOBS])
def test_serve_refuses_an_older_job_without_writing_then_serves_it_upgraded(dump, tmp_path):
    job_dir = old_job(dump, tmp_path / "job")
    untouched = files(job_dir)
    refused = lifeboat("serve", str(job_dir), "--port", "0")
    said = (refused.stdout + refused.stderr).strip()
    assert refused.returncode != 0 and "Traceback" not in said
    assert len(said.splitlines()) == 1 and f"lifeboat upgrade {job_dir}" in said, said
    exported = lifeboat("export", str(job_dir), "-o", str(tmp_path / "out.csv"))
    assert exported.returncode != 0 and f"lifeboat upgrade {job_dir}" in exported.stderr
    assert files(job_dir) == untouched and not (tmp_path / "out.csv").exists()

    assert lifeboat("upgrade", str(job_dir)).returncode == 0
    post_id, word = a_word(job_dir / "archive.db")
    proc, url = start_serve(job_dir, tmp_path / "serve.log")
    try:
        assert post_id in searched(url.rstrip("/"), word)
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def demo_job(demo_platform, tmp_path_factory) -> Path:
    return crawl_demo(tmp_path_factory.mktemp("serve-ro") / "job", demo_platform, ids="1-60")


def visit_everything(base: str, db_path: Path) -> None:
    """The pages an investigator opens: home, posts, a search, the map, CSV, evidence."""
    post_id, word = a_word(db_path)
    assert post_id in searched(base, word)
    (sha256,) = read(db_path, "SELECT sha256 FROM geotagged_media LIMIT 1")[0]
    for path in ("/", "/archive", "/archive/posts", f"/archive/posts?_search={word}",
                 "/archive/geotagged_media", "/archive/geotagged_media.json",
                 "/archive/media_export.csv?_size=max", "/-/csv/media_near_point?lat=0&lon=0&km=1",
                 "/-/coverage", "/-/timeline", f"/-/evidence/{sha256}",
                 f"/-/media/{sha256}", f"/-/thumb/{sha256}"):
        status, body = get(base + path)
        assert status == 200 and body, path
    status, body = get(f"{base}/archive/geotagged_media.json?_shape=objects")
    assert status == 200 and sha256 in body


def serve_and_visit(job_dir: Path, log: Path) -> None:
    """Serve ``job_dir``, visit everything, stop: not a file under it may change."""
    untouched = files(job_dir)
    proc, url = start_serve(job_dir, log)
    try:
        visit_everything(url.rstrip("/"), job_dir / "archive.db")
    finally:
        stop(proc)
    assert files(job_dir) == untouched


def test_serve_writes_nothing(demo_job, tmp_path):
    assert not any(".db-" in name for name in files(demo_job))
    serve_and_visit(demo_job, tmp_path / "serve.log")


def test_a_read_only_job_serves_search_and_the_map(demo_job, tmp_path):
    made = [demo_job, *demo_job.rglob("*")]
    modes = {p: p.stat().st_mode for p in made}
    for p in made:
        p.chmod(modes[p] & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        serve_and_visit(demo_job, tmp_path / "serve.log")
    finally:
        for p in made:
            p.chmod(modes[p])
