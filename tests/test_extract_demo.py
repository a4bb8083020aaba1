"""The demo platform's media, archived by `wget --warc-file`, then `lifeboat extract --db`:
every GPS position and capture time the platform wrote is read back (within 1e-6)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import sqlite_utils
from click.testing import CliRunner

from crawl import cli


@pytest.fixture(scope="module")
def demo_media_rows(demo_platform, tmp_path_factory) -> dict[str, dict]:
    """Media URL -> (media JOIN media_metadata) row, from a wget WARC of the truth's media."""
    if shutil.which("wget") is None:
        pytest.skip("wget is not installed (./bootstrap.sh test installs it)")
    folder = tmp_path_factory.mktemp("demo-wget")
    (folder / "urls.txt").write_text("\n".join(demo_platform.truth["media"]) + "\n")
    subprocess.run(["wget", "--quiet", "--tries=3", "--warc-file", str(folder / "demo"),
                    "-O", str(folder / "download"), "-i", str(folder / "urls.txt")],
                   cwd=folder, timeout=120, check=True)
    db_path = folder / "demo.db"
    result = CliRunner().invoke(cli, ["extract", "--db", str(db_path),
                                      str(folder / "demo.warc.gz")])
    assert result.exit_code == 0, result.output
    db = sqlite_utils.Database(db_path)
    rows = db.query("SELECT m.url, m.sha256 AS media_sha256, mm.* FROM media m "
                    "JOIN media_metadata mm USING (sha256)")
    return {row["url"]: row for row in rows}


def instant(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_every_demo_media_url_is_extracted(demo_platform, demo_media_rows):
    truth = demo_platform.truth["media"]
    assert set(demo_media_rows) == set(truth)
    for url, expected in truth.items():
        assert demo_media_rows[url]["sha256"] == expected["sha256"], url
        assert demo_media_rows[url]["error"] is None, url


def test_positions_and_times_match_the_truth(demo_platform, demo_media_rows):
    for url, expected in demo_platform.truth["media"].items():
        row = demo_media_rows[url]
        for column in ("latitude", "longitude", "altitude"):
            if expected[column] is None:
                assert row[column] is None, (url, column)
            else:
                assert abs(row[column] - expected[column]) < 1e-6, (url, column, row[column])
        if expected["captured_at"] is None:
            assert row["captured_at"] is None, url
        else:  # the file keeps local time + offset; the same instant as the UTC truth
            assert abs(instant(row["captured_at"]) - instant(expected["captured_at"])) < 1e-6, (
                url, row["captured_at"], expected["captured_at"])


def test_the_hard_cases_are_present_and_right(demo_platform, demo_media_rows):
    truth = demo_platform.truth["media"]
    kinds = {(v["kind"], v["variant"]) for v in truth.values()}
    assert {("photo", "gps"), ("video", "gps"), ("photo", "nogps")} <= kinds
    south_west = [u for u, v in truth.items()
                  if v["latitude"] is not None and (v["latitude"] < 0 or v["longitude"] < 0)]
    below_sea = [u for u, v in truth.items() if (v["altitude"] or 0) < 0]
    assert south_west and below_sea
    assert all(demo_media_rows[u]["altitude"] < 0 for u in below_sea)
    videos = [u for u, v in truth.items() if v["kind"] == "video" and v["variant"] == "gps"]
    assert all(demo_media_rows[u]["duration_s"] > 0 for u in videos)
    assert all(demo_media_rows[u]["mime_type"] == "video/mp4" for u in videos)
    for url, expected in truth.items():
        if expected.get("make"):
            assert demo_media_rows[url]["make"] == expected["make"], url


def test_identical_payloads_are_extracted_once(demo_media_rows):
    by_sha: dict[str, list[str]] = {}
    for url, row in demo_media_rows.items():
        by_sha.setdefault(row["sha256"], []).append(url)
    assert any(len(urls) > 1 for urls in by_sha.values())  # re-uploads under new URLs
    assert len({row["exiftool"] for row in demo_media_rows.values()}) == len(by_sha)


def test_a_crawl_ends_with_its_media_extracted(demo_platform, tmp_path):
    """`lifeboat crawl` extracts what it archived (job mode: revisits read via originals)."""
    job = tmp_path / "job"
    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, str(root / "crawl.py"), "crawl", "demo", "--out", str(job),
                    "--var", f"api={demo_platform.api}", "--var", f"media={demo_platform.media}",
                    "--ids", "1-200"], check=True, capture_output=True, timeout=240)
    db = sqlite_utils.Database(job / "archive.db")
    rows = {row["url"]: row for row in db.query(
        "SELECT m.url, c.warc_type, mm.* FROM media m JOIN captures c ON c.id = m.capture_id "
        "LEFT JOIN media_metadata mm USING (sha256)")}
    truth = demo_platform.truth["media"]
    assert set(rows) == set(truth)
    assert any(row["warc_type"] == "revisit" for row in rows.values())
    for url, row in rows.items():
        assert row["exiftool_version"] and row["error"] is None, url
        for column in ("latitude", "longitude", "altitude"):
            if truth[url][column] is None:
                assert row[column] is None, (url, column)
            else:
                assert abs(row[column] - truth[url][column]) < 1e-6, (url, column)


def test_a_crawl_without_exiftool_keeps_the_crawl_and_says_how_to_extract(demo_platform,
                                                                          tmp_path):
    """No ExifTool on PATH: the crawl is saved and the error says how to finish the job."""
    job = tmp_path / "job"
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, str(root / "crawl.py"), "crawl", "demo", "--out",
                           str(job), "--var", f"api={demo_platform.api}", "--var",
                           f"media={demo_platform.media}", "--ids", "1-5"],
                          capture_output=True, text=True, timeout=240,
                          env={"PATH": str(tmp_path), "HOME": str(tmp_path)})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "libimage-exiftool-perl" in done.stderr
    assert f"lifeboat extract {job}" in done.stderr
    db = sqlite_utils.Database(job / "archive.db")
    assert db["ledger"].count >= 5 and db["media"].count > 0
    assert db["media_metadata"].count == 0
