"""The investigator's desk: every row in CSV links, right times, pictures, evidence pages.

In-process Datasette (``ds.client``) over a real job directory (tests/datasette_job.py)
grown to more rows than one Datasette page holds.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from html import unescape

import pytest

from datasette_job import build_job
from datasette_plugins.prepare import prepare_file
from datasette_plugins.serve import make_datasette

EXTRA_POSTS = 1300          # with the fixture's 5: 1,305 posts, past Datasette's 1,000
NEAR_MEDIA = 1200           # geotagged media within a kilometre of one point
POINT = (52.52, 13.405)


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
    conn.close()


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    built = build_job(tmp_path_factory.mktemp("desk") / "job")
    grow(built.db_path)
    prepare_file(built.db_path)
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
    assert len(rows) == 5 + EXTRA_POSTS
    assert len({r["id"] for r in rows}) == 5 + EXTRA_POSTS


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
    assert len(csv_rows(response.text)) == 5 + EXTRA_POSTS


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
