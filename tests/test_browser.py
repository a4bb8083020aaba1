"""Real-browser tests: Debian's chromium, driven by Playwright, against `lifeboat serve`."""

from __future__ import annotations

import base64
import csv
import json
import sqlite3
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from crawl_helpers import start_serve, stop
from datasette_job import build_job, crawl_demo

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

BLANK_TILE = base64.b64decode(  # a 1x1 light grey PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4//8/AAX+Av4N70a4AAAAAElFTkSuQmCC")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.is_file(),
                       reason=f"{CHROMIUM} not found: install Debian's chromium "
                              "(./bootstrap.sh test does) to run the browser tests"),
]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    job = build_job(tmp / "job")
    proc, url = start_serve(job.job_dir, tmp / "serve.log")
    try:
        yield job, url.rstrip("/")
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def demo_served(demo_platform, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser-demo")
    job_dir = crawl_demo(tmp / "job", demo_platform)
    proc, url = start_serve(job_dir, tmp / "serve.log")
    try:
        yield job_dir, url.rstrip("/")
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def desk(demo_factory, tmp_path_factory):
    """A 1,500-post demo job, crawled once for this module, served with the bundled
    offline basemap (no --tiles): what `lifeboat demo --posts 1500` leaves a person."""
    platform = demo_factory(posts=1500, seed=3)
    tmp = tmp_path_factory.mktemp("browser-desk")
    job_dir = crawl_demo(tmp / "job", platform, ids="1-1500")
    proc, url = start_serve(job_dir, tmp / "serve.log", tiles=None)
    try:
        yield job_dir, url.rstrip("/")
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def page():
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})

        def loopback_only(route):
            url = urlsplit(route.request.url)
            if url.path.startswith("/no-tiles/"):  # an offline map: blank tiles
                route.fulfill(status=200, content_type="image/png", body=BLANK_TILE)
            elif url.hostname in ("127.0.0.1", "localhost"):
                route.continue_()
            else:
                route.abort()

        context.route("**/*", loopback_only)
        yield context.new_page()
        browser.close()


MARKER_TOTAL_JS = """() => {
    let total = 0;
    document.querySelectorAll('.leaflet-marker-icon').forEach(el => {
        total += el.classList.contains('marker-cluster')
            ? parseInt(el.textContent.trim(), 10) : 1;
    });
    return total;
}"""


