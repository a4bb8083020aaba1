"""The investigator's desk: every row in CSV links, right times, pictures, evidence pages.

In-process Datasette (``ds.client``) over a real job directory (tests/datasette_job.py)
grown to more rows than one Datasette page holds.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import sqlite3
import struct
import subprocess
import zlib
from html import unescape

import pytest
from PIL import Image

from datasette_job import CDN, Recorder, build_job, fill_utc, make_jpeg
from archive.schema import open_db
from datasette_plugins.serve import make_datasette

EXTRA_POSTS = 1300          # with the fixture's 5: 1,305 posts, past Datasette's 1,000
NEAR_MEDIA = 1200           # geotagged media within a kilometre of one point
ALL_POSTS = 5 + EXTRA_POSTS + 3  # the fixture's, the extra ones, three with odd media
POINT = (52.52, 13.405)
OSM_LAND, OSM_SEA = (242, 239, 233), (170, 211, 223)  # OpenStreetMap's colours


def grow(db_path) -> None:
    """Add posts and geotagged media rows beyond one page of Datasette's results."""
    conn = sqlite3.connect(db_path)
    with conn:
        conn.executemany(
            "insert into posts (id, profile, author, created_at, text, deleted) "
            "values (?, 'test', ?, ?, ?, 0)",
            [(str(100 + i), f"user{i % 7}", f"2021-01-0{1 + i % 5}T{i % 24:02d}:00:00Z",
              f"post number {i}") for i in range(EXTRA_POSTS)])
        for i in range(NEAR_MEDIA):
            sha = f"{i:064x}"
            conn.execute("insert into media (url, sha256, content_type, size) "
                         "values (?, ?, 'image/jpeg', 1)", [f"http://x/{i}.jpg", sha])
            conn.execute("insert into media_metadata (sha256, latitude, longitude, "
                         "captured_at, mime_type) values (?, ?, ?, ?, 'image/jpeg')",
                         [sha, POINT[0] + (i % 50) * 1e-4, POINT[1] + (i // 50) * 1e-4,
                          f"2021-01-05T{i % 24:02d}:30:00+01:00"])
        conn.executemany(  # a walk of IDs 1..2000: 1..1800 walked, then a hole
            "insert into ledger (profile, item_type, id, state, attempts, last_status, "
            "updated_at) values ('test', 'post', ?, ?, 1, 200, '2021-02-01T00:00:00Z')",
            [(str(i), LEDGER_STATE(i)) for i in range(1, 1801)] + [("2000", "archived")])
    conn.close()


def huge_png(side: int = 12000) -> bytes:
    """A real grayscale PNG of ``side`` x ``side`` pixels (~140 KB), written row by row so
    that making it never holds the pixels in memory."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    packer = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # filter byte, then black pixels
    body = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", body) + chunk(b"IEND", b""))


def big_jpeg() -> bytes:
    """A 4000 x 3000 photo: big, but a thumbnail of it must still be made."""
    out = io.BytesIO()
    Image.new("RGB", (4000, 3000), (30, 120, 200)).save(out, "JPEG", quality=50)
    return out.getvalue()


def add_media(job, name: str, payload: bytes, content_type: str, post_id: str,
              created_at: str, metadata: dict) -> str:
    """Archive ``payload`` in a WARC of its own, carried by a new post; return its SHA-256."""
    db = open_db(job.db_path)
    sha = hashlib.sha256(payload).hexdigest()
    with open(job.job_dir / "warc" / f"{name}.warc.gz", "wb") as fh:
        capture_id = Recorder(fh, db, f"{name}.warc.gz").response(CDN + name, payload,
                                                                    content_type)
    db["media"].insert({"url": CDN + name, "sha256": sha, "content_type": content_type,
                        "size": len(payload), "capture_id": capture_id})
    db["posts"].insert({"id": post_id, "profile": "test", "author": "erin",
                        "created_at": created_at, "text": f"look: {name}", "deleted": 0})
    db["post_media"].insert({"post_id": post_id, "media_url": CDN + name})
    db["media_metadata"].insert({"sha256": sha, "mime_type": content_type, **metadata})
    db.close()
    job.shas[name], job.payloads[sha] = sha, payload
    return sha


def LEDGER_STATE(i: int) -> str:
    return "missing" if i % 10 == 0 else "forbidden" if i % 97 == 0 else "archived"


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    built = build_job(tmp_path_factory.mktemp("desk") / "job")
    grow(built.db_path)
    # taken (16:00Z) after the post that carried it (15:10Z), and without GPS
    with sqlite3.connect(built.db_path) as conn:
        conn.execute("update media_metadata set captured_at = '2021-01-06T11:00:00-05:00' "
                     "where sha256 = ?", [built.shas["plain.jpg"]])
    add_media(built, "zero.jpg", make_jpeg() + b"0", "image/jpeg", "9001",
              "2021-01-06T18:00:00Z", {"latitude": 0.0, "longitude": 0.0,
                                       "gps_flag": "null_island",
                                       "captured_at": "2021-01-06T17:00:00Z"})
    add_media(built, "huge.png", huge_png(), "image/png", "9002", "2021-01-06T18:00:00Z", {})
    add_media(built, "big.jpg", big_jpeg(), "image/jpeg", "9003", "2021-01-06T18:00:00Z", {})
    fill_utc(built.db_path)
    return built


@pytest.fixture(scope="module")
def ds(job):
    return make_datasette(job.db_path)


def csv_link(html: str) -> str:
    """The href of the page's "CSV" export link."""
    match = re.search(r'<a href="([^"]+)">CSV</a>', html)
    assert match, "no CSV link on the page"
    return unescape(match.group(1))


def csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


# --- every CSV link gives every row, as a download ----------------------------------------

async def test_posts_csv_link_gives_every_row_as_a_download(ds):
    page = await ds.client.get("/archive/posts")
    link = csv_link(page.text)
    response = await ds.client.get(link)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'attachment; filename="posts.csv"' in response.headers["content-disposition"]
    rows = csv_rows(response.text)
    assert len(rows) == ALL_POSTS
    assert len({r["id"] for r in rows}) == ALL_POSTS


async def test_filtered_table_csv_link_keeps_the_filter_not_the_page(ds):
    page = await ds.client.get("/archive/posts?author=user3&_size=10")
    next_page = re.search(r'href="([^"]*_next=[^"]*)"', page.text)
    assert next_page, "a filtered page of 10 rows has a next page"
    page2 = await ds.client.get(re.sub(r"^https?://[^/]+", "", unescape(next_page.group(1))))
    rows = csv_rows((await ds.client.get(csv_link(page2.text))).text)
    expected = sum(1 for i in range(EXTRA_POSTS) if i % 7 == 3)
    assert len(rows) == expected and {r["author"] for r in rows} == {"user3"}


async def test_canned_query_csv_link_gives_every_row(ds):
    page = await ds.client.get(
        f"/archive/media_near_point?lat={POINT[0]}&lon={POINT[1]}&km=5")
    assert page.status_code == 200
    link = csv_link(page.text)
    assert link.startswith("/-/csv/media_near_point?")
    response = await ds.client.get(link)
    assert response.status_code == 200
    assert 'filename="media_near_point.csv"' in response.headers["content-disposition"]
    rows = csv_rows(response.text)
    assert len(rows) == NEAR_MEDIA
    assert [float(r["distance_km"]) for r in rows] == sorted(
        float(r["distance_km"]) for r in rows)


async def test_typed_sql_csv_link_gives_every_row(ds):
    page = await ds.client.get("/archive?sql=select+id+from+posts")
    response = await ds.client.get(csv_link(page.text))
    assert len(csv_rows(response.text)) == ALL_POSTS


async def test_home_page_csv_link_downloads(ds):
    page = await ds.client.get("/")
    link = unescape(re.search(r'href="(/archive/media_export\.csv[^"]*)"', page.text).group(1))
    response = await ds.client.get(link)
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]


