"""Every bundled real-platform profile crawls its imitation platform end to end.

One module fixture starts the seven fixture servers (tests/platforms/) and runs the
seven ``lifeboat crawl`` commands at once, as real subprocesses (Scrapy, WARC writing,
ExifTool extraction). The tests then compare each job's ledger, posts, media and
media metadata with what its fixture serves.
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlite_utils
from click.testing import CliRunner

from crawl import cli
from platforms import FIXTURES
from platforms.base import PlatformFixture, serve
from platforms.make_assets import ASSET_DIR
from spiders.fields import PARSERS
from spiders.profile import PROFILES_DIR, ProfileError, load_profile, parse_profile

ROOT = Path(__file__).resolve().parent.parent
NAMES = sorted(FIXTURES)


@dataclass
class Crawl:
    """One finished crawl of one fixture."""

    fixture: PlatformFixture
    job: Path
    returncode: int
    output: str

    @property
    def db(self) -> sqlite_utils.Database:
        return sqlite_utils.Database(self.job / "archive.db")


def crawl_command(fixture: PlatformFixture, job: Path) -> list[str]:
    args = [sys.executable, str(ROOT / "crawl.py"), "crawl", fixture.profile, "--out", str(job)]
    for name, value in fixture.variables().items():
        args += ["--var", f"{name}={value}"]
    if fixture.id_range():
        args += ["--ids", fixture.id_range()]
    return args


@pytest.fixture(scope="module")
def crawls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Crawl]:
    """All seven crawls, run concurrently against their fixture servers."""
    base = tmp_path_factory.mktemp("platforms")
    with ExitStack() as stack:
        fixtures = {name: stack.enter_context(serve(FIXTURES[name]())) for name in NAMES}
        running = {name: subprocess.Popen(crawl_command(f, base / name), stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True)
                   for name, f in fixtures.items()}
        done = {}
        for name, process in running.items():
            output, _ = process.communicate(timeout=240)
            done[name] = Crawl(fixtures[name], base / name, process.returncode, output)
    return done


@pytest.fixture(params=NAMES)
def crawl(request: pytest.FixtureRequest, crawls: dict[str, Crawl]) -> Crawl:
    result = crawls[request.param]
    assert result.returncode == 0, result.output[-3000:]
    return result


def test_every_walked_item_ends_in_the_state_the_platform_implies(crawl: Crawl) -> None:
    expected = {(e.item_type, e.id): e.state for e in crawl.fixture.expected()}
    types = {item_type for item_type, _ in expected}
    ledger = {(row["item_type"], row["id"]): row["state"]
              for row in crawl.db["ledger"].rows if row["item_type"] in types}
    assert ledger == expected
    # the kinds of answers the fixture was built to give all occur
    assert "archived" in ledger.values() and "missing" in ledger.values()


def as_utc(served: str | None) -> str | None:
    """The time a platform served, as lifeboat stores it: ISO 8601 UTC to the second
    (spiders/profiles/README.md); a time without an offset is kept as local time."""
    if served is None:
        return None
    moment = datetime.fromisoformat(served.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%dT%H:%M:%S")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_posts_carry_author_time_and_text_as_served(crawl: Crawl) -> None:
    posts = {row["id"]: row for row in crawl.db["posts"].rows}
    expected = [e for e in crawl.fixture.expected() if e.state in ("archived", "deleted")
                and e.item_type in {"post", "status", "video", "blog", "file"}]
    assert sorted(posts) == sorted(e.id for e in expected)
    for item in expected:
        post = posts[item.id]
        assert post["profile"] == crawl.fixture.profile
        assert post["author"] == item.author, item
        assert post["created_at"] == as_utc(item.created_at), item
        assert post["deleted"] == (item.state == "deleted"), item
        if item.text:
            assert item.text in post["text"], item
        assert "color:" not in (post["text"] or ""), "CSS of a <style> block kept as text"


def test_media_are_archived_linked_and_geotagged(crawl: Crawl) -> None:
    db, fixture = crawl.db, crawl.fixture
    links: dict[str, set[str]] = {}
    for row in db["post_media"].rows:
        links.setdefault(row["post_id"], set()).add(row["media_url"])
    archived = [e for e in fixture.expected() if e.state == "archived" and e.media]
    assert archived, "the fixture serves no media"
    for item in archived:
        assert links.get(item.id) == set(item.media), item
    media = {row["url"]: row for row in db["media"].rows}
    metadata = {row["sha256"]: row for row in db["media_metadata"].rows}
    for url in {url for item in archived for url in item.media}:
        path = url.removeprefix(fixture.base)
        asset = fixture.media[path]
        assert media[url]["sha256"] == hashlib.sha256((ASSET_DIR / asset).read_bytes()).hexdigest()
        row = metadata[media[url]["sha256"]]
        position = fixture.gps(path)
        if position is None:
            assert row["latitude"] is None
        else:
            assert math.isclose(row["latitude"], position[0], abs_tol=1e-5), (url, row)
            assert math.isclose(row["longitude"], position[1], abs_tol=1e-5), (url, row)


def test_only_public_requests_were_made(crawl: Crawl) -> None:
    assert crawl.fixture.requests
    for path, headers in crawl.fixture.requests:
        assert "authorization" not in headers and "cookie" not in headers, path
        assert "lifeboat" in headers.get("user-agent", ""), path


def test_every_job_verifies(crawl: Crawl) -> None:
    result = CliRunner().invoke(cli, ["verify", str(crawl.job)])
    assert result.exit_code == 0, result.output


def test_profiles_command_lists_every_bundled_profile_and_its_variables() -> None:
    result = CliRunner().invoke(cli, ["profiles"])
    assert result.exit_code == 0
    for name in [*NAMES, "demo"]:
        assert f"{name}:" in result.output
    assert "--var instance=...   (required)" in result.output


@pytest.mark.parametrize("name", NAMES)
def test_bundled_profile_loads_with_only_its_required_variables(name: str) -> None:
    required = {"instance": "https://example.org", "media": "https://files.example.org"}
    profile = load_profile(name, {k: v for k, v in required.items()
                                  if f'{k} = ""' in (PROFILES_DIR / f"{name}.toml").read_text()})
    assert profile.name == name and profile.walks


BAD_SELECTORS = [
    ('author = ".owner a["', "items.page.fields.author", "bad CSS selector"),
    ('author = { xpath = "//a[" }', "items.page.fields.author", "bad XPath selector"),
    ('media = { css = "img", xpath = "//img" }', "items.page.fields.media", "exactly one of"),
    ('text = { css = "p", glue = " " }', "items.page.fields.text", "unknown selector key 'glue'"),
    ('media = { css = "img", regex = "(" }', "items.page.fields.media", "bad regex"),
    ('author = { jmespath = "a", css = "b" }', "items.page.fields.author", "jmespath is for"),
    ('media = []', "items.page.fields.media", "must be a non-empty"),
    ('media = { css = "img", replace = ["(", ""] }', "items.page.fields.media", "bad replace"),
    ('media = { css = "img", replace = "x" }', "items.page.fields.media", "replace is ["),
    ('text = { css = "p", visible_text = "yes" }', "items.page.fields.text",
     "visible_text must be true or false"),
]


@pytest.mark.parametrize("line,key,message", BAD_SELECTORS)
def test_a_bad_selector_is_an_error_naming_its_key(line: str, key: str, message: str) -> None:
    text = ('name = "x"\ncontact = "https://example.org"\n[scope]\n'
            'allowed_hosts = ["https://example.org"]\n[items.page]\n'
            'url = "https://example.org/view/{id}"\nparse = "html"\ntable = "posts"\n'
            '[items.page.ids]\nstart = 1\nstop = 2\n[items.page.fields]\n' + line + "\n")
    with pytest.raises(ProfileError) as error:
        parse_profile(text, "x.toml", {})
    assert f"x.toml: {key}: " in str(error.value) and message in str(error.value)


PAGE = (b'<html><body><h2 class="t">Title</h2><div class="body"><p>one</p><p>two</p>'
        b'<a href="/file/view/5/x"><img src="/a.jpg"></a><img src="https://cdn.example/b.jpg">'
        b'</div></body></html>')


@pytest.mark.parametrize("expression,result", [
    ("h2.t::text", "Title"),                                  # one match: the string
    (".body img::attr(src)", ["/a.jpg", "https://cdn.example/b.jpg"]),  # several: the list
    ("video::attr(src)", None),                               # none: NULL
    ({"css": ".body p::text", "join": " "}, "one two"),
    ({"xpath": "//div[@class='body']//text()", "join": "|"}, "one|two"),
    ({"css": ".body a::attr(href)", "regex": r"/file/view/(\d+)"}, "5"),
    (["h2.t::text", {"css": ".body p::text"}], ["Title", "one", "two"]),
    ({"css": ".body", "visible_text": True}, "one\n\ntwo"),          # a reader's text
    ({"css": "h2.t::text", "visible_text": True}, "Title"),            # text nodes as they are
])
def test_html_selector_results(expression, result) -> None:
    parser = PARSERS["html"]
    assert parser.search(parser.compile(expression), parser.load(PAGE)) == result


def test_json_field_can_run_a_selector_over_html_inside_the_json() -> None:
    parser = PARSERS["json"]
    document = parser.load(b'{"cooked": "<p>hi <a class=\\"lightbox\\" href=\\"/u/1.jpg\\">x</a></p>",'
                           b' "featured": [{"url": "/f.jpg"}]}')
    expression = ["featured[].url", {"jmespath": "cooked", "css": "a.lightbox::attr(href)"}]
    assert parser.search(parser.compile(expression), document) == ["/f.jpg", "/u/1.jpg"]
    assert parser.search(parser.compile("featured[0].url"), document) == "/f.jpg"


def test_visible_text_drops_style_and_keeps_punctuation_after_inline_tags() -> None:
    """WordPress's content.rendered: a Custom HTML block's CSS, an <em> before a comma."""
    parser = PARSERS["json"]
    document = parser.load(json.dumps({"title": {"rendered": "At dawn"}, "content": {
        "rendered": "<style>.callout { color: #c00; }</style><script>track()</script>"
                    "<p>Seen from <em>Trocad\u00e9ro</em>, at dawn.</p><p>Then <b>home</b>.</p>"}}
    ).encode())
    field = {"jmespath": "[title.rendered, content.rendered]", "css": "body",
             "visible_text": True, "join": "\n\n"}
    assert parser.search(parser.compile(field), document) == (
        "At dawn\n\nSeen from Trocad\u00e9ro, at dawn.\n\nThen home.")