def open_map(page, url: str, screenshot: str, expected: int) -> int:
    """Open the map, wait for ``expected`` markers (clusters count as the markers they
    hold), save a screenshot of it, and return how many markers it shows."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(f"{url}/archive/geotagged_media")
    page.wait_for_selector(".leaflet-marker-icon", timeout=20000)
    try:  # markers are added in chunks and clustered after fitBounds
        page.wait_for_function(f"() => ({MARKER_TOTAL_JS})() === {expected}", timeout=20000)
    except PlaywrightTimeout:  # the assertion reports the count actually shown
        pass
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(".leaflet-container").scroll_into_view_if_needed()
    page.locator(".leaflet-container").screenshot(path=str(ARTIFACTS / screenshot))
    return page.evaluate(MARKER_TOTAL_JS)


def play_evidence_video(page, url: str, sha256: str) -> None:
    """Open the evidence page of a video and wait until its <video> is playing."""
    page.goto(f"{url}/-/evidence/{sha256}")
    assert page.locator("video#evidence-media").count() == 1
    page.evaluate("() => { const v = document.querySelector('#evidence-media');"
                  " v.muted = true; return v.play().catch(e => String(e)); }")
    page.wait_for_function(
        "() => { const v = document.querySelector('#evidence-media');"
        " return !v.paused && v.currentTime > 0 && v.readyState >= 3; }", timeout=15000)


def geotagged_count(db_path: Path) -> int:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute("select count(*) from media_metadata where latitude is not null "
                            "and longitude is not null").fetchone()[0]
    finally:
        conn.close()


def test_map_shows_every_geotagged_media_item_and_leads_to_playable_evidence(served, page):
    job, url = served
    expected = geotagged_count(job.db_path)
    assert expected > 0 and open_map(page, url, "fixture-map.png", expected) == expected

    # open the video's marker popup: thumbnail plus a link to its evidence page
    evidence_href = None
    markers = page.locator(".leaflet-marker-icon")
    for index in range(markers.count()):
        markers.nth(index).click()
        popup = page.locator(".leaflet-popup-content")
        popup.wait_for(timeout=5000)
        if "video/mp4" in popup.inner_text():
            assert popup.locator("img").count() == 1
            evidence_href = popup.locator("a").first.get_attribute("href")
            break
        page.keyboard.press("Escape")
    assert evidence_href == f"/-/evidence/{job.shas['video.mp4']}"
    play_evidence_video(page, url, job.shas["video.mp4"])
    page.wait_for_selector("#evidence-map .leaflet-marker-icon", timeout=10000)
    assert page.locator("#evidence-map .leaflet-marker-icon").count() == 1
    page.screenshot(path=str(ARTIFACTS / "evidence.png"), full_page=True)


def test_demo_crawl_map_and_video(demo_served, demo_platform, page):
    job_dir, url = demo_served
    truth = demo_platform.truth["media"].values()
    expected = {m["sha256"] for m in truth if m["latitude"] is not None}
    assert open_map(page, url, "map.png", len(expected)) == len(expected) > 0
    video = next(m["sha256"] for m in truth
                 if m["content_type"] == "video/mp4" and m["latitude"] is not None)
    play_evidence_video(page, url, video)
    page.screenshot(path=str(ARTIFACTS / "demo-evidence.png"), full_page=True)


def test_post_text_is_shown_escaped_in_the_browser(served, page):
    job, url = served
    page.goto(f"{url}/archive/posts?_search=crowd")
    cell = page.locator("td.col-text").first
    assert "<script>alert(1)</script>" in cell.inner_text()
    assert page.locator("td.col-text script").count() == 0


# --- the investigator's desk on a 1,500-post demo: what a person sees --------------------

def db_one(job_dir: Path, sql: str):
    conn = sqlite3.connect(job_dir / "archive.db")
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def test_posts_csv_link_downloads_every_row(desk, page, tmp_path):
    job_dir, url = desk
    posts = db_one(job_dir, "select count(*) from posts")
    assert posts > 1000  # more than one Datasette page of rows
    page.goto(f"{url}/archive/posts")
    # the column descriptions fold away above the rows; each is its header's tooltip
    assert page.locator("details.column-descriptions summary").is_visible()
    assert not page.locator("dl.column-descriptions").is_visible()
    assert page.locator('th[data-column="author"]').get_attribute("title") == \
        "Username of the author."
    with page.expect_download() as download_info:
        page.get_by_role("link", name="CSV", exact=True).click()
    download = download_info.value
    assert download.suggested_filename == "posts.csv"
    path = tmp_path / "posts.csv"
    download.save_as(path)
    with open(path, newline="", encoding="utf-8") as fh:
        ids = [row["id"] for row in csv.DictReader(fh)]
    assert len(ids) == len(set(ids)) == posts


OSM_LAND, OSM_SEA = (242, 239, 233), (170, 211, 223)  # OpenStreetMap's colours


def test_map_shows_land_offline_from_the_bundled_basemap(desk, page):
    from PIL import Image

    job_dir, url = desk
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{url}/archive/geotagged_media")
    page.wait_for_selector(".leaflet-marker-icon", timeout=20000)
    # the cluster map zooms to its markers after the first tiles load, and Leaflet fades new
    # tiles in: wait until every tile of the current zoom has loaded
    page.wait_for_function("() => document.querySelectorAll('.leaflet-tile-loaded').length >= 4"
                           " && !document.querySelector('.leaflet-tile:not(.leaflet-tile-loaded)')",
                           timeout=20000)
    map_box = page.locator("#lifeboat-map .leaflet-container").bounding_box()
    assert map_box["y"] < 200  # the map is first on its page, under the title
    tiles = [u for u in requested if "/-/tiles/" in u]
    assert tiles and all(u.startswith(url) for u in tiles)
    assert all(urlsplit(u).hostname in ("127.0.0.1", "localhost") for u in requested)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "desk-map.png"

    def land_and_sea() -> tuple[int, int, int]:
        page.locator("#lifeboat-map .leaflet-container").screenshot(
            path=str(shot), animations="disabled")
        pixels = Image.open(shot).convert("RGB")
        colours = {c: n for n, c in pixels.getcolors(maxcolors=1 << 24)}
        return colours.get(OSM_LAND, 0), colours.get(OSM_SEA, 0), pixels.width * pixels.height

    deadline = time.monotonic() + 20  # a tile drawn late (fade-in, busy machine) still counts
    land, sea, area = land_and_sea()
    while not (land > area / 20 and sea > area / 20) and time.monotonic() < deadline:
        page.wait_for_timeout(250)
        land, sea, area = land_and_sea()
    assert land > area / 20 and sea > area / 20, f"land {land}, sea {sea} of {area} pixels"


def drawn_counts(page, selector: str) -> list[int]:
    """data-count of every bar under ``selector`` that the browser drew with a height."""
    return page.evaluate(
        """(selector) => Array.from(document.querySelectorAll(selector + ' rect[data-count]'))
            .filter(r => r.getBoundingClientRect().height > 0 || r.dataset.count === '0')
            .map(r => parseInt(r.dataset.count, 10))""", selector)


def test_timeline_and_coverage_strip_render_with_the_right_counts(desk, page):
    job_dir, url = desk
    page.goto(f"{url}/-/timeline")
    posts = drawn_counts(page, ".timeline-posts")
    taken = drawn_counts(page, ".timeline-taken")
    assert sum(posts) == db_one(job_dir, "select count(*) from posts where created_at != ''")
    assert sum(taken) == db_one(job_dir, "select count(*) from media_metadata "
                                         "where captured_at_utc is not null") > 0
    assert len(posts) == len(taken) > 10  # one bar per day on one scale
    page.screenshot(path=str(ARTIFACTS / "desk-timeline.png"), full_page=True)

    page.goto(f"{url}/-/coverage")
    strip = page.locator("figure.lifeboat-coverage svg")
    assert strip.bounding_box()["width"] > 800
    legend = {item.get_attribute("data-state"): int(item.get_attribute("data-count"))
              for item in page.locator(".legend-item").all()}
    conn = sqlite3.connect(job_dir / "archive.db")
    try:
        states = dict(conn.execute("select state, count(*) from ledger "
                                   "where item_type = 'post' group by state"))
    finally:
        conn.close()
    assert legend == states and sum(legend.values()) == 1500
    assert page.locator("g.slice").count() == 188  # 1,500 IDs, 8 a column (200 at most)
    page.screenshot(path=str(ARTIFACTS / "desk-coverage.png"), full_page=True)


def test_printed_evidence_page_holds_the_exiftool_record_and_footer(desk, page, tmp_path):
    job_dir, url = desk
    conn = sqlite3.connect(job_dir / "archive.db")
    try:
        sha, exiftool = conn.execute(
            "select mm.sha256, mm.exiftool from media_metadata mm join media m using (sha256) "
            "where mm.latitude is not null and m.content_type = 'image/jpeg' limit 1"
        ).fetchone()
    finally:
        conn.close()
    page.goto(f"{url}/-/evidence/{sha}")
    pdf = tmp_path / "evidence.pdf"
    page.pdf(path=str(pdf), format="A4")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    flat = " ".join(text.split())
    record = json.loads(exiftool)
    for tag in ("ExifIFD:DateTimeOriginal", "GPS:GPSLatitude", "File:MIMEType",
                "Lifeboat:CapturedAtSource"):
        assert f'"{tag}": {json.dumps(record[tag])}' in flat, tag
    assert len([t for t in record if f'"{t}"' in flat]) == len(record)  # every tag printed
    assert f"lifeboat archive {job_dir.name}" in flat
    assert f"{sha} {sha}_" in flat  # the sha256sum line (two spaces, one after pdftotext)
    assert "Print this page" not in flat  # screen-only controls stay off paper
