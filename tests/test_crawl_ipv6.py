"""IPv6 hosts keep their brackets: a real crawl of a server on [::1] stores and logs
``[::1]:PORT``, and the scope refuses ``[::1:PORT]`` (another address) and ``[fd00::1]``
(a private one) with the reason, without a request."""

from __future__ import annotations

import json
import socket

import pytest

from crawl_helpers import loopback_profile, rows, run_profile
from recording_server import Answer, RecordingServer

pytestmark = pytest.mark.timeout(120)


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback (::1) on this machine")
def test_crawl_over_ipv6_keeps_brackets_and_scope(tmp_path):
    server = None

    def route(path: str, _index: int) -> Answer:
        port = server.server.server_port
        if path.startswith("/api/"):
            n = path.rsplit("/", 1)[1]
            links = [f"{server.base}/m/{n}.bin", f"http://[::1:{port}]/m/x{n}.bin",
                     f"http://[fd00::1]/m/y{n}.bin", f"http://[fd00::1]:{port}/m/z{n}.bin"]
            return Answer(body=json.dumps({"id": int(n), "links": links}).encode())
        if path.startswith("/m/"):
            return Answer(body=b"\x00media" + path.encode(), content_type="image/jpeg")
        return Answer(status=404, body=b"", content_type="text/plain")

    server = RecordingServer(route, host="::1")
    try:
        profile = loopback_profile("v6", """
[items.post]
url = "${base}/api/{id}"
[items.post.ids]
start = 1
stop = 3
[items.post.discover]
media = "links"
[items.media]
url = "{id}"
parse = "none"
table = "media"
""")
        job = tmp_path / "job"
        host = server.base.split("//")[1]  # [::1]:PORT
        run_profile(profile, tmp_path / "v6.toml", job, server.base)
        paths = set(server.paths())
    finally:
        server.close()
    assert paths == {"/robots.txt", *(f"/api/{n}" for n in (1, 2, 3)),
                     *(f"/m/{n}.bin" for n in (1, 2, 3))}
    assert rows(job, "SELECT item_type, state, count(*) FROM ledger GROUP BY 1, 2") == [
        ("media", "archived", 3), ("post", "archived", 3)]
    urls = [url for url, in rows(job, "SELECT url FROM captures")]
    assert urls and all(url.startswith(f"http://{host}/") for url in urls), urls
    slots = {line.split("\t")[2] for line in
             (job / "logs" / "requests.log").read_text(encoding="utf-8").splitlines()}
    assert slots == {host}
    skipped = (job / "logs" / "skipped.log").read_text(encoding="utf-8")
    port = host.rsplit(":", 1)[1]
    for n in (1, 2, 3):
        # Scrapy refuses to make a request of it at all; the scope would too (below)
        assert f"http://[::1:{port}]/m/x{n}.bin\tnot a valid URL" in skipped
        assert f"http://[fd00::1]/m/y{n}.bin\tprivate address [fd00::1] not listed" in skipped
        assert (f"http://[fd00::1]:{port}/m/z{n}.bin\tprivate address [fd00::1]:{port} "
                "not listed") in skipped


def test_scope_compares_bracketed_hosts():
    from spiders.profile import parse_profile

    profile = parse_profile(
        'name = "v6"\ncontact = "https://example.org/operator"\n[vars]\nbase = ""\n'
        '[scope]\nallowed_hosts = ["${base}"]\n[items.post]\nurl = "${base}/p/{id}"\n'
        '[items.post.ids]\nstart = 1\nstop = 2\n',
        "v6.toml", {"base": "http://[::1]:8080"})
    assert profile.allowed_hosts == ("[::1]:8080",)
    assert profile.scope_reason("http://[::1]:8080/p/1") is None
    assert profile.scope_reason("http://[::1:8080]/p/1") == \
        "host [::1:8080] not listed in scope.allowed_hosts"
    for url, netloc in [("http://[fd00::1]/x", "[fd00::1]"),
                        ("http://[fd00::1]:8080/x", "[fd00::1]:8080"),
                        ("http://[::ffff:10.0.0.1]/x", "[::ffff:10.0.0.1]"),
                        ("http://[fe80::1%25eth0]/x", "[fe80::1%25eth0]"),
                        ("http://[::1]:8081/x", "[::1]:8081")]:
        assert profile.scope_reason(url) == \
            f"private address {netloc} not listed in scope.allowed_hosts", url
