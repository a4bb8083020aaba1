"""The bundled WordPress profile against WordPress itself (Debian's ``wordpress`` package).

One session fixture installs WordPress 6.1 from /usr/share/wordpress on PHP's web server
and a throwaway MariaDB, seeds it through WordPress's own PHP functions (geotagged photos
over 2560 px, so that WordPress makes its EXIF-stripped ``-scaled`` copies; drafts,
private, password-protected, trashed and deleted posts) and crawls it once with
``lifeboat crawl wordpress``. The tests compare the archive with what WordPress says it
made, and read it back the way an investigator does: CSV export, map, evidence page.
"""

from __future__ import annotations

import csv
import hashlib
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from crawl_helpers import crawl_bundled, lifeboat, rows
from datasette_plugins.serve import make_datasette
from real_platforms.common import NotInstalled, served
from real_platforms.wordpress import Post, WordPressSite, wordpress_site
from spiders.profile import load_profile


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory):
    """WordPress, installed and seeded once per test session."""
    try:
        with wordpress_site(tmp_path_factory.mktemp("wordpress")) as running:
            yield running
    except NotInstalled as missing:
        pytest.skip(f"WordPress cannot run here: {missing}")


@pytest.fixture(scope="session")
def job(site: WordPressSite, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``lifeboat crawl wordpress`` over every ID WordPress used, ExifTool included."""
    job_dir = tmp_path_factory.mktemp("wordpress-job") / "job"
    crawl_bundled("wordpress", job_dir, "--var", f"instance={site.url}",
                  "--ids", f"1-{site.last_id + 2}")
    return job_dir


@pytest.fixture(scope="session")
def ds(job: Path):
    return make_datasette(job / "archive.db", tiles="/no-tiles/{z}/{x}/{y}.png")


def public(site: WordPressSite) -> list[Post]:
    return [post for post in site.posts if post.public]


def originals(site: WordPressSite, with_gps: bool = False):
    """(post, attachment) for every photo uploaded to a public post."""
    return [(post, a) for post in public(site) for a in post.attachments
            if not with_gps or a.photo.latitude is not None]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_site_is_what_the_tests_expect(site: WordPressSite) -> None:
    """WordPress made -scaled copies of the big photos: the trap the profile must avoid."""
    paris = site.post("eiffel").attachments[0]
    assert paris.url.endswith("/paris-scaled.jpg") and paris.original.endswith("/paris.jpg")
    assert site.post("market").attachments[0].url == site.post("market").attachments[0].original
    assert {p.status for p in site.posts} >= {"publish", "draft", "private", "trash", "deleted"}


def test_every_walked_id_ends_as_wordpress_implies(site: WordPressSite, job: Path) -> None:
    ledger = dict(rows(job, "SELECT id, state FROM ledger WHERE item_type = 'post'"))
    for post in site.posts:
        if post.public:
            expected = "archived"
        elif post.type == "post" and post.status in ("publish", "draft", "private", "trash"):
            expected = "forbidden"  # protected (200, content.protected) or 401
        else:
            expected = "missing"  # deleted, a page
        assert ledger[str(post.id)] == expected, post
    for post in site.posts:
        for attachment in post.attachments:
            assert ledger[str(attachment.id)] == "missing"  # not a post


def test_every_public_post_is_archived_once_and_nothing_else(site: WordPressSite,
                                                             job: Path) -> None:
    posts = {row[0] for row in rows(job, "SELECT id FROM posts")}
    assert posts == {str(post.id) for post in public(site)}
    fetched = rows(job, "SELECT url, count(*) FROM captures GROUP BY url HAVING count(*) > 1")
    assert fetched == []


def test_posts_carry_author_time_and_visible_text(site: WordPressSite, job: Path) -> None:
    stored = {row[0]: row[1:] for row in rows(job, "SELECT id, author, created_at, text "
                                                   "FROM posts")}
    for post in public(site):
        author, created_at, text = stored[str(post.id)]
        assert author == post.author
        assert created_at == post.date_gmt + "Z"  # date_gmt is UTC without an offset
        assert text.startswith(post.title)
    eiffel = stored[str(site.post("eiffel").id)][2]
    assert "color" not in eiffel and "callout" not in eiffel  # the <style> is not text
    assert "Seen from Trocadéro, at dawn; the square was empty." in eiffel


def test_every_original_is_archived_byte_for_byte_with_its_gps(site: WordPressSite,
                                                               job: Path) -> None:
    media = dict(rows(job, "SELECT url, sha256 FROM media"))
    gps = {sha: (lat, lon) for sha, lat, lon in
           rows(job, "SELECT sha256, latitude, longitude FROM media_metadata")}
    for _, attachment in originals(site):
        assert media[attachment.original] == sha256(attachment.original_file), attachment
        photo = attachment.photo
        if photo.latitude is None:
            assert gps[media[attachment.original]] == (None, None)
        else:
            assert gps[media[attachment.original]] == pytest.approx(
                (photo.latitude, photo.longitude), abs=1e-5)
    # what the posts show is WordPress's resized copy, without the GPS
    scaled = site.post("eiffel").attachments[0].url
    assert gps[media[scaled]] == (None, None)


def test_nothing_of_a_non_public_post_is_archived(site: WordPressSite, job: Path) -> None:
    urls = [row[0] for row in rows(job, "SELECT url FROM captures")]
    for post in site.posts:
        if post.public:
            continue
        for attachment in post.attachments:
            stem = attachment.original.rsplit("/", 1)[1].rsplit(".", 1)[0]
            assert not [url for url in urls if f"/{stem}" in url], attachment
        assert not rows(job, "SELECT 1 FROM posts WHERE id = ?", (str(post.id),))


def test_wordpress_served_each_original_once_and_nothing_hidden(site: WordPressSite,
                                                                job: Path) -> None:
    """WordPress's own request log (php -S), not lifeboat's records."""
    requests = served(site.folder / "php.log")
    assert all(method == "GET" for _, method, _ in requests)
    paths = [path for _, _, path in requests]
    for _, attachment in originals(site):
        assert paths.count(urlsplit(attachment.original).path) == 1, attachment.original
    for post in site.posts:
        if not post.public:
            for attachment in post.attachments:
                folder = urlsplit(attachment.original).path.rsplit(".", 1)[0]
                assert not [p for p in paths if p.startswith(folder)], attachment
    assert (200, "GET", "/robots.txt") in requests  # WordPress's own robots.txt, obeyed


def test_csv_export_has_every_original_with_gps_under_its_post(site: WordPressSite, job: Path,
                                                               tmp_path: Path) -> None:
    out = tmp_path / "media.csv"
    result = lifeboat("export", str(job), "--format", "csv", "-o", str(out))
    assert result.returncode == 0, result.stderr
    with open(out, newline="", encoding="utf-8") as fh:
        exported = {(row["post_id"], row["media_url"]): row for row in csv.DictReader(fh)}
    for post, attachment in originals(site, with_gps=True):
        row = exported[(str(post.id), attachment.original)]
        assert row["sha256"] == sha256(attachment.original_file)
        assert float(row["latitude"]) == pytest.approx(attachment.photo.latitude, abs=1e-5)
        assert float(row["longitude"]) == pytest.approx(attachment.photo.longitude, abs=1e-5)
        assert row["author"] == post.author


async def test_map_shows_every_original_with_gps_and_its_post(site: WordPressSite, ds) -> None:
    data = (await ds.client.get("/archive/geotagged_media.json?_shape=objects&_size=max")).json()
    on_map = {row["sha256"]: row for row in data["rows"]}
    expected = {sha256(a.original_file): a for _, a in originals(site, with_gps=True)}
    assert set(on_map) == set(expected)  # resized copies carry no position
    for sha, attachment in expected.items():
        assert on_map[sha]["latitude"] == pytest.approx(attachment.photo.latitude, abs=1e-5)
        assert on_map[sha]["posts"] == 1, attachment


async def test_evidence_page_of_an_original_names_its_post(site: WordPressSite, ds) -> None:
    for post, attachment in originals(site, with_gps=True):
        html = (await ds.client.get(f"/-/evidence/{sha256(attachment.original_file)}")).text
        assert attachment.original in html
        assert f'href="/archive/posts/{post.id}"' in html, attachment
        shown = re.search(r'data-lat="([-0-9.]+)" data-lon="([-0-9.]+)"', html)
        assert shown, "no map on the evidence page"
        assert (float(shown[1]), float(shown[2])) == pytest.approx(
            (attachment.photo.latitude, attachment.photo.longitude), abs=1e-5)


def test_the_job_verifies(job: Path) -> None:
    result = lifeboat("verify", str(job))
    assert result.returncode == 0, result.stdout + result.stderr



def test_the_bundled_profile_needs_only_the_instance_variable() -> None:
    profile = load_profile("wordpress", {"instance": "https://blog.example.org"})
    assert profile.name == "wordpress" and profile.walks


def test_lifeboat_try_shows_one_post_and_the_attachments_it_credits(site: WordPressSite) -> None:
    def run(post: Post) -> subprocess.CompletedProcess:
        return lifeboat("try", "wordpress", str(post.id), "--var", f"instance={site.url}",
                        timeout=120)
    eiffel, protected = site.post("eiffel"), site.post("protected")
    shown = run(eiffel)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "fields.author = 'Alice Martin'" in shown.stdout
    assert f"created_at='{eiffel.date_gmt}Z'" in shown.stdout
    attachment = eiffel.attachments[0].id
    assert f"would fetch attachment {attachment} (credited to post {eiffel.id})" in shown.stdout
    refused = run(protected)
    assert refused.returncode == 1
    assert f"post {protected.id}: forbidden (HTTP 200)" in refused.stdout