async def test_media_downloads_carry_a_filename(ds, job):
    sha = job.shas["photo.jpg"]
    response = await ds.client.get(f"/-/media/{sha}")
    assert response.headers["content-disposition"].startswith(
        f'inline; filename="{sha}_photo.jpg"')
    response = await ds.client.get(f"/-/media/{sha}?download=1")
    assert response.headers["content-disposition"].startswith(
        f'attachment; filename="{sha}_photo.jpg"')
    assert response.content == job.payloads[sha]


# --- UTC capture times; positions without float noise ---------------------------------------

def test_utc_time_converts_offsets_and_leaves_local_clock_times_alone():
    from metadata.normalise import utc_time

    assert utc_time("2021-01-06T23:16:12-05:00") == "2021-01-07T04:16:12Z"
    assert utc_time("2021-01-07T01:48:54+00:00") == "2021-01-07T01:48:54Z"
    assert utc_time("2021-01-06T23:16:12.5Z") == "2021-01-06T23:16:12.500Z"
    assert utc_time("2021-01-06T23:16:12") is None  # no zone: UTC unknown
    assert utc_time(None) is None


async def test_media_sorts_and_facets_by_utc_capture_time(ds):
    data = (await ds.client.get(
        "/archive/media_metadata.json?_shape=objects&_size=100&mime_type=image/jpeg")).json()
    rows = [r for r in data["rows"] if r["captured_at_utc"]]
    utc = [r["captured_at_utc"] for r in rows]
    assert utc == sorted(utc, reverse=True)
    assert {"captured_at", "captured_at_utc"} <= set(rows[0])
    # 00:30 at +01:00 is 23:30 UTC the day before: the facet counts it there
    facet = (await ds.client.get(
        "/archive/media_metadata.json?_facet_date=captured_at_utc&_size=0")).json()
    days = {f["value"]: f["count"] for f in facet["facet_results"]["captured_at_utc"]["results"]}
    assert days["2021-01-04"] == NEAR_MEDIA // 24


