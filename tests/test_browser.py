"""Real-browser tests: Debian's chromium, driven by Playwright, against `lifeboat serve`."""

from __future__ import annotations

import base64
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

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


def start_serve(job_dir: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """Run `lifeboat serve DIR --port 0` (output to ``log``); return it and its URL."""
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "crawl.py"), "serve", str(job_dir), "--port", "0",
             "--tiles", "/no-tiles/{z}/{x}/{y}.png"],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        for line in log.read_text().splitlines():
            if line.startswith("lifeboat serve: http://"):
                return proc, line.split(": ", 1)[1].strip()
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"lifeboat serve printed no URL: {log.read_text()}")


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


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


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
