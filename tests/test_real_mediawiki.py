"""The bundled MediaWiki profile against MediaWiki itself (Debian's ``mediawiki`` package).

One session fixture installs MediaWiki 1.39 from /usr/share/mediawiki (SQLite, PHP's web
server), uploads geotagged photos with maintenance/importImages.php, edits pages in several
revisions, uploads a new version over one file, hides one revision's text (revision
deletion) and deletes a page and a file,
then crawls it once with ``lifeboat crawl mediawiki``. The tests compare the archive with
what MediaWiki says it holds, and read it back as an investigator does.
"""

from __future__ import annotations

import csv
import hashlib
from html import escape
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from crawl_helpers import crawl_bundled, lifeboat, rows
from datasette_plugins.serve import make_datasette
from real_platforms.common import NotInstalled, Photo, served
from real_platforms.mediawiki import EDITS, Page, Wiki, mediawiki_site
from spiders.profile import load_profile


@pytest.fixture(scope="session")
def wiki(tmp_path_factory: pytest.TempPathFactory):
    """MediaWiki, installed and seeded once per test session."""
    try:
        with mediawiki_site(tmp_path_factory.mktemp("mediawiki")) as running:
            yield running
    except NotInstalled as missing:
        pytest.skip(f"MediaWiki cannot run here: {missing}")


