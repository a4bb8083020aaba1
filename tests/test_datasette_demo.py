"""The investigator UI over a real `lifeboat crawl demo` (Scrapy + WARC + ExifTool)."""

from __future__ import annotations

import csv
import hashlib
import json
import sqlite3
import urllib.request

import pytest
from markupsafe import escape

from datasette_job import crawl_demo
from cli.export import run_export_command
from datasette_plugins.serve import make_datasette


@pytest.fixture(scope="module")
def demo_job(demo_platform, tmp_path_factory):
    return crawl_demo(tmp_path_factory.mktemp("ui-demo") / "job", demo_platform)


@pytest.fixture(scope="module")
def ds(demo_job):
    return make_datasette(demo_job / "archive.db", tiles="/no-tiles/{z}/{x}/{y}.png")


def query(job_dir, sql, params=()):
    conn = sqlite3.connect(job_dir / "archive.db")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


def live_bytes(url: str, headers: dict | None = None) -> bytes:
    """The bytes the demo platform itself serves (loopback only)."""
    assert url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {})) as r:
        return r.read()


async def test_map_has_one_row_per_geotagged_media_item_of_the_truth(ds, demo_platform):
    truth = demo_platform.truth["media"]
    expected = {(m["sha256"], m["latitude"], m["longitude"]) for m in truth.values()
                if m["latitude"] is not None}
    data = (await ds.client.get("/archive/geotagged_media.json?_shape=objects&_size=max")
            ).json()
    got = {(r["sha256"], r["latitude"], r["longitude"]) for r in data["rows"]}
    assert len(data["rows"]) == len(expected)
    assert {s for s, _, _ in got} == {s for s, _, _ in expected}
    truth_by_sha = {s: (lat, lon) for s, lat, lon in expected}
    for sha, lat, lon in got:
        assert lat == pytest.approx(truth_by_sha[sha][0], abs=1e-5)
        assert lon == pytest.approx(truth_by_sha[sha][1], abs=1e-5)


async def test_every_media_item_streams_the_bytes_the_platform_served(ds, demo_job):
    media = query(demo_job, "select url, sha256, content_type from media")
    assert media
    for item in media:
        response = await ds.client.get(f"/-/media/{item['sha256']}")
        assert response.status_code == 200, item
        assert hashlib.sha256(response.content).hexdigest() == item["sha256"]
        assert response.content == live_bytes(item["url"])
        assert response.headers["content-type"] == item["content_type"]


async def test_video_range_matches_the_platforms_own_range_answer(ds, demo_job):
    video = query(demo_job, "select url, sha256 from media where content_type = 'video/mp4' "
                            "limit 1")[0]
    ours = await ds.client.get(f"/-/media/{video['sha256']}",
                               headers={"Range": "bytes=100-1099"})
    assert ours.status_code == 206
    assert ours.content == live_bytes(video["url"], {"Range": "bytes=100-1099"})
    assert len(ours.content) == 1000


async def test_evidence_pages_of_shared_media_list_every_post(ds, demo_job):
    shared = query(demo_job, """
        select m.sha256, count(distinct pm.post_id) as n from media m
        join post_media pm on pm.media_url = m.url group by m.sha256
        order by n desc limit 1""")[0]
    html = (await ds.client.get(f"/-/evidence/{shared['sha256']}")).text
    posts = query(demo_job, """
        select distinct pm.post_id, p.capture_id from media m
        join post_media pm on pm.media_url = m.url join posts p on p.id = pm.post_id
        where m.sha256 = ?""", [shared["sha256"]])
    assert len(posts) == shared["n"]
    for post in posts:
        assert f'href="/archive/posts/{post["post_id"]}"' in html
        assert f'href="/-/capture/{post["capture_id"]}"' in html


async def test_post_json_from_the_warc_equals_the_archived_raw(ds, demo_job):
    post = query(demo_job, "select raw, capture_id from posts where deleted = 0 limit 1")[0]
    response = await ds.client.get(f"/-/capture/{post['capture_id']}")
    assert response.json() == json.loads(post["raw"])


async def test_html_looking_posts_are_escaped(ds, demo_job):
    posts = query(demo_job, "select id, text from posts where text like '%<script%'")
    assert posts, "the demo platform should serve HTML-looking text"
    html = (await ds.client.get(f"/archive/posts/{posts[0]['id']}")).text
    assert posts[0]["text"] not in html
    assert str(escape(posts[0]["text"])) in html


async def test_search_and_canned_queries_answer_on_a_real_crawl(ds, demo_job):
    word = query(demo_job, "select text from posts where text is not null "
                           "and text glob '*[a-z][a-z][a-z][a-z]*' limit 1")[0]["text"]
    term = next(w for w in word.split() if w.isalpha() and len(w) >= 4)
    found = (await ds.client.get(f"/archive/posts.json?_search={term}&_shape=objects")).json()
    assert found["rows"] and all(term.lower() in r["text"].lower() for r in found["rows"])
    for name in ("geotagged_media_per_hour", "authors_by_geotagged_media"):
        data = (await ds.client.get(f"/archive/{name}.json?_shape=objects")).json()
        assert data["ok"] and data["rows"], name
    per_hour = (await ds.client.get("/archive/geotagged_media_per_hour.json?_shape=objects")
                ).json()["rows"]
    geotagged = (await ds.client.get("/archive/geotagged_media.json?_shape=objects&_size=max")
                 ).json()["rows"]
    with_time = [r for r in geotagged if r["captured_at"]]
    assert sum(r["media"] for r in per_hour) == len(with_time)


def test_export_matches_pairs_and_gps(demo_job, tmp_path):
    out = tmp_path / "export.csv"
    run_export_command(demo_job, "csv", out)
    with open(out, newline="", encoding="utf-8") as fh:
        exported = list(csv.DictReader(fh))
    pairs = query(demo_job, "select post_id, media_url from post_media")
    assert len(exported) == len(pairs) > 0
    gps = {r["sha256"]: r for r in query(demo_job, "select * from media_metadata")}
    for row in exported:
        meta = gps.get(row["sha256"])
        for column in ("latitude", "longitude", "altitude"):
            expected = None if meta is None else meta[column]
            got = float(row[column]) if row[column] else None
            assert got == expected, (row, column)


def test_utc_capture_times_are_the_moments_the_platform_knows(demo_job, demo_platform):
    """ExifTool reads local times with offsets (e.g. -05:00); captured_at_utc is the UTC
    moment the demo platform wrote, and sorting by it is sorting by time."""
    truth = {m["sha256"]: m["captured_at"] for m in demo_platform.truth["media"].values()
             if m["captured_at"]}
    rows = query(demo_job, "select sha256, captured_at, captured_at_utc from media_metadata")
    checked = [r for r in rows if r["sha256"] in truth]
    assert len(checked) > 10
    for row in checked:
        assert row["captured_at_utc"] == truth[row["sha256"]].replace("+00:00", "Z"), row
    assert any(not r["captured_at"].endswith(("Z", "+00:00")) for r in checked)
