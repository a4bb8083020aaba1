"""`lifeboat verify` on a real crawl of the demo platform, untouched and damaged on copies."""

from __future__ import annotations

import gzip
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from crawl import cli
from crawl_helpers import rows, run_crawl

IDS = "1-60"


@pytest.fixture(scope="module")
def job(tmp_path_factory, demo_platform) -> Path:
    """One real crawl (API and media) of the demo platform, never modified."""
    job_dir = tmp_path_factory.mktemp("verify") / "job"
    run_crawl(job_dir, demo_platform, ids=IDS)
    return job_dir


@pytest.fixture
def damaged(job, tmp_path) -> Path:
    """A copy of the job to break."""
    return Path(shutil.copytree(job, tmp_path / "job"))


def verify(job_dir: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["verify", str(job_dir)])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def problems(output: str) -> list[tuple[str, int | None, str]]:
    """(file, offset, message) of each PROBLEM line."""
    out = []
    for line in output.splitlines():
        match = re.match(r"PROBLEM (\S+?)(?: @ offset (\d+))?: (.*)", line)
        if match:
            out.append((match[1], int(match[2]) if match[2] else None, match[3]))
    return out


def biggest_media_record(job_dir: Path) -> tuple[Path, int, int, str]:
    """(WARC path, offset, length, URL) of the largest media response record."""
    name, offset, length, url = rows(job_dir, """
        SELECT c.warc_filename, c.warc_offset, c.warc_length, c.url FROM captures c
        JOIN media m ON m.capture_id = c.id WHERE c.warc_type = 'response'
        ORDER BY c.warc_length DESC LIMIT 1""")[0]
    return job_dir / "warc" / name, offset, length, url


def test_untouched_job_verifies(job):
    code, output = verify(job)
    assert code == 0, output
    assert output.rstrip().endswith("OK: no problems found")
    captures, posts, media = (rows(job, f"SELECT count(*) FROM {t}")[0][0]
                              for t in ("captures", "posts", "media"))
    assert f"{captures} captures, {posts} posts, {media} media" in output
    revisits = rows(job, "SELECT count(*) FROM captures WHERE warc_type = 'revisit'")[0][0]
    assert revisits > 0 and f"{revisits} revisit" in output  # dedup records are checked too
    assert re.search(r"digests: [1-9]\d* passed, 0 failed", output)