@pytest.fixture(scope="session")
def job(wiki: Wiki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``lifeboat crawl mediawiki`` over every page and revision ID, ExifTool included."""
    last = max([p.id for p in wiki.pages] + list(wiki.revisions)) + 2
    job_dir = tmp_path_factory.mktemp("mediawiki-job") / "job"
    crawl_bundled("mediawiki", job_dir, "--var", f"api={wiki.url}/api.php", "--ids", f"1-{last}")
    return job_dir


@pytest.fixture(scope="session")
def ds(job: Path):
    return make_datasette(job / "archive.db", tiles="/no-tiles/{z}/{x}/{y}.png")


def live_files(wiki: Wiki) -> list[Page]:
    """File: pages not deleted."""
    return [p for p in wiki.pages if p.file and not p.deleted]


def originals(wiki: Wiki, with_gps: bool = False) -> list[tuple[Page, str, Path, Photo]]:
    """(file page, URL, file on disk, photo) of every uploaded version of every live file."""
    return [(page, url, path, photo) for page in live_files(wiki)
            for url, path, photo in page.versions()
            if not with_gps or photo.latitude is not None]


def shown_on(wiki: Wiki, file_page: Page) -> list[Page]:
    """The live article pages whose current text shows ``file_page``'s file."""
    last = {title: text for title, _, _, text in EDITS}
    return [p for p in wiki.pages if not p.deleted and not p.file
            and f"[[File:{file_page.file_name}" in last.get(p.title, "")]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_wiki_is_what_the_tests_expect(wiki: Wiki) -> None:
    assert any(p.deleted and p.file for p in wiki.pages)
    assert any(p.deleted and not p.file for p in wiki.pages)
    assert any(r.text_hidden for _, r in wiki.revisions.values())
    assert any(page.file["old"] for page in live_files(wiki))  # a file uploaded twice
    assert len(originals(wiki, with_gps=True)) == 4  # three files, one uploaded twice


def test_every_page_and_revision_ends_as_mediawiki_implies(wiki: Wiki, job: Path) -> None:
    ledger = {(t, i): s for t, i, s in rows(job, "SELECT item_type, id, state FROM ledger")}
    for page in wiki.pages:
        assert ledger[("page", str(page.id))] == ("missing" if page.deleted else "archived")
        for revision in page.revisions:
            expected = ("missing" if page.deleted else
                        "forbidden" if revision.text_hidden else "archived")
            assert ledger[("revision", str(revision.id))] == expected, (page.title, revision)


def test_every_public_page_and_revision_is_a_post_once(wiki: Wiki, job: Path) -> None:
    posts = {row[0]: row[1:] for row in rows(job, "SELECT id, author, created_at, text "
                                                  "FROM posts")}
    expected = {}
    for page in wiki.pages:
        if page.deleted:
            continue
        current = page.revisions[-1]
        expected[str(page.id)] = (current.user, current.timestamp, page.title)
        for revision in page.revisions:
            if not revision.text_hidden:
                expected[f"rev-{revision.id}"] = (revision.user, revision.timestamp, page.title)
    assert set(posts) == set(expected)
    for post_id, (user, timestamp, title) in expected.items():
        author, created_at, text = posts[post_id]
        assert (author, created_at) == (user, timestamp), post_id
        assert text.startswith(title), post_id
    assert rows(job, "SELECT url FROM captures GROUP BY url HAVING count(*) > 1") == []


def test_hidden_and_deleted_text_is_never_a_post(wiki: Wiki, job: Path) -> None:
    texts = " ".join(row[0] for row in rows(job, "SELECT text FROM posts"))
    assert "HOME ADDRESS" not in texts  # the hidden revision
    assert "will be deleted" not in texts  # the deleted page, in either revision


def test_every_original_is_archived_byte_for_byte_with_its_gps(wiki: Wiki, job: Path) -> None:
    media = dict(rows(job, "SELECT url, sha256 FROM media"))
    gps = {sha: (lat, lon) for sha, lat, lon in
           rows(job, "SELECT sha256, latitude, longitude FROM media_metadata")}
    for page, url, path, photo in originals(wiki):  # the earlier uploads of a file too
        assert media[url] == sha256(path), url
        expected = (None, None) if photo.latitude is None else pytest.approx(
            (photo.latitude, photo.longitude), abs=1e-5)
        assert gps[media[url]] == expected, url
    deleted = [p.file["url"] for p in wiki.pages if p.file and p.deleted]
    assert deleted and not set(deleted) & set(media)  # a deleted file is never fetched


def test_mediawiki_served_each_original_once_and_no_deleted_file(wiki: Wiki,
                                                                  job: Path) -> None:
    """MediaWiki's server's own request log (php -S), not lifeboat's records."""
    requests = served(wiki.folder / "php.log")
    assert all(method == "GET" for _, method, _ in requests)
    paths = [path for _, _, path in requests]
    for _, url, _, _ in originals(wiki):
        assert paths.count(urlsplit(url).path) == 1, url
    for page in wiki.pages:
        if page.deleted and page.file:
            assert urlsplit(page.file["url"]).path not in paths


def test_csv_export_has_every_original_with_gps_under_its_file_page(wiki: Wiki, job: Path,
                                                                     tmp_path: Path) -> None:
    out = tmp_path / "media.csv"
    result = lifeboat("export", str(job), "--format", "csv", "-o", str(out))
    assert result.returncode == 0, result.stderr
    with open(out, newline="", encoding="utf-8") as fh:
        exported = {(row["post_id"], row["media_url"]): row for row in csv.DictReader(fh)}
    for page, url, path, photo in originals(wiki, with_gps=True):
        articles = shown_on(wiki, page)
        assert articles, page.title
        for post in [page, *articles]:  # the file page, and each page showing the file
            row = exported[(str(post.id), url)]
            assert row["sha256"] == sha256(path)
            assert float(row["latitude"]) == pytest.approx(photo.latitude, abs=1e-5)
            assert float(row["longitude"]) == pytest.approx(photo.longitude, abs=1e-5)
            assert row["author"] == post.revisions[-1].user


async def test_map_shows_every_original_with_gps(wiki: Wiki, ds) -> None:
    data = (await ds.client.get("/archive/geotagged_media.json?_shape=objects&_size=max")).json()
    on_map = {row["sha256"]: row for row in data["rows"]}
    expected = {sha256(path): (page, photo) for page, _, path, photo in
                originals(wiki, with_gps=True)}
    assert set(on_map) == set(expected)
    for sha, (page, photo) in expected.items():
        assert on_map[sha]["latitude"] == pytest.approx(photo.latitude, abs=1e-5)
        assert on_map[sha]["longitude"] == pytest.approx(photo.longitude, abs=1e-5)
        assert on_map[sha]["posts"] == 1 + len(shown_on(wiki, page))


async def test_evidence_page_of_an_original_names_its_file_page(wiki: Wiki, ds) -> None:
    for page, url, path, _ in originals(wiki, with_gps=True):
        response = await ds.client.get(f"/-/evidence/{sha256(path)}")
        assert response.status_code == 200
        assert escape(url) in response.text
        for post in [page, *shown_on(wiki, page)]:
            assert f'href="/archive/posts/{post.id}"' in response.text, (page.title, post.title)


def test_the_job_verifies(job: Path) -> None:
    result = lifeboat("verify", str(job))
    assert result.returncode == 0, result.stdout + result.stderr



def test_the_bundled_profile_needs_only_the_api_variable() -> None:
    profile = load_profile("mediawiki", {"api": "https://wiki.example.org/w/api.php"})
    assert profile.name == "mediawiki" and profile.walks


def test_lifeboat_try_shows_a_page_the_files_it_credits_and_a_hidden_revision(
        wiki: Wiki) -> None:
    def run(*args: str) -> subprocess.CompletedProcess:
        return lifeboat("try", "mediawiki", *args, "--var", f"api={wiki.url}/api.php",
                        timeout=120)
    march = wiki.page("March")
    shown = run(str(march.id))
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert f"fields.author = '{march.revisions[-1].user}'" in shown.stdout
    assert f"would fetch file File:Protest march.jpg (credited to post {march.id})" \
        in shown.stdout
    hidden = next(r for _, r in wiki.revisions.values() if r.text_hidden)
    refused = run(str(hidden.id), "--item", "revision")
    assert refused.returncode == 1
    assert f"revision {hidden.id}: forbidden (HTTP 200)" in refused.stdout

