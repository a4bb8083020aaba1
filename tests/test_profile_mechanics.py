"""Profile mechanics on a real crawl of a loopback platform: redirected media, times,
one row per list element with paging, media credited through child items, field checks.

One imitation "forum + API" server (tests/platforms/base.py) serves every case; each test
crawls it with a small profile through the real CLI (Scrapy, WARC, ExifTool) and asserts
on what the CSV export and the database show.
"""

from __future__ import annotations

import csv
import math
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from crawl_helpers import ROOT, loopback_profile, rows, run_profile
from test_distributed import redis_base  # noqa: F401 (a fixture)
from platforms.base import PlatformFixture, Reply, json_reply, serve
from datasette_plugins.queries import POSTS_CARRYING_SQL
from spiders.profile import ProfileError, parse_profile
from platforms.make_assets import ASSETS


class MechanicsFixture(PlatformFixture):
    """Posts whose media redirect, shared and chained; see each test for its routes."""

    def setup(self) -> None:
        self.add_media("/cdn/paris.jpg", "paris.jpg")
        self.add_media("/cdn/sydney.jpg", "sydney.jpg")
        self.add_media("/cdn/newyork.jpg", "newyork.jpg")
        self.posts = {
            1: ["/m/a.jpg"],                    # 302 -> /cdn/paris.jpg
            2: ["/cdn/paris.jpg"],              # the redirect's target, given directly
            3: ["/m/b.jpg"],                    # another URL 302 -> /cdn/paris.jpg
            4: ["/m/c.jpg"],                    # 301 -> /m/c2.jpg -> 302 -> /cdn/sydney.jpg
            5: ["/cdn/new%20york.jpg?x=1 "],    # no redirect: a URL a post gives verbatim
        }
        self.redirects = {"/m/a.jpg": "/cdn/paris.jpg", "/m/b.jpg": "/cdn/paris.jpg",
                          "/m/c.jpg": "/m/c2.jpg", "/m/c2.jpg": "/cdn/sydney.jpg"}
        self.media["/cdn/new york.jpg"] = "newyork.jpg"

    def routes(self):
        return [(r"/api/posts/(\d+)", self.post), (r"/m/.*", self.redirect),
                (r"/api/times/(\d+)", self.time), (r"/api/threads/(\d+)", self.thread),
                (r"/t/(\d+)", self.thread_page), (r"/api/articles/(\d+)", self.article),
                (r"/api/attachments/(\d+)", self.attachment), (r"/api/feed/(\d+)", self.feed)]

    def feed(self, request) -> Reply:
        """Thread 1 as a REST list paged by Link headers (WordPress, GitHub, Mastodon)."""
        number, page = int(request.match.group(1)), int(request.arg("page", "1"))
        posts = self.THREADS.get(number, [])
        chunk = posts[(page - 1) * 3:page * 3]
        links = [f'<{self.url(f"/api/feed/{number}?page=1")}>; rel="first"']
        if page * 3 < len(posts):
            links.append(f'</api/feed/{number}?page={page + 1}>; title="a, b"; rel="next"')
        reply = json_reply([{"id": pid, "user": user, "at": at, "body": body}
                            for pid, user, at, body in chunk])
        reply.headers["Link"] = ", ".join(links)
        return reply

    # a forum: thread 1 has 7 posts over 3 pages of 3 that overlap by one; thread 2 has one
    # page whose second post reuses ID 12 of thread 1 with other content; 3 is missing
    THREADS = {1: [(10 + n, f"user{n % 3}", 1609941909000 + n * 60000, f"post {n}")
                   for n in range(7)],
               2: [(20, "user9", 1609950000000, "other thread"),
                   (12, "user9", 1609950060000, "same ID, other post")]}

    def thread(self, request) -> Reply:
        number, page = int(request.match.group(1)), int(request.arg("page", "1"))
        if number not in self.THREADS:
            return json_reply({"error": "no such thread"}, 404)
        posts = self.THREADS[number]
        chunk = posts[(page - 1) * 2:(page - 1) * 2 + 3]  # pages of 3, overlapping by 1
        more = (page - 1) * 2 + 3 < len(posts)
        return json_reply({"thread": number, "posts": [
            {"id": pid, "user": user, "at": at, "body": body,
             "photo": self.url("/cdn/paris.jpg") if pid == 13 else None}
            for pid, user, at, body in chunk],
            "next": f"/api/threads/{number}?page={page + 1}" if more else None})

    def thread_page(self, request) -> Reply:
        number, page = int(request.match.group(1)), int(request.arg("page", "1"))
        if number not in self.THREADS:
            return Reply(404, b"<h1>gone</h1>", "text/html")
        posts = self.THREADS[number]
        chunk = posts[(page - 1) * 2:(page - 1) * 2 + 3]
        more = (page - 1) * 2 + 3 < len(posts)
        articles = "".join(
            f'<article class="post" id="p{pid}"><a class="who">{user}</a>'
            f'<time datetime="{at // 1000}">t</time><div class="body"><p>{body}</p>'
            + ('<img src="sydney.jpg">' if pid == 14 else "") + "</div></article>"
            for pid, user, at, body in chunk)
        # relative links resolve against <base href>, as in a browser
        link = f'<a rel="next" href="../t/{number}?page={page + 1}">next</a>' if more else ""
        return Reply(200, f'<html><head><base href="/cdn/"></head><body>{articles}{link}'
                          f'</body></html>'.encode(), "text/html")

    # articles with attachments as separate items (like WordPress): the original is only
    # in the attachment; attachment 7 is shared by articles 1 and 2
    ARTICLES = {1: [7], 2: [7, 8], 3: []}
    ATTACHMENTS = {7: "/cdn/paris.jpg", 8: "/cdn/newyork.jpg"}

    def article(self, request) -> Reply:
        number = int(request.match.group(1))
        if number not in self.ARTICLES:
            return json_reply({}, 404)
        return json_reply({"id": number, "author": "ed", "attachments": self.ARTICLES[number],
                           "thumb": self.url("/cdn/sydney.jpg")})

    def attachment(self, request) -> Reply:
        number = int(request.match.group(1))
        return json_reply({"id": number, "sizes": {"large": self.url("/cdn/sydney.jpg")},
                           "original": self.url(self.ATTACHMENTS[number])})

    TIMES = {1: 1609941909, 2: "1609941909123", 3: "2021-01-06T15:05:09.250+01:00",
             4: "Wed, 06 Jan 2021 09:05:09 -0500", 5: "2021-01-06 15:05:09",
             6: 1609941909123, 7: "last Tuesday"}

    def time(self, request) -> Reply:
        number = int(request.match.group(1))
        if number not in self.TIMES:
            return json_reply({}, 404)
        return json_reply({"id": number, "published": self.TIMES[number]})

    def post(self, request) -> Reply:
        number = int(request.match.group(1))
        if number not in self.posts:
            return json_reply({"error": "not found"}, 404)
        return json_reply({"id": number, "user": "u%d" % number,
                           "media": [{"url": self.url(path)} for path in self.posts[number]]})

    def redirect(self, request) -> Reply:
        target = self.redirects[request.path]
        return Reply(302 if request.path != "/m/c.jpg" else 301, b"", "text/plain",
                     {"Location": target})

    def dispatch(self, raw_path, headers):
        if raw_path.startswith("/cdn/new%20york.jpg"):
            raw_path = "/cdn/new york.jpg"
        return super().dispatch(raw_path, headers)


