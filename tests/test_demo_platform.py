"""The demo platform: states, ground truth, determinism, faults, Range, and media metadata
read back with the real ExifTool."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from demo.media import ensure_media

needs_exiftool = pytest.mark.skipif(shutil.which("exiftool") is None,
                                    reason="exiftool not installed (./bootstrap.sh installs it)")


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of a GET, HTTP errors included."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def observed_state(status: int, body: bytes) -> str:
    """The state a crawler would record for a post response."""
    if status == 404:
        return "missing"
    if status == 403:
        return "forbidden"
    assert status == 200, status
    try:
        document = json.loads(body)
    except ValueError:
        return "malformed"
    return "deleted" if document["deleted"] else "archived"


def fetch_all_posts(handle) -> dict[str, tuple[int, dict[str, str], bytes]]:
    return {pid: fetch(handle.post_url(pid)) for pid in handle.truth["posts"]}


@pytest.fixture(scope="module")
def posts(demo_platform):
    return fetch_all_posts(demo_platform)


def test_every_post_is_in_the_state_the_truth_says(demo_platform, posts):
    truth = demo_platform.truth
    assert sorted(truth["posts"], key=int) == [str(i) for i in range(1, 201)]
    seen = {pid: observed_state(status, body) for pid, (status, _, body) in posts.items()}
    assert seen == truth["posts"]
    assert set(Counter(seen.values())) == {"archived", "deleted", "missing", "forbidden",
                                           "malformed"}
    assert fetch(demo_platform.post_url(201))[0] == 404
    for status, headers, _ in posts.values():
        assert headers["Content-Type"] == "application/json; charset=utf-8"


def test_posts_have_the_documented_shape_and_media(demo_platform, posts):
    truth = demo_platform.truth
    for pid, (status, _, body) in posts.items():
        state = truth["posts"][pid]
        if state == "forbidden":
            assert json.loads(body) == {"error": "this post is private"}
        if state not in ("archived", "deleted"):
            continue
        post = json.loads(body)
        assert set(post) >= {"id", "author", "created_at", "text", "deleted", "reply_to",
                             "repost_of", "media"}
        assert post["id"] == int(pid)
        datetime.strptime(post["created_at"], "%Y-%m-%dT%H:%M:%SZ")
        if state == "deleted":
            assert post["text"] is None and post["media"] == []
            continue
        urls = [m["url"] for m in post["media"]]
        assert urls == truth["post_media"][pid]
        for item in post["media"]:
            assert item["url"] in truth["media"]
            assert item["type"] == truth["media"][item["url"]]["content_type"]
        if post["repost_of"]:
            original = json.loads(posts[str(post["repost_of"])][2])
            assert urls == [m["url"] for m in original["media"]]


def test_texts_are_awkward_unicode_and_html(posts):
    texts = " ".join(json.loads(body)["text"] or "" for status, _, body in posts.values()
                     if status == 200 and observed_state(status, body) == "archived")
    assert "<script>alert(1)</script>" in texts
    assert any("\u0600" <= ch <= "\u06ff" for ch in texts), "no Arabic"
    assert any("\u0590" <= ch <= "\u05ff" for ch in texts), "no Hebrew"
    assert any(ord(ch) > 0xFFFF for ch in texts), "no emoji outside the BMP"
    raw = b"".join(body for _, _, body in posts.values())
    assert "مرحبا".encode() in raw, "non-ASCII should be sent as UTF-8, not \\u escapes"


def test_every_author_has_a_user_page(demo_platform, posts):
    truth = demo_platform.truth
    authors = {json.loads(body)["author"] for status, _, body in posts.values()
               if status == 200 and observed_state(status, body) in ("archived", "deleted")}
    assert authors <= set(truth["users"])
    for username in truth["users"]:
        status, _, body = fetch(demo_platform.user_url(username))
        user = json.loads(body)
        assert status == 200 and user["username"] == username
        assert set(user) >= {"display_name", "bio", "joined_at", "avatar"}
        assert user["avatar"] is None or user["avatar"] in truth["media"]
    assert fetch(demo_platform.user_url("nobody-here"))[0] == 404


def test_robots_txt_allows_everything_on_both_hosts(demo_platform):
    for base in (demo_platform.api, demo_platform.media):
        status, headers, body = fetch(f"{base}/robots.txt")
        assert status == 200 and b"Allow: /" in body
        assert headers["Content-Type"].startswith("text/plain")


def test_media_payloads_match_truth_with_reuploads_and_shared_urls(demo_platform):
    truth = demo_platform.truth
    for url, entry in truth["media"].items():
        status, headers, body = fetch(url)
        assert status == 200
        assert headers["Content-Type"] == entry["content_type"]
        assert int(headers["Content-Length"]) == len(body) == entry["size"]
        assert hashlib.sha256(body).hexdigest() == entry["sha256"]
    by_hash = Counter(entry["sha256"] for entry in truth["media"].values())
    assert max(by_hash.values()) >= 2, "no byte-identical re-upload under a second URL"
    shown = Counter(url for urls in truth["post_media"].values() for url in urls)
    assert max(shown.values()) >= 2, "no media URL shared by several posts"
    kinds = Counter((e["kind"], e["variant"]) for e in truth["media"].values())
    assert {("photo", "gps"), ("photo", "nogps"), ("photo", "stripped"), ("video", "gps"),
            ("video", "nogps")} <= set(kinds)
    assert fetch(f"{demo_platform.media}/media/nothing.jpg")[0] == 404


def test_media_range_requests(demo_platform):
    url, entry = next((u, e) for u, e in demo_platform.truth["media"].items()
                      if e["kind"] == "video")
    whole = fetch(url)[2]
    status, headers, body = fetch(url, {"Range": "bytes=10-99"})
    assert status == 206 and body == whole[10:100]
    assert headers["Content-Range"] == f"bytes 10-99/{len(whole)}"
    status, headers, body = fetch(url, {"Range": "bytes=-16"})
    assert status == 206 and body == whole[-16:]
    status, headers, body = fetch(url, {"Range": "bytes=100-"})
    assert status == 206 and body == whole[100:]
    status, headers, _ = fetch(url, {"Range": f"bytes={len(whole)}-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(whole)}"


def test_keep_alive_and_head(demo_platform):
    connection = http.client.HTTPConnection(urlsplit(demo_platform.api).netloc, timeout=10)
    for pid in ("1", "2", "3"):
        connection.request("GET", f"/api/v1/posts/{pid}")
        response = connection.getresponse()
        assert observed_state(response.status, response.read()) == demo_platform.truth["posts"][pid]
    connection.request("HEAD", "/api/v1/posts/1")
    response = connection.getresponse()
    assert response.status == 200 and int(response.headers["Content-Length"]) > 0
    assert response.read() == b""
    connection.close()


def utc_from_exif(local: str, offset: str) -> str:
    """'2021:01:06 09:05:09' at '-05:00' -> '2021-01-06T14:05:09Z'."""
    moment = datetime.strptime(local + offset.replace(":", ""), "%Y:%m:%d %H:%M:%S%z")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_back(handle, directory: Path) -> dict[str, dict]:
    """Download every media URL of the truth; ExifTool JSON per URL, from ONE exiftool run."""
    names = {}
    for url in handle.truth["media"]:
        path = directory / url.rsplit("/", 1)[1]
        path.write_bytes(fetch(url)[2])
        names[path.name] = url
    done = subprocess.run(["exiftool", "-j", "-n", "-G1", "-a", "-api", "QuickTimeUTC=1",
                           *sorted(names)], cwd=directory, capture_output=True, text=True,
                          check=True, env=dict(os.environ, TZ="UTC"))
    return {names[item["SourceFile"]]: item for item in json.loads(done.stdout)}


def gps_of(tags: dict) -> list[tuple[float, float, float]]:
    """Every GPS position ExifTool reports, as signed (lat, lon, alt)."""
    positions = []
    if "GPS:GPSLatitude" in tags:  # EXIF; the Composite tags carry the signs
        positions.append((tags["Composite:GPSLatitude"], tags["Composite:GPSLongitude"],
                          tags["Composite:GPSAltitude"]))
    for group in ("Keys", "UserData"):
        if f"{group}:GPSCoordinates" in tags:
            lat, lon, alt = (float(v) for v in str(tags[f"{group}:GPSCoordinates"]).split())
            positions.append((lat, lon, alt))
    return positions


@needs_exiftool
@pytest.mark.parametrize("platform", ["fixture-200-seed7", "cli-500-default-seed"])
def test_media_metadata_read_back_by_exiftool_matches_truth(platform, demo_platform,
                                                            demo_factory, tmp_path):
    handle = demo_platform if platform.startswith("fixture") else demo_factory(posts=500)
    tags_by_url = read_back(handle, tmp_path)
    media = handle.truth["media"]
    assert len(tags_by_url) == len(media)
    for url, entry in media.items():
        tags = tags_by_url[url]
        positions = gps_of(tags)
        if entry["latitude"] is None:
            assert positions == [] and not any("GPS" in key for key in tags), url
        else:
            expected = (entry["latitude"], entry["longitude"], entry["altitude"])
            assert len(positions) == (1 if entry["kind"] == "photo" else 2), url
            for position in positions:
                assert position == pytest.approx(expected, abs=1e-6), url
        if entry["kind"] == "photo" and entry["captured_at"]:
            assert utc_from_exif(tags["ExifIFD:DateTimeOriginal"],
                                 tags["ExifIFD:OffsetTimeOriginal"]) == entry["captured_at"]
        elif entry["kind"] == "video" and entry["captured_at"]:
            for tag in ("QuickTime:CreateDate", "Keys:CreationDate"):  # UTC / local + offset
                value = tags[tag]
                assert utc_from_exif(value[:19], value[19:] or "+00:00") == entry["captured_at"]
        if entry["variant"] == "stripped":
            assert not any(key.endswith(("Make", "Model", "DateTimeOriginal", "CreationDate"))
                           for key in tags), url
    values = [e for e in media.values() if e["latitude"] is not None]
    assert any(e["latitude"] < 0 for e in values) and any(e["longitude"] < 0 for e in values)
    assert any(e["altitude"] < 0 for e in values)
    assert any(e["kind"] == "video" and e["latitude"] is not None for e in values)


def without_ports(handle, text: str) -> str:
    return text.replace(handle.api, "API").replace(handle.media, "MEDIA")


def test_same_seed_same_platform_other_seed_another(demo_platform, demo_factory):
    again = demo_factory(posts=200, seed=7)
    assert without_ports(again, json.dumps(again.truth)) == without_ports(
        demo_platform, json.dumps(demo_platform.truth))
    for pid in ("1", "2", "50", "199"):
        assert without_ports(again, fetch(again.post_url(pid))[2].decode()) == without_ports(
            demo_platform, fetch(demo_platform.post_url(pid))[2].decode())
    other = demo_factory(posts=200, seed=8)
    assert other.truth["posts"] != demo_platform.truth["posts"]


@needs_exiftool
def test_media_generation_is_deterministic_without_the_cache(tmp_path):
    first = ensure_media(8, seed=3, cache_root=tmp_path / "a")
    second = ensure_media(8, seed=3, cache_root=tmp_path / "b")
    assert [p.read_bytes() for p in first.values()] == [p.read_bytes() for p in second.values()]
    assert len({p.read_bytes() for p in first.values()}) == 8


def fetch_with_retries(url: str, limit: int = 3) -> tuple[list[str], int, bytes]:
    """Retry through faults: (faults met, final status, final body)."""
    faults = []
    for _ in range(limit):
        try:
            status, headers, body = fetch(url)
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError):
            faults.append("drop")
            continue
        if status in (429, 503):
            assert headers["Retry-After"] == "1"
            faults.append(str(status))
            continue
        return faults, status, body
    raise AssertionError(f"{url} still failing after {limit} attempts: {faults}")


def test_rate_limit_429_with_retry_after_is_transient(demo_factory):
    handle = demo_factory(posts=40, seed=5, rate_limit_every=4)
    seen = Counter()
    for pid, state in handle.truth["posts"].items():
        faults, status, body = fetch_with_retries(handle.post_url(pid))
        seen.update(faults)
        assert observed_state(status, body) == state
    assert seen["429"] >= 10 and set(seen) == {"429"}


def test_503s_and_dropped_connections_are_transient(demo_factory):
    handle = demo_factory(posts=60, seed=5, error_rate=0.3, drop_rate=0.2)
    seen = Counter()
    for pid, state in handle.truth["posts"].items():
        faults, status, body = fetch_with_retries(handle.post_url(pid))
        seen.update(faults)
        assert observed_state(status, body) == state
    assert seen["503"] >= 5 and seen["drop"] >= 3
    assert fetch(f"{handle.api}/_truth.json")[0] == 200  # the truth itself is never faulted


def test_latency_delays_each_response_without_blocking_others(demo_factory):
    handle = demo_factory(posts=20, seed=5, latency_ms=400)
    durations = []

    def one(pid: int) -> None:
        started = time.monotonic()
        assert fetch(handle.post_url(pid))[0] in (200, 403, 404)
        durations.append(time.monotonic() - started)

    started = time.monotonic()
    threads = [threading.Thread(target=one, args=(pid,)) for pid in range(1, 11)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert min(durations) >= 0.39
    assert time.monotonic() - started < 2.5, "delayed responses were served one after another"


def test_stops_cleanly_on_sigterm(demo_factory):
    handle = demo_factory(posts=5, seed=2)
    assert fetch(handle.post_url(1))[0] == 200
    handle.stop()
    assert handle.process.returncode == 0
    with pytest.raises(urllib.error.URLError):
        fetch(handle.post_url(1))
