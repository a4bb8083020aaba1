"""Politeness measured at the server: robots.txt before anything else, Retry-After pauses.

Each test runs the real CLI against a ``RecordingServer`` on loopback that notes when every
request arrived; the assertions are about those arrival times, not lifeboat's own logs.
"""

from __future__ import annotations

import json

import pytest

from crawl_helpers import loopback_profile, rows, run_profile
from recording_server import Answer, RecordingServer

pytestmark = pytest.mark.timeout(120)

ROBOTS_DELAY = 0.5


@pytest.fixture
def recording():
    servers = []

    def start(route):
        servers.append(RecordingServer(route))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_no_request_before_robots_txt_is_parsed(recording, tmp_path):
    """robots.txt answers after 0.5 s and disallows /api/; 16 requests wait for it at once:
    not one /api/ request reaches the server, and nothing else arrives before robots.txt
    was answered."""

    def route(path: str, _index: int) -> Answer:
        if path == "/robots.txt":
            return Answer(body=b"User-agent: *\nDisallow: /api/\n", delay=ROBOTS_DELAY,
                          content_type="text/plain")
        return Answer(body=json.dumps({"path": path}).encode())

    server = recording(route)
    profile = loopback_profile("robots", """
[politeness]
autothrottle = false
[items.api]
url = "${base}/api/{id}"
[items.api.ids]
start = 1
stop = 40
[items.page]
url = "${base}/page/{id}"
[items.page.ids]
start = 1
stop = 20
""")
    job = tmp_path / "job"
    run_profile(profile, tmp_path / "robots.toml", job, server.base, "--concurrency", "16")
    paths = server.paths()
    assert paths[0] == "/robots.txt" and paths.count("/robots.txt") == 1
    leaked = [p for p in paths if p.startswith("/api/")]
    assert not leaked, f"{len(leaked)} requests to a disallowed path went out: {leaked}"
    robots_answered = next(t for t, path, _ in server.sent if path == "/robots.txt")
    early = [p for t, p in server.arrivals if p != "/robots.txt" and t < robots_answered]
    assert not early, early
    assert sorted(p for p in paths if p.startswith("/page/")) == sorted(
        f"/page/{n}" for n in range(1, 21))
    states = rows(job, "SELECT item_type, state, reason, count(*) FROM ledger "
                       "GROUP BY item_type, state, reason")
    assert ("api", "forbidden", "disallowed by robots.txt", 40) in states
    assert ("page", "archived", None, 20) in states


def test_retry_after_pauses_the_host_from_the_first_429(recording, tmp_path):
    """Every 40th request is answered 429 with Retry-After: 2, ten times, at concurrency 8:
    within 1.5 s of a 429 leaving the server, at most 5 requests (over all ten) arrive."""
    limited: list[int] = []

    def route(path: str, index: int) -> Answer:
        if path == "/robots.txt":
            return Answer(status=404, body=b"", content_type="text/plain")
        if index % 40 == 39 and len(limited) < 10:
            limited.append(index)
            return Answer(status=429, body=b'{"error": "slow down"}',
                          headers=(("Retry-After", "2"),))
        return Answer(body=json.dumps({"path": path}).encode(), delay=0.02)

    server = recording(route)
    profile = loopback_profile("limited", """
[politeness]
autothrottle = false
[items.post]
url = "${base}/api/{id}"
[items.post.ids]
start = 1
stop = 440
""")
    job = tmp_path / "job"
    run_profile(profile, tmp_path / "limited.toml", job, server.base, "--concurrency", "8",
                timeout=110)
    answered_429 = [t for t, _, status in server.sent if status == 429]
    assert len(answered_429) == 10
    early = [(round(t - start, 3), path) for start in answered_429
             for t, path in server.arrivals if start < t <= start + 1.5]
    assert len(early) <= 5, f"{len(early)} requests within 1.5 s of a 429: {early}"
    assert rows(job, "SELECT state, count(*) FROM ledger GROUP BY state") == [("archived", 440)]