def test_flipped_payload_byte(damaged):
    path, offset, length, url = biggest_media_record(damaged)
    data = bytearray(path.read_bytes())
    data[offset + length // 2] ^= 0x01
    path.write_bytes(data)
    code, output = verify(damaged)
    assert code == 1
    found = problems(output)
    name = f"warc/{path.name}"
    assert (name, offset) in {(f, o) for f, o, _ in found}, output
    assert any(url in m for f, o, m in found if o == offset), output
    # warcio resumes at the next record: nothing before the flipped byte is blamed
    assert all(o is None or o >= offset for _, o, _ in found), output
    assert output.rstrip().endswith(f"{len(found)} problem(s) found")


def test_flipped_byte_inside_a_payload(damaged):
    """The same flip made before compression: gzip is fine, the digests are not."""
    path, offset, length, url = biggest_media_record(damaged)
    data = path.read_bytes()
    record = bytearray(gzip.decompress(data[offset:offset + length]))
    record[-200] ^= 0x01  # the payload's end (a record closes with only 4 bytes of CRLFs)
    path.write_bytes(data[:offset] + gzip.compress(bytes(record)) + data[offset + length:])
    code, output = verify(damaged)
    assert code == 1
    here = [m for f, o, m in problems(output) if (f, o) == (f"warc/{path.name}", offset)]
    assert any(m.startswith("block digest failed") for m in here), output
    assert any(m.startswith("payload digest failed") for m in here), output
    assert any(url in m and "payload SHA-256" in m for m in here), output


def test_truncated_file(damaged):
    path, offset, length, url = biggest_media_record(damaged)
    path.write_bytes(path.read_bytes()[:offset + length // 2])
    code, output = verify(damaged)
    assert code == 1
    found = problems(output)
    at_cut = [m for f, o, m in found if (f, o) == (f"warc/{path.name}", offset)]
    assert any("truncated" in m for m in at_cut), output
    # the records cut off after it are missing, each named at the offset the database has
    lost = rows(damaged, "SELECT warc_offset FROM captures WHERE warc_filename = ? "
                         "AND warc_offset > ?", (path.name, offset))
    assert lost and {o for (o,) in lost} <= {o for _, o, _ in found}


def test_deleted_record(damaged):
    path, offset, length, url = biggest_media_record(damaged)
    data = path.read_bytes()
    path.write_bytes(data[:offset] + data[offset + length:])
    code, output = verify(damaged)
    assert code == 1
    found = problems(output)
    assert any(o == offset and url in m and "in no WARC" in m for _, o, m in found), output
    # every later capture is reported as moved, with its new place
    moved = [m for _, o, m in found if o is not None and o > offset and "not at this offset" in m]
    later = rows(damaged, "SELECT count(*) FROM captures WHERE warc_filename = ? "
                          "AND warc_offset > ?", (path.name, offset))[0][0]
    assert len(moved) == later


def test_database_inconsistencies(damaged):
    db = sqlite3.connect(damaged / "archive.db")
    with db:
        post_id = db.execute("SELECT id FROM posts WHERE deleted = 0 ORDER BY id LIMIT 1"
                             ).fetchone()[0]
        db.execute("UPDATE ledger SET state = 'missing' WHERE item_type = 'post' AND id = ?",
                   (post_id,))
        db.execute("INSERT INTO ledger (profile, item_type, id, state) "
                   "VALUES ('demo', 'post', '9999', 'queued')")
        media_url = db.execute("SELECT url FROM media ORDER BY url LIMIT 1").fetchone()[0]
        db.execute("UPDATE media SET capture_id = NULL WHERE url = ?", (media_url,))
        capture = db.execute("SELECT id, warc_filename, warc_offset FROM captures "
                             "WHERE warc_type = 'response' ORDER BY id DESC LIMIT 1").fetchone()
        db.execute("UPDATE captures SET payload_sha256 = ? WHERE id = ?", ("0" * 64, capture[0]))
    db.close()
    code, output = verify(damaged)
    assert code == 1
    found = problems(output)
    messages = [m for _, _, m in found]
    assert any(f"post {post_id} is missing in the ledger but archived" in m for m in messages)
    assert any("post 9999" in m and "'queued', not a terminal state" in m for m in messages)
    assert any(f"media {media_url} has no capture" in m for m in messages)
    assert any(f"capture {capture[0]} " in m and "payload SHA-256" in m and o == capture[2]
               for _, o, m in found), output
    assert len(found) == 4, output


def test_broken_original_breaks_its_revisits(damaged):
    """A revisit's payload lives in the original record: losing it is reported for both."""
    original, revisit_offset = rows(damaged, """
        SELECT o.warc_offset, r.warc_offset FROM captures r
        JOIN captures o ON o.warc_record_id = r.refers_to
        WHERE r.warc_type = 'revisit' LIMIT 1""")[0]
    name = rows(damaged, "SELECT warc_filename FROM captures WHERE warc_offset = ?",
                (original,))[0][0]
    path = damaged / "warc" / name
    data = bytearray(path.read_bytes())
    data[original + 60] ^= 0xFF
    path.write_bytes(data)
    code, output = verify(damaged)
    assert code == 1
    offsets = {o for _, o, _ in problems(output)}
    assert {original, revisit_offset} <= offsets, output


def test_empty_directory_is_an_error(tmp_path):
    code, output = verify(tmp_path)
    assert code == 1
    assert "No WARC files" in output


def test_progress_bar_on_request(job, capsys):
    """Big archives (>= 64 MB) get a tqdm bar over the WARC bytes; here it is forced on."""
    from archive.verify import verify_job

    report = verify_job(job, progress=True)
    assert report.ok
    bar = capsys.readouterr().err
    assert "verify: 100%" in bar