async def test_positions_are_shown_without_float_noise(ds, tmp_path):
    html = (await ds.client.get("/archive/geotagged_media?_sort=sha256&_size=5")).text
    cells = re.findall(r'<td class="col-latitude[^"]*">([^<]*)</td>', html)
    assert cells and all(re.fullmatch(r"-?\d+\.\d{6}", c.strip()) for c in cells), cells
    assert 'id="facet-model"' in html and 'id="facet-gps_flag"' not in html


# --- the offline map, first on its page ------------------------------------------------------

async def test_bundled_basemap_tiles_show_land_from_this_machine(ds):
    from PIL import Image

    response = await ds.client.get("/-/tiles/basemap/0/0/0.png")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content)).convert("RGB")
    colours = dict((c, n) for n, c in image.getcolors(maxcolors=1 << 16))
    total = image.width * image.height
    assert colours.get(OSM_LAND, 0) > total / 10 and colours.get(OSM_SEA, 0) > total / 4


async def test_map_page_puts_the_map_first_with_offline_tiles(ds):
    html = (await ds.client.get("/archive/geotagged_media")).text
    assert html.index('id="lifeboat-map"') < html.index('class="metadata-description"')
    assert '"/-/tiles/basemap/{z}/{x}/{y}.png"' in html
    assert "openstreetmap.org/{z}" not in html and "tile.openstreetmap" not in html
    assert ".col-popup { display: none; }" in html
    assert "basemap" not in (await ds.client.get("/")).text.split("</header>")[1].split(
        "Where to start")[0]


async def test_wide_exiftool_cells_are_summaries(ds, job):
    html = (await ds.client.get("/archive/media_metadata?mime_type=video/mp4")).text
    assert f'<a href="/-/evidence/{job.shas["video.mp4"]}#exiftool">full record</a>' in html
    assert "1 tags" in html


# --- timeline, coverage strip, per-hour chart ------------------------------------------------

def svg_counts(html: str, css_class: str) -> list[int]:
    figure = html.split(f'lifeboat-chart {css_class}"', 1)[1].split("</figure>", 1)[0]
    return [int(n) for n in re.findall(r'data-count="(\d+)"', figure)]


def one(job, sql):
    conn = sqlite3.connect(job.db_path)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


async def test_timeline_counts_every_post_and_capture_time(ds, job):
    html = (await ds.client.get("/-/timeline")).text
    posts = svg_counts(html, "timeline-posts")
    taken = svg_counts(html, "timeline-taken")
    assert sum(posts) == one(job, "select count(*) from posts where created_at != ''") > 1300
    assert sum(taken) == one(job, "select count(*) from media_metadata "
                                  "where captured_at_utc is not null")
    assert len(posts) == len(taken) == 7  # 2021-01-01 .. 2021-01-07, one bar a day
    assert 'href="/archive/posts?created_at__startswith=2021-01-03"' in html


