"""In-process tests of lifeboat's Datasette: pages, routes, canned queries, safety."""

from __future__ import annotations

import csv
from html import escape as html_escape
import io
import json
import shutil
import sqlite3

import pytest
from click.testing import CliRunner
from PIL import Image

from crawl import cli
from datasette_job import SCRIPT_TEXT, build_job
from datasette_plugins.config import TABLES
from datasette_plugins.safety import UnsafeBind, check_bind, is_loopback
from datasette_plugins.serve import make_datasette
from datasette_plugins.warc_media import RangeNotSatisfiable, parse_range
from datasette_plugins.sql_functions import distance_km
from archive.schema import TABLES as SCHEMA_TABLES
from archive.schema import open_db, upgrade_job


@pytest.fixture(scope="session")
def job(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ui")
    return build_job(tmp / "job")


@pytest.fixture(scope="session")
def ds(job):
    return make_datasette(job.db_path, tiles="/no-tiles/{z}/{x}/{y}.png")


@pytest.fixture(scope="session")
def video_sha(job):
    return job.shas["video.mp4"]


def db_rows(job, sql, params=()):
    conn = sqlite3.connect(job.db_path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


# --- configuration -----------------------------------------------------------------------

def test_every_schema_table_and_column_is_described():
    for table, spec in SCHEMA_TABLES.items():
        assert TABLES[table]["description"], table
        missing = set(spec["columns"]) - set(TABLES[table]["columns"])
        assert not missing, f"{table}: no description for {sorted(missing)}"


def test_migrations_apply_once_and_search_follows_new_posts(tmp_path):
    db = open_db(tmp_path / "archive.db")
    assert db.applied == ["tables", "posts_fts", "views", "captured_at_utc"]
    db.close()
    assert upgrade_job(tmp_path) == []
    conn = sqlite3.connect(tmp_path / "archive.db")
    with conn:  # a crawl adding a post
        conn.execute("insert into posts (id, author, text) values ('99', 'zoe', 'zeppelin')")
    hits = conn.execute("select rowid from posts_fts where posts_fts match 'zeppelin'").fetchall()
    conn.close()
    assert len(hits) == 1


async def test_home_page_explains_where_to_start(ds):
    response = await ds.client.get("/")
    assert response.status_code == 200
    html = response.text
    assert "lifeboat archive" in html
    for target in ("/archive/geotagged_media", "/archive/posts", "media_export.csv"):
        assert target in html
    assert "people&#39;s locations" in html or "people's locations" in html


@pytest.mark.parametrize("table", list(TABLES))
async def test_every_table_page_renders_with_descriptions(ds, table):
    response = await ds.client.get(f"/archive/{table}")
    assert response.status_code == 200, response.text[:500]
    first_column = next(iter(TABLES[table]["columns"].values()))
    assert first_column.split(":")[0] in response.text.replace("&#39;", "'")


async def test_posts_sorted_newest_first_with_author_facet(ds, job):
    data = (await ds.client.get("/archive/posts.json?_shape=objects")).json()
    times = [row["created_at"] for row in data["rows"]]
    assert times == sorted(times, reverse=True) and len(times) == 5
    data = (await ds.client.get("/archive/posts.json?_extra=facet_results")).json()
    facets = data["facet_results"]["results"] if "results" in data["facet_results"] \
        else data["facet_results"]
    authors = {v["value"]: v["count"] for v in facets["author"]["results"]}
    assert authors == {"alice": 1, "bob": 2, "carol": 1, "dave": 1}


async def test_full_text_search_on_post_text(ds):
    data = (await ds.client.get("/archive/posts.json?_search=crowd&_shape=objects")).json()
    assert [row["id"] for row in data["rows"]] == ["2"]
    data = (await ds.client.get("/archive/posts.json?_search=שלום&_shape=objects")).json()
    assert [row["id"] for row in data["rows"]] == ["5"]


async def test_archived_text_is_escaped(ds, job):
    html = (await ds.client.get("/archive/posts")).text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    evidence = (await ds.client.get(f"/-/evidence/{job.shas['video.mp4']}")).text
    assert "<script>alert(1)</script>" not in evidence
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in evidence


async def test_posts_link_to_their_media_evidence_pages(ds, job):
    html = (await ds.client.get("/archive/posts")).text
    for name in ("photo.jpg", "video.mp4", "plain.jpg"):
        assert f'href="/-/evidence/{job.shas[name]}"' in html
    assert f'src="/-/media/{job.shas["video.mp4"]}"' in html   # a player for the video
    assert f'src="/-/thumb/{job.shas["photo.jpg"]}"' in html   # a thumbnail for the photo


async def test_post_media_urls_link_to_evidence(ds, job):
    html = (await ds.client.get("/archive/post_media")).text
    for name in ("photo.jpg", "video.mp4", "reupload.mp4", "plain.jpg"):
        assert f'href="/-/evidence/{job.shas[name]}"' in html


async def test_media_table_cells_are_thumbnails_and_players(ds, job):
    html = (await ds.client.get("/archive/media")).text
    assert "<video" in html and f'src="/-/thumb/{job.shas["photo.jpg"]}"' in html


# --- map ---------------------------------------------------------------------------------

async def test_map_view_has_one_row_per_geotagged_media_and_cluster_map(ds, job):
    html = (await ds.client.get("/archive/geotagged_media")).text
    assert "datasette-cluster-map.js" in html
    assert "/no-tiles/" in html
    data = (await ds.client.get("/archive/geotagged_media.json?_shape=objects")).json()
    expected = db_rows(job, "select sha256, latitude, longitude from media_metadata "
                            "where latitude is not null")
    assert sorted((r["sha256"], r["latitude"], r["longitude"]) for r in data["rows"]) == \
        sorted((r["sha256"], r["latitude"], r["longitude"]) for r in expected)
    captured = [r["captured_at"] for r in data["rows"]]
    assert captured == sorted(captured), "the map lists media by capture time"
    popup = json.loads(data["rows"][0]["popup"])
    assert popup["link"] == f"/-/evidence/{data['rows'][0]['sha256']}"
    assert (await ds.client.get(popup["image"])).status_code == 200


# --- canned queries ----------------------------------------------------------------------

async def test_canned_media_near_point(ds, job):
    near = (await ds.client.get(
        "/archive/media_near_point.json?lat=38.89&lon=-77.01&km=5&_shape=objects")).json()
    assert [r["sha256"] for r in near["rows"]] == [job.shas["photo.jpg"]]
    assert near["rows"][0]["distance_km"] < 1
    everything = (await ds.client.get(
        "/archive/media_near_point.json?lat=0&lon=0&km=20000&_shape=objects")).json()
    assert len(everything["rows"]) == 2
    page = await ds.client.get("/archive/media_near_point?lat=38.89&lon=-77.01&km=5")
    assert page.status_code == 200 and "datasette-cluster-map.js" in page.text


async def test_media_near_point_finds_exactly_the_media_within_km(tmp_path):
    """The latitude band that narrows the query loses nothing: points just inside R km due
    north and south are found, those just outside and those far east on the same latitude
    are not, and the answer equals distance_km over every row."""
    lat, lon, km = 52.5, 13.4, 3.0
    step = km / distance_km(lat, lon, lat + 1.0, lon)  # degrees of latitude per km
    points = {"north-in": (lat + step * 0.999, lon), "north-out": (lat + step * 1.001, lon),
              "south-in": (lat - step * 0.999, lon), "south-out": (lat - step * 1.001, lon),
              "east-far": (lat, lon + 1.0), "centre": (lat, lon), "pole": (89.99, 0.0),
              "antipode": (-lat, lon - 180)}
    db = open_db(tmp_path / "archive.db")
    for name, (p_lat, p_lon) in points.items():
        db["media"].insert({"url": f"https://example.test/{name}", "sha256": name})
        db["media_metadata"].insert({"sha256": name, "latitude": p_lat, "longitude": p_lon})
    db.close()
    data = (await make_datasette(tmp_path / "archive.db").client.get(
        f"/archive/media_near_point.json?lat={lat}&lon={lon}&km={km}&_shape=objects")).json()
    expected = {n for n, (p_lat, p_lon) in points.items()
                if distance_km(lat, lon, p_lat, p_lon) <= km}
    assert [r["sha256"] for r in data["rows"]][0] == "centre"
    assert {r["sha256"] for r in data["rows"]} == expected == {"centre", "north-in", "south-in"}


async def test_canned_posts_in_time_window(ds):
    data = (await ds.client.get("/archive/posts_in_time_window.json?start=2021-01-06T14:30:00Z"
                                "&end=2021-01-06T16:00:00Z&_shape=objects")).json()
    assert [r["id"] for r in data["rows"]] == ["2", "3"]


async def test_canned_geotagged_media_per_hour(ds):
    data = (await ds.client.get("/archive/geotagged_media_per_hour.json?_shape=objects")).json()
    assert data["rows"] == [{"hour": "2021-01-06T14:00Z", "media": 2}]


async def test_canned_authors_by_geotagged_media(ds):
    data = (await ds.client.get(
        "/archive/authors_by_geotagged_media.json?_shape=objects")).json()
    ranked = [(r["author"], r["geotagged_media"], r["posts"]) for r in data["rows"]]
    assert ranked == [("alice", 1, 1), ("bob", 1, 2), ("carol", 1, 1)]


# --- media straight from the WARC ----------------------------------------------------------

@pytest.mark.parametrize("name,content_type", [("photo.jpg", "image/jpeg"),
                                               ("video.mp4", "video/mp4")])
async def test_media_route_streams_exact_payload(ds, job, name, content_type):
    sha = job.shas[name]
    response = await ds.client.get(f"/-/media/{sha}")
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content == job.payloads[sha]
    assert int(response.headers["content-length"]) == len(job.payloads[sha])


@pytest.mark.parametrize("header,expected", [
    ("bytes=100-999", slice(100, 1000)),
    ("bytes=0-0", slice(0, 1)),
    ("bytes=-200", slice(-200, None)),
    ("bytes=1500-", slice(1500, None)),
])
async def test_range_request_answers_206_with_exact_bytes(ds, job, video_sha, header,
                                                          expected):
    payload = job.payloads[video_sha]
    response = await ds.client.get(f"/-/media/{video_sha}", headers={"Range": header})
    assert response.status_code == 206
    assert response.content == payload[expected]
    start = expected.start if expected.start >= 0 else len(payload) + expected.start
    end = start + len(payload[expected]) - 1
    assert response.headers["content-range"] == f"bytes {start}-{end}/{len(payload)}"


async def test_range_past_the_end_is_416(ds, job, video_sha):
    size = len(job.payloads[video_sha])
    response = await ds.client.get(f"/-/media/{video_sha}",
                                   headers={"Range": f"bytes={size}-"})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{size}"


def test_parse_range_rules():
    assert parse_range(None, 10) is None
    assert parse_range("bytes=0-4,6-8", 10) is None       # multi-range: whole payload
    assert parse_range("bytes=2-100", 10) == (2, 9)
    assert parse_range("bytes=-100", 10) == (0, 9)
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=5-2", 10)


async def test_revisit_media_streams_the_original_payload(ds, job):
    rows = db_rows(job, "select c.warc_type from media m join captures c on c.id = m.capture_id "
                        "where m.url like '%reupload.mp4'")
    assert rows == [{"warc_type": "revisit"}]
    response = await ds.client.get(f"/-/media/{job.shas['reupload.mp4']}",
                                   headers={"Range": "bytes=10-20"})
    assert response.content == job.payloads[job.shas["reupload.mp4"]][10:21]


async def test_capture_route_serves_a_posts_archived_json(ds, job):
    capture_id = db_rows(job, "select capture_id from posts where id = '2'")[0]["capture_id"]
    response = await ds.client.get(f"/-/capture/{capture_id}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert "sandbox" in response.headers["content-security-policy"]
    assert response.json()["text"] == SCRIPT_TEXT


async def test_thumbnails(ds, job):
    photo = await ds.client.get(f"/-/thumb/{job.shas['photo.jpg']}")
    assert photo.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(photo.content)).size[0] <= 320
    video = await ds.client.get(f"/-/thumb/{job.shas['video.mp4']}")
    if shutil.which("ffmpeg"):  # the first frame, decoded from the WARC payload
        assert video.headers["content-type"] == "image/jpeg"
        assert Image.open(io.BytesIO(video.content)).size == (64, 48)
    else:
        assert video.headers["content-type"] == "image/svg+xml"


async def test_unknown_media_is_404(ds):
    assert (await ds.client.get("/-/media/" + "0" * 64)).status_code == 404
    assert (await ds.client.get("/-/evidence/" + "0" * 64)).status_code == 404
    assert (await ds.client.get("/-/capture/999999")).status_code == 404
    assert (await ds.client.get("/no/such/page.png")).status_code == 404


# --- evidence pages ------------------------------------------------------------------------

async def test_evidence_page_has_provenance_posts_and_exiftool(ds, job, video_sha):
    response = await ds.client.get(f"/-/evidence/{video_sha}")
    assert response.status_code == 200
    html = response.text
    assert f'<video id="evidence-media" controls preload="metadata" src="/-/media/{video_sha}"' \
        in html
    assert video_sha in html
    captures = db_rows(job, "select c.* from media m join captures c on c.id = m.capture_id "
                            "where m.sha256 = ?", [video_sha])
    assert len(captures) == 2
    for capture in captures:
        assert capture["url"] in html
        assert capture["fetched_at"] in html
        assert html_escape(capture["warc_record_id"]) in html
        assert f'<code class="warc-offset">{capture["warc_offset"]}</code>' in html
        assert capture["warc_filename"] in html
    posts = db_rows(job, "select distinct p.* from posts p join post_media pm on pm.post_id "
                         "= p.id join media m on m.url = pm.media_url where m.sha256 = ?",
                    [video_sha])
    assert {p["id"] for p in posts} == {"2", "3", "4"}
    for post in posts:
        assert f'href="/archive/posts/{post["id"]}"' in html
        assert f'href="/-/capture/{post["capture_id"]}"' in html
    assert "SM-G973F" in html and "-33.8568" in html and "151.2153" in html
    assert 'id="evidence-map"' in html
    assert "Full ExifTool record" in html and "GPSCoordinates" in html
    assert "@media print" in html


async def test_evidence_page_without_gps_has_no_map(ds, job):
    html = (await ds.client.get(f"/-/evidence/{job.shas['plain.jpg']}")).text
    assert '<img id="evidence-media"' in html and 'id="evidence-map"' not in html


# --- CSV -----------------------------------------------------------------------------------

async def test_csv_export_streams_every_row(ds, job):
    response = await ds.client.get("/archive/media_export.csv?_stream=on&_size=max")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == len(db_rows(job, "select * from post_media"))
    response = await ds.client.get("/archive/posts.csv?_stream=on")
    assert len(list(csv.DictReader(io.StringIO(response.text)))) == 5


# --- safety --------------------------------------------------------------------------------

async def test_archive_is_served_read_only(ds):
    with pytest.raises(sqlite3.OperationalError, match="readonly|read-only|query_only"):
        await ds.get_database("archive").execute_write("delete from posts")


async def test_require_login_refuses_anonymous_visitors(job):
    locked = make_datasette(job.db_path, require_login=True)
    for path in ("/", "/archive/posts", f"/-/media/{job.shas['photo.jpg']}",
                 f"/-/evidence/{job.shas['photo.jpg']}"):
        assert (await locked.client.get(path)).status_code == 403, path
    login = await locked.client.get(f"/-/auth-token?token={locked._root_token}")
    cookies = {"ds_actor": login.cookies["ds_actor"]}
    assert (await locked.client.get("/archive/posts", cookies=cookies)).status_code == 200


def test_bind_rules():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    check_bind("0.0.0.0", require_login=True)
    with pytest.raises(UnsafeBind, match="locations"):
        check_bind("0.0.0.0", require_login=False)


def test_serve_refuses_public_address_without_login(job):
    result = CliRunner().invoke(cli, ["serve", str(job.job_dir), "--host", "0.0.0.0"])
    assert result.exit_code != 0
    assert "people's locations" in result.output and "--require-login" in result.output


def test_serve_on_a_busy_port_says_what_to_do(job):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", str(job.job_dir), "--port", str(port)])
    assert result.exit_code != 0 and "--port" in result.output


def test_serve_without_a_database_says_how_to_make_one(tmp_path):
    result = CliRunner().invoke(cli, ["serve", str(tmp_path)])
    assert result.exit_code != 0 and "lifeboat crawl" in result.output
