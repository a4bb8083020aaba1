"""`lifeboat export`: one row per (post, media) pair, GPS equal to media_metadata."""

from __future__ import annotations

import csv
import json
import sqlite3

import pytest
from click.testing import CliRunner

from crawl import cli
from datasette_job import build_job
from cli.export import run_export_command
from datasette_plugins.queries import EXPORT_COLUMNS


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    return build_job(tmp / "job")


def pairs_and_gps(db_path):
    conn = sqlite3.connect(db_path)
    try:
        pairs = set(conn.execute("select post_id, media_url from post_media"))
        gps = {sha: (lat, lon, alt) for sha, lat, lon, alt in conn.execute(
            "select sha256, latitude, longitude, altitude from media_metadata")}
        return pairs, gps
    finally:
        conn.close()


def as_float(value):
    return None if value in ("", None) else float(value)


def test_csv_export_has_one_row_per_post_media_pair_with_gps(job, tmp_path):
    out = tmp_path / "media.csv"
    assert run_export_command(job.job_dir, "csv", out) > 0
    with open(out, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == EXPORT_COLUMNS
        rows = list(reader)
    pairs, gps = pairs_and_gps(job.db_path)
    assert len(rows) == len(pairs)
    assert {(r["post_id"], r["media_url"]) for r in rows} == pairs
    for row in rows:
        expected = gps.get(row["sha256"], (None, None, None))
        got = (as_float(row["latitude"]), as_float(row["longitude"]),
               as_float(row["altitude"]))
        assert got == expected, row
        assert row["warc_filename"] and int(row["warc_offset"]) >= 0


def test_jsonl_export_via_cli(job, tmp_path):
    out = tmp_path / "media.jsonl"
    result = CliRunner().invoke(cli, ["export", str(job.job_dir), "--format", "jsonl",
                                      "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    pairs, gps = pairs_and_gps(job.db_path)
    assert len(rows) == len(pairs)
    geotagged = [r for r in rows if r["latitude"] is not None]
    assert geotagged and all(
        (r["latitude"], r["longitude"], r["altitude"]) == gps[r["sha256"]] for r in geotagged)
    # the WARC location leads to the exact media bytes
    from archive.reader import read_payload
    for row in rows:
        payload = read_payload(job.job_dir / "warc" / row["warc_filename"], row["warc_offset"])
        assert payload == job.payloads[row["sha256"]]


def test_export_to_stdout(job):
    result = CliRunner().invoke(cli, ["export", str(job.job_dir)])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split(",") == EXPORT_COLUMNS
    assert len(lines) == 1 + len(pairs_and_gps(job.db_path)[0])


def test_export_of_a_missing_job_says_how_to_fix_it(tmp_path):
    result = CliRunner().invoke(cli, ["export", str(tmp_path / "nope")])
    assert result.exit_code != 0 and "lifeboat crawl" in result.output


def test_export_carries_post_text_deleted_type_evidence_fetch_time_and_record_id(job, tmp_path):
    out = tmp_path / "media.csv"
    result = CliRunner().invoke(cli, ["export", str(job.job_dir), "-o", str(out),
                                      "--base-url", "http://127.0.0.1:9999/"])
    assert result.exit_code == 0, result.output
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    conn = sqlite3.connect(job.db_path)
    try:
        posts = {pid: (text, str(deleted)) for pid, text, deleted in conn.execute(
            "select id, text, deleted from posts")}
        captures = {url: (ct, fetched, record) for url, ct, fetched, record in conn.execute(
            "select m.url, m.content_type, c.fetched_at, c.warc_record_id from media m "
            "join captures c on c.id = m.capture_id")}
    finally:
        conn.close()
    assert {"post_text", "post_deleted", "media_type", "evidence_url", "fetched_at",
            "warc_record_id"} <= set(rows[0])
    for row in rows:
        assert (row["post_text"], row["post_deleted"]) == posts[row["post_id"]]
        assert (row["media_type"], row["fetched_at"], row["warc_record_id"]) == \
            captures[row["media_url"]]
        assert row["warc_record_id"].startswith("<urn:uuid:")
        assert row["evidence_url"] == f"http://127.0.0.1:9999/-/evidence/{row['sha256']}"
    assert any("<script>" in row["post_text"] for row in rows)  # as archived, unescaped