async def test_coverage_strip_shows_every_ledger_state_across_the_id_range(ds, job):
    html = (await ds.client.get("/-/coverage")).text
    legend = dict(re.findall(r'data-state="([^"]+)" data-count="(\d+)"', html))
    assert legend == {"archived": str(1800 - 180 - 17 + 1), "missing": "180",
                      "forbidden": "17", "not walked": "199"}
    slices = re.findall(r'data-first="(\d+)" data-last="(\d+)" data-counts="([^"]+)"', html)
    assert slices[0][:2] == ("1", "10") and slices[-1][:2] == ("1991", "2000")
    assert unescape(slices[-2][2]) == '{"not walked": 10}'


def test_status_prints_the_coverage_strip(job):
    from archive.ledger import job_status

    lines = job_status(job.job_dir)
    at = next(i for i, line in enumerate(lines) if "test post coverage" in line)
    strip = lines[at + 1].strip()
    assert strip == "|" + "#" * 64 + " " * 8 + "|"  # 28 IDs a mark; the hole from 1801
    assert "'.' missing 180" in lines[at + 2] and "' ' not walked 199" in lines[at + 2]


async def test_per_hour_query_is_a_chart(ds, job):
    html = (await ds.client.get("/archive/geotagged_media_per_hour")).text
    counts = svg_counts(html, "per-hour")
    assert sum(counts) == one(job, "select count(*) from geotagged_media "
                                   "where captured_at_utc is not null")
    assert max(counts) == NEAR_MEDIA // 24


# --- evidence pages, queries with examples, bounded thumbnails ------------------------------

async def test_evidence_page_is_titled_by_post_and_author_and_links_around(ds, job):
    sha = job.shas["photo.jpg"]
    html = (await ds.client.get(f"/-/evidence/{sha}")).text
    assert "<title>Photo from post 1 by alice" in html
    assert "<h1>Photo from post 1 by alice</h1>" in html
    assert 'href="/archive/posts?author=alice"' in html
    assert 'href="/archive/media_near_point?lat=38.8899&amp;lon=-77.0091&amp;km=1"' in html
    assert "/archive/geotagged_media?latitude__gte=38.8799" in html
    assert 'href="geo:38.889900,-77.009100"' in html
    assert 'class="flags"' not in html


async def test_evidence_page_flags_what_to_doubt(ds, job):
    plain = (await ds.client.get(f"/-/evidence/{job.shas['plain.jpg']}")).text
    assert "No GPS position in the file." in plain
    assert "Taken after it was posted: taken 2021-01-06T16:00:00Z, post 3 made " \
           "2021-01-06T15:10:00Z" in plain
    zero = (await ds.client.get(f"/-/evidence/{job.shas['zero.jpg']}")).text
    assert "GPS position 0, 0" in zero and "Taken after" not in zero


async def test_evidence_page_prints_everything_with_a_footer_sha256sum_checks(ds, job,
                                                                           tmp_path):
    sha = job.shas["video.mp4"]
    html = (await ds.client.get(f"/-/evidence/{sha}")).text
    assert '<h2 id="exiftool">Full ExifTool record</h2>' in html and "<details" not in html
    footer = html.split('class="print-footer"', 1)[1].split("</div>", 1)[0]
    assert "<strong>job</strong>" in footer and 'id="printed-at"' in footer
    line = unescape(re.search(r"<code>([0-9a-f]{64}  [^<]+)</code>", footer).group(1))
    # the peer tool: the downloaded file, under the name it came with, checks OK
    response = await ds.client.get(f"/-/media/{sha}?download=1")
    name = re.search(r'filename="([^"]+)"', response.headers["content-disposition"]).group(1)
    (tmp_path / name).write_bytes(response.content)
    (tmp_path / "SHA256SUMS").write_text(line + "\n")
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=tmp_path,
                           capture_output=True, text=True)
    assert check.returncode == 0 and check.stdout.strip() == f"{name}: OK"


async def test_ready_made_queries_open_with_example_values(ds):
    home = (await ds.client.get("/")).text
    link = unescape(re.search(r'href="(/archive/media_near_point\?[^"]+)"', home).group(1))
    assert link == "/archive/media_near_point?lat=52.52&lon=13.41&km=2"  # to ~1 km
    page = (await ds.client.get(link)).text
    assert "Example from this archive" in page
    data = (await ds.client.get(link.replace("point?", "point.json?") + "&_shape=objects")
            ).json()
    assert len(data["rows"]) > 100
    window = unescape(re.search(r'href="(/archive/posts_in_time_window\?[^"]+)"', home)
                      .group(1))
    assert "start=2021-01-07T00%3A00%3A00Z&end=2021-01-08T00%3A00%3A00Z" in window
    rows = (await ds.client.get(window.replace("window?", "window.json?") + "&_shape=objects")
            ).json()["rows"]
    assert [r["id"] for r in rows] == ["5"]


