"""The spider's requests: the URLs Scrapy fetches and the scope check on them, with the
shortcuts of ``IdWalkSpider.request_for`` (verbatim URLs, scope known per host prefix)."""

from __future__ import annotations

from pathlib import Path

import pytest
import scrapy
from scrapy.utils.test import get_crawler

from archive.job import Job
from spiders.idwalk import IdWalkSpider, verbatim_template
from spiders.profile import PROFILES_DIR, load_profile, parse_profile

DEMO_VARS = {"api": "http://127.0.0.1:8080", "media": "http://127.0.0.1:8081/"}
IDS = ["17", "0042", "abcDEF", "a_b.c-d~e", "..", "ali ce/x", "é", "100%", "a?b#c", "x\ty"]


@pytest.fixture
def spider(tmp_path: Path):
    profile = load_profile("demo", DEMO_VARS)
    job = Job(tmp_path / "job", "demo", 10**9, {}).open()
    crawler = get_crawler(IdWalkSpider, {"URLLENGTH_LIMIT": 8192})
    yield IdWalkSpider.from_crawler(crawler, profile=profile, job=job,
                                    walks=[(item, item.ids) for item in profile.walks])
    job.close()


def skipped(spider: IdWalkSpider) -> list[list[str]]:
    spider.job._skipped.flush()
    text = (spider.job.logs_dir / "skipped.log").read_text(encoding="utf-8")
    return [line.split("\t")[1:] for line in text.splitlines()]


@pytest.mark.parametrize("item_id", IDS)
def test_request_url_is_what_scrapy_makes_of_the_item_url(spider, item_id):
    for item in spider.profile.items.values():
        request = spider.request_for(item, item_id)
        if item.url == "{id}":  # media: the ID is a link, not in scope here
            assert request is None
            continue
        assert request.url == scrapy.Request(item.url_for(item_id)).url
        assert request.meta["download_slot"] == "127.0.0.1:8080"
        assert request.meta["lifeboat_item"] == (item.name, item_id)


@pytest.mark.parametrize("template", ["${api}/api/v1/post s/{id}", "${api}/a%2{id}",
                                      "${api}/p/{id}?q=a|b", "${api}/p/{id}"])
def test_unusual_templates_give_the_urls_scrapy_makes(tmp_path, template):
    text = (PROFILES_DIR / "demo.toml").read_text(encoding="utf-8")
    text = text.replace('url = "${api}/api/v1/posts/{id}"', f'url = "{template}"', 1)
    profile = parse_profile(text, "demo.toml", DEMO_VARS)
    job = Job(tmp_path / "job", "demo", 10**9, {}).open()
    try:
        spider = IdWalkSpider.from_crawler(get_crawler(IdWalkSpider), profile=profile, job=job,
                                           walks=[])
        post = profile.items["post"]
        for item_id in IDS:
            assert spider.request_for(post, item_id).url == scrapy.Request(
                post.url_for(item_id)).url
    finally:
        job.close()


def test_only_safe_templates_skip_url_normalisation():
    assert verbatim_template("http://127.0.0.1:8080/api/v1/posts/{id}")
    assert verbatim_template("https://x.org/api/v3/post?id={id}&limit=40")
    assert not verbatim_template("{id}")
    assert not verbatim_template("http://{id}.x.org/posts")  # the ID would be a host
    assert not verbatim_template("https://x.org/a%2{id}")  # %2 + ID may form an escape
    assert not verbatim_template("https://x.org/a b/{id}")  # the space becomes %20
    assert not verbatim_template("https://bücher.de/{id}")  # the host becomes punycode


@pytest.mark.parametrize("url, reason", [
    ("http://127.0.0.1:8080@evil.example/x", "host evil.example"),
    ("http://evil.example\\@127.0.0.1:8080/x", "host evil.example"),
    ("http://127.0.0.1:9/x", "private address 127.0.0.1:9"),
    ("ftp://127.0.0.1:8080/x", "not an http(s) URL"),
    ("http://127.0.0.1:8080#@evil.example/x", None),
])
def test_scope_is_checked_on_every_url_after_its_host_was_allowed(spider, url, reason):
    post = spider.profile.items["post"]
    assert spider.request_for(post, "1") is not None  # the allowed host is known now
    request = spider.request_for(post, "1", url=url, found_in="http://127.0.0.1:8080/p/1")
    if reason is None:
        assert request is not None and request.meta["download_slot"] == "127.0.0.1:8080"
        return
    assert request is None
    [(logged_url, logged_reason, found_in)] = skipped(spider)
    assert logged_url == url and reason in logged_reason
    assert found_in == "http://127.0.0.1:8080/p/1"