REDIRECT_PROFILE = """
[items.post]
url = "${base}/api/posts/{id}"
table = "posts"
[items.post.ids]
start = 1
stop = 6
[items.post.fields]
id = "id"
author = "user"
media = "media[].url"
[items.post.discover]
media = "media[].url"
[items.media]
url = "{id}"
parse = "none"
table = "media"
"""


def export_csv(job: Path) -> list[dict]:
    subprocess.run([sys.executable, str(ROOT / "crawl.py"), "extract", str(job)], cwd=ROOT,
                   check=True, capture_output=True)
    out = job / "export.csv"
    subprocess.run([sys.executable, str(ROOT / "crawl.py"), "export", str(job), "-o", str(out)],
                   cwd=ROOT, check=True, capture_output=True)
    with open(out, encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def redirect_job(tmp_path_factory):
    base = tmp_path_factory.mktemp("redirects")
    with serve(MechanicsFixture()) as fixture:
        run_profile(loopback_profile("redirects", REDIRECT_PROFILE), base / "p.toml",
                    base / "job", fixture.base)
        yield fixture, base / "job"


def test_redirected_media_keep_their_posts_in_the_csv_with_sha256_and_gps(redirect_job):
    fixture, job = redirect_job
    exported = export_csv(job)
    by_post = {row["post_id"]: row for row in exported}
    assert sorted(by_post) == ["1", "2", "3", "4", "5"]
    for post, asset in (("1", "paris.jpg"), ("2", "paris.jpg"), ("3", "paris.jpg"),
                        ("4", "sydney.jpg"), ("5", "newyork.jpg")):
        row = by_post[post]
        assert row["sha256"], row
        assert math.isclose(float(row["latitude"]), ASSETS[asset].latitude, abs_tol=1e-5), row
        assert row["warc_filename"] and row["warc_offset"], row
    # the URL the post gave stays what the export shows
    assert by_post["1"]["media_url"] == fixture.url("/m/a.jpg")


def test_a_redirect_to_an_archived_url_is_not_fetched_again(redirect_job):
    fixture, job = redirect_job
    fetched = Counter(path for path, _ in fixture.requests)
    assert fetched["/cdn/paris.jpg"] == 1 and fetched["/cdn/sydney.jpg"] == 1
    # no media row points at a revisit record: each payload was fetched once
    assert rows(job, "SELECT count(*) FROM media m JOIN captures c ON c.id = m.capture_id "
                     "WHERE c.warc_type = 'revisit'") == [(0,)]
    final = dict(rows(job, "SELECT url, final_url FROM media"))
    assert final[fixture.url("/m/a.jpg")] == fixture.url("/cdn/paris.jpg")
    assert final[fixture.url("/m/c.jpg")] == fixture.url("/cdn/sydney.jpg")
    assert final[fixture.url("/cdn/paris.jpg")] is None
    # the target is in the ledger under its own URL: a later run never fetches it again
    states = dict(rows(job, "SELECT id, state FROM ledger WHERE item_type = 'media'"))
    assert states[fixture.url("/cdn/sydney.jpg")] == "archived"


def test_datasette_joins_redirected_media_to_their_posts(redirect_job):
    fixture, job = redirect_job
    db = sqlite3.connect(job / "archive.db")
    sha = db.execute("SELECT sha256 FROM media WHERE url = ?",
                     (fixture.url("/cdn/paris.jpg"),)).fetchone()[0]
    carried = {row[0] for row in db.execute(POSTS_CARRYING_SQL, {"sha256": sha})}
    assert carried == {"1", "2", "3"}


TIMES_PROFILE = """
[items.post]
url = "${base}/api/times/{id}"
table = "posts"
timezone = "Europe/Paris"
[items.post.ids]
start = 1
stop = 7
[items.post.fields]
created_at = "published"
"""


def test_created_at_is_iso_8601_utc_whatever_the_platform_wrote(tmp_path):
    with serve(MechanicsFixture()) as fixture:
        result = run_profile(loopback_profile("times", TIMES_PROFILE), tmp_path / "p.toml",
                             tmp_path / "job", fixture.base)
    stored = dict(rows(tmp_path / "job", "SELECT id, created_at FROM posts"))
    assert stored == {str(n): "2021-01-06T14:05:09Z" for n in range(1, 7)} | {
        "7": "last Tuesday"}
    raw = dict(rows(tmp_path / "job", "SELECT id, raw FROM posts"))
    assert '"1609941909123"' in raw["2"]  # the value as served stays in raw
    # the day facet and the time-window query find them
    assert rows(tmp_path / "job", "SELECT count(*) FROM posts WHERE date(created_at) = "
                                  "'2021-01-06'") == [(6,)]
    from datasette_plugins.queries import CANNED_QUERIES
    window = rows(tmp_path / "job", CANNED_QUERIES["posts_in_time_window"]["sql"].replace(
        ":start", "'2021-01-06T14:00:00Z'").replace(":end", "'2021-01-06T15:00:00Z'"))
    assert len(window) == 6
    # the one value that is no time is stored as given, and the crawl says so
    assert "not a time lifeboat reads" in result.stderr


THREADS_PROFILE = """
[items.thread]
url = "${base}/api/threads/{id}"
table = "posts"
rows = "posts"
next = "next"
[items.thread.ids]
start = 1
stop = 3
[items.thread.fields]
id = "id"
author = "user"
created_at = "at"
text = "body"
media = "photo"
[items.thread.discover]
media = "photo"
[items.media]
url = "{id}"
parse = "none"
table = "media"
"""


@pytest.fixture(scope="module")
def thread_job(tmp_path_factory):
    base = tmp_path_factory.mktemp("threads")
    with serve(MechanicsFixture()) as fixture:
        result = run_profile(loopback_profile("threads", THREADS_PROFILE), base / "p.toml",
                             base / "job", fixture.base)
        yield fixture, base / "job", result


def test_one_row_per_list_element_across_overlapping_pages(thread_job):
    fixture, job, _ = thread_job
    posts = {row[0]: row[1:] for row in rows(
        job, "SELECT id, author, created_at, text FROM posts")}
    # thread 1's seven posts once each, and thread 2's two (one replacing post 12)
    assert sorted(posts) == ["10", "11", "12", "13", "14", "15", "16", "20"]
    assert posts["11"] == ("user1", "2021-01-06T14:06:09Z", "post 1")
    fetched = Counter(path for path, _ in fixture.requests if path.startswith("/api/threads/1"))
    assert sorted(fetched) == ["/api/threads/1", "/api/threads/1?page=2",
                               "/api/threads/1?page=3"]
    ledger = rows(job, "SELECT id, state, reason FROM ledger WHERE item_type = 'thread' "
                       "ORDER BY id")
    assert ledger == [("1", "archived", None), ("2", "archived", None),
                      ("3", "missing", "HTTP 404")]
    # every page's capture is claimed by the thread: one capture row per page, in the WARC
    assert rows(job, "SELECT count(*) FROM captures WHERE url LIKE '%/api/threads/1%'") == [(3,)]
    assert rows(job, "SELECT post_id FROM post_media") == [("13",)]


def test_a_posts_id_given_twice_is_recorded_never_silent(thread_job):
    fixture, job, result = thread_job
    # whichever answer came last is in posts; the other is in post_collisions
    (kept,), = rows(job, "SELECT text FROM posts WHERE id = '12'")
    replaced = rows(job, "SELECT id, text, url, replaced_by_url FROM post_collisions")
    first, second = fixture.url("/api/threads/1"), fixture.url("/api/threads/2")
    if kept == "same ID, other post":
        assert replaced == [("12", "post 2", first, second)]
    else:
        assert replaced == [("12", "same ID, other post", second, first)]
    assert "posts.id '12' given twice" in result.stderr
    assert "posts.id '12' given twice" in (job / "logs" / "crawl.log").read_text()


HTML_THREADS_PROFILE = """
[items.thread]
url = "${base}/t/{id}"
parse = "html"
table = "posts"
rows = "article.post"
next = "a[rel=next]::attr(href)"
[items.thread.ids]
start = 1
stop = 1
[items.thread.fields]
id = { css = "::attr(id)", regex = 'p(\\d+)' }
author = "a.who::text"
created_at = "time::attr(datetime)"
text = { css = ".body ::text", join = " " }
media = ".body img::attr(src)"
[items.thread.discover]
media = ".body img::attr(src)"
[items.media]
url = "{id}"
parse = "none"
table = "media"
"""


def test_html_rows_and_paging(tmp_path):
    with serve(MechanicsFixture()) as fixture:
        run_profile(loopback_profile("html-threads", HTML_THREADS_PROFILE), tmp_path / "p.toml",
                    tmp_path / "job", fixture.base)
    job = tmp_path / "job"
    posts = dict(rows(job, "SELECT id, author || ' ' || created_at || ' ' || text FROM posts"))
    assert sorted(posts) == [str(n) for n in range(10, 17)]
    assert posts["16"] == "user0 2021-01-06T14:11:09Z post 6"
    assert rows(job, "SELECT post_id, media_url FROM post_media") == [
        ("14", fixture.url("/cdn/sydney.jpg"))]
    assert rows(job, "SELECT count(*) FROM media WHERE sha256 IS NOT NULL") == [(1,)]


CHILD_PROFILE = """
[items.article]
url = "${base}/api/articles/{id}"
table = "posts"
[items.article.ids]
start = 1
stop = 3
[items.article.fields]
id = "id"
author = "author"
media = "thumb"
[items.article.discover]
attachment = "attachments"
media = "thumb"
[items.attachment]
url = "${base}/api/attachments/{id}"
[items.attachment.fields]
media = "original"
[items.attachment.discover]
media = "original"
[items.media]
url = "{id}"
parse = "none"
table = "media"
"""


def test_media_of_a_child_item_are_credited_to_the_post(tmp_path):
    with serve(MechanicsFixture()) as fixture:
        run_profile(loopback_profile("articles", CHILD_PROFILE), tmp_path / "p.toml",
                    tmp_path / "job", fixture.base)
    exported = export_csv(tmp_path / "job")
    pairs = sorted((row["post_id"], row["media_url"].rsplit("/", 1)[1]) for row in exported)
    assert pairs == [("1", "paris.jpg"), ("1", "sydney.jpg"), ("2", "newyork.jpg"),
                     ("2", "paris.jpg"), ("2", "sydney.jpg"), ("3", "sydney.jpg")]
    assert all(row["latitude"] for row in exported)  # every original with its GPS
    fetched = Counter(path for path, _ in fixture.requests)
    assert fetched["/api/attachments/7"] == 1  # shared: fetched once, credited twice


def test_try_shows_every_field_row_by_row_and_what_matched_nothing(tmp_path):
    profile = tmp_path / "p.toml"
    profile.write_text(loopback_profile("threads", THREADS_PROFILE.replace(
        'author = "user"', 'author = "username"')), encoding="utf-8")
    with serve(MechanicsFixture()) as fixture:
        result = subprocess.run(
            [sys.executable, str(ROOT / "crawl.py"), "try", str(profile), "1",
             "--var", f"base={fixture.base}"], cwd=ROOT, capture_output=True, text=True,
            timeout=60)
        fetched = [path for path, _ in fixture.requests if path != "/robots.txt"]
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.startswith("thread 1: archived (HTTP 200)")
    assert "  row 1 fields.text = 'post 1'" in out
    assert "  row 1 fields.created_at = 1609941969000" in out
    assert "next page: " + fixture.url("/api/threads/1?page=2") in out
    assert "stored: 7 posts row(s)" in out
    assert "id='11' author=None created_at='2021-01-06T14:06:09Z'" in out
    assert "would fetch media " + fixture.url("/cdn/paris.jpg") in out
    assert out.rstrip().endswith("matched nothing:\n  items.thread.fields.author = 'username'")
    # one item: its three pages, nothing it discovered
    assert fetched == ["/api/threads/1", "/api/threads/1?page=2", "/api/threads/1?page=3"]


def test_try_of_a_missing_item_exits_1(tmp_path):
    profile = tmp_path / "p.toml"
    profile.write_text(loopback_profile("threads", THREADS_PROFILE), encoding="utf-8")
    with serve(MechanicsFixture()) as fixture:
        result = subprocess.run(
            [sys.executable, str(ROOT / "crawl.py"), "try", str(profile), "3",
             "--var", f"base={fixture.base}"], cwd=ROOT, capture_output=True, text=True,
            timeout=60)
    assert result.returncode == 1 and result.stdout.startswith("thread 3: missing (HTTP 404)")


def test_a_crawl_warns_about_a_field_that_matched_nothing(tmp_path):
    text = loopback_profile("redirects", REDIRECT_PROFILE.replace('author = "user"',
                                                                  'author = "owner.name"'))
    with serve(MechanicsFixture()) as fixture:
        result = run_profile(text, tmp_path / "p.toml", tmp_path / "job", fixture.base)
    warning = ("items.post.fields.author matched nothing in the first 5 answers of post: "
               "check it with `lifeboat try`")
    assert warning in result.stderr
    assert warning in (tmp_path / "job" / "logs" / "crawl.log").read_text()
    assert "fields.media matched nothing" not in result.stderr


@pytest.mark.parametrize("body,key,message", [
    ('table = "posts"\nrows = "posts"\n[items.t.fields]\ntext = "body"', "items.t.rows",
     "each element's own ID"),
    ('rows = "posts"', "items.t.rows", 'set table = "posts"'),
    ('table = "posts"\nrows = "posts[" \n[items.t.fields]\nid = "id"', "items.t.rows",
     "bad JMESPath"),
    ('next = "links.[next"', "items.t.next", "bad JMESPath"),
    ('max_pages = 0', "items.t.max_pages", "a number of pages"),
    ('next = "a"\nnext_link = "next"', "items.t.next_link", "not both"),
    ('timezone = "Mars/Olympus"', "items.t.timezone", "not a time zone name"),
    ('[items.t.fields]\nauthor = "a"', "items.t.fields", "only media may be given"),
])
def test_list_and_child_keys_are_checked_at_load(body, key, message):
    text = loopback_profile("x", '[items.t]\nurl = "${base}/t/{id}"\n' + body +
                            "\n[items.t.ids]\nstart = 1\nstop = 2\n")
    with pytest.raises(ProfileError) as error:
        parse_profile(text, "x.toml", {"base": "http://127.0.0.1:1"})
    assert f"x.toml: {key}: " in str(error.value) and message in str(error.value)


def test_workers_page_threads_and_credit_children_across_shards(redis_base, tmp_path):
    """Distributed: a thread's next pages are claimed with it; an attachment fetched in
    one shard is credited to the posts of another once the shards are merged."""
    profile = tmp_path / "p.toml"
    profile.write_text(loopback_profile("mixed", THREADS_PROFILE + CHILD_PROFILE.replace(
        "[items.media]\nurl = \"{id}\"\nparse = \"none\"\ntable = \"media\"\n", "")),
        encoding="utf-8")
    with serve(MechanicsFixture()) as fixture:
        cli = [sys.executable, str(ROOT / "crawl.py")]
        subprocess.run(cli + ["seed", str(profile), "--redis", redis_base, "--chunk", "1",
                              "--reset", "--var", f"base={fixture.base}"],
                       cwd=ROOT, check=True, capture_output=True)
        workers = [subprocess.Popen(cli + ["crawl", str(profile), "--redis", redis_base,
                                           "--worker", name, "--out", str(tmp_path / name),
                                           "--no-extract", "--concurrency", "1"],
                                    cwd=ROOT, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True)
                   for name in ("w1", "w2")]
        for worker in workers:
            _, err = worker.communicate(timeout=120)
            assert worker.returncode == 0, err
    merged = subprocess.run(cli + ["merge", str(tmp_path / "job"), str(tmp_path / "w1"),
                                   str(tmp_path / "w2")], cwd=ROOT, capture_output=True,
                            text=True)
    assert merged.returncode == 0, merged.stderr
    job = tmp_path / "job"
    ids = {pid for (pid,) in rows(job, "SELECT id FROM posts")}
    assert {"10", "11", "12", "13", "14", "15", "16", "20", "1", "2", "3"} == ids
    credited = set(rows(job, "SELECT post_id, media_url FROM post_media"))
    assert ("1", fixture.url("/cdn/paris.jpg")) in credited
    assert ("2", fixture.url("/cdn/paris.jpg")) in credited
    assert ("2", fixture.url("/cdn/newyork.jpg")) in credited


def test_pages_linked_by_a_link_header(tmp_path):
    profile = THREADS_PROFILE.replace('url = "${base}/api/threads/{id}"',
                                      'url = "${base}/api/feed/{id}"').replace(
        'rows = "posts"\nnext = "next"', 'rows = "@"\nnext_link = "next"').replace(
        "stop = 3", "stop = 1")
    with serve(MechanicsFixture()) as fixture:
        result = run_profile(loopback_profile("feed", profile), tmp_path / "p.toml",
                             tmp_path / "job", fixture.base)
        fetched = [path for path, _ in fixture.requests if path.startswith("/api/feed")]
    assert fetched == ["/api/feed/1", "/api/feed/1?page=2", "/api/feed/1?page=3"]
    assert sorted(pid for (pid,) in rows(tmp_path / "job", "SELECT id FROM posts")) == [
        str(n) for n in range(10, 17)]
    assert "next_link matched nothing" not in result.stderr
    assert "fields.media matched nothing" in result.stderr  # the feed has no photos