async def test_ready_made_queries_opened_bare_show_their_example(ds):
    response = await ds.client.get("/archive/media_near_point")
    assert response.status_code == 302
    assert response.headers["location"] == "/archive/media_near_point?lat=52.52&lon=13.41&km=2"
    bare_json = await ds.client.get("/archive/media_near_point.json?_shape=objects")
    assert bare_json.status_code == 200  # the API is left alone
    edited = await ds.client.get("/archive/media_near_point?lat=&lon=&km=")
    assert edited.status_code == 200  # a form a person emptied stays empty


async def test_authors_link_to_their_posts(ds):
    html = (await ds.client.get("/archive/authors_by_geotagged_media")).text
    assert '<a href="/archive/posts?author=alice">alice</a>' in html


async def test_thumbnails_are_bounded_by_pixels(ds, job):
    from datasette_plugins.warc_media import TooLargeToPreview, make_thumbnail

    huge = job.payloads[job.shas["huge.png"]]
    assert len(huge) < 500_000
    with pytest.raises(TooLargeToPreview, match="12000x12000"):
        make_thumbnail(huge)
    response = await ds.client.get(f"/-/thumb/{job.shas['huge.png']}")
    assert response.headers["content-type"] == "image/svg+xml"
    assert "too large to preview" in response.text
    response = await ds.client.get(f"/-/thumb/{job.shas['big.jpg']}")
    assert response.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(response.content)).size == (320, 240)


# --- the demo's follow-up commands; README's example post ---------------------------------

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent


def test_demo_prints_follow_up_commands_that_work_as_printed(tmp_path):
    import sys

    job = tmp_path / "jobs" / "demo run"  # a space: the commands must quote it
    result = subprocess.run([sys.executable, str(ROOT / "crawl.py"), "demo", "--posts", "30",
                             "--no-serve", "--out", str(job)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    at = lines.index("lifeboat demo: look at it with")
    commands = [line.strip() for line in lines[at + 1:] if line.startswith("  ")]
    assert any(c.startswith("lifeboat serve ") for c in commands)
    lifeboat = f"{sys.executable} {ROOT / 'crawl.py'}"
    for command in commands:
        if command.startswith(("source ", "lifeboat serve ")):
            continue
        run = subprocess.run(["bash", "-c", command.replace("lifeboat ", lifeboat + " ")],
                             cwd=tmp_path, capture_output=True, text=True, timeout=240)
        assert run.returncode == 0, (command, run.stdout, run.stderr)
    assert (tmp_path / "demo-media.csv").stat().st_size > 0
    assert list(job.glob("*.wacz"))


def test_readme_example_post_is_what_the_demo_serves(demo_factory):
    import json
    import urllib.request

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = re.search(r'`curl -s \$API/api/v1/posts/(\d+)` answers `\{"id": (\d+), '
                        r'"author": "([^"]+)", "created_at":\s+"([^"]+)"[^`]*?"media": '
                        r'\[\{"url": "http://127.0.0.1:PORT2(/media/[^"]+)"', readme)
    assert example, "README's example post is missing"
    number, shown_id, author, created_at, media_path = example.groups()
    platform = demo_factory(posts=50, seed=1)  # `python -m demo serve --posts 50`
    with urllib.request.urlopen(f"{platform.api}/api/v1/posts/{number}") as response:
        post = json.load(response)
    assert (str(post["id"]), post["author"], post["created_at"]) == (shown_id, author,
                                                                     created_at)
    assert post["media"][0]["url"] == platform.media + media_path


async def test_new_pages_refuse_visitors_without_the_login(job):
    guarded = make_datasette(job.db_path, require_login=True)
    for path in ("/-/csv/media_near_point?lat=1&lon=1&km=1", "/-/csv?sql=select+1",
                 "/-/timeline", "/-/coverage"):
        response = await guarded.client.get(path)
        assert response.status_code == 403, path
