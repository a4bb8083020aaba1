"""The distributed crawl on a real redis-server: leases, SIGKILLed workers, merge, verify."""

from __future__ import annotations

import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from crawl_helpers import ROOT, assert_matches_truth, rows, wait_for

pytestmark = pytest.mark.timeout(240)

REDIS_SERVER = shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def redis_base(tmp_path_factory) -> str:
    """A throwaway redis-server on a free loopback port (no persistence): its URL."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (./bootstrap.sh test installs Debian's "
                    "redis-server package)")
    import redis

    for _attempt in range(5):
        port = _free_port()
        server = subprocess.Popen(
            [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(tmp_path_factory.mktemp("redis"))],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while server.poll() is None and time.monotonic() < deadline:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        if server.poll() is None:
            break
    else:
        pytest.fail("redis-server did not start")
    yield f"redis://127.0.0.1:{port}"
    server.terminate()
    server.wait(10)


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, str(ROOT / "crawl.py"), *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def start_worker(redis_url: str, name: str, shard: Path, concurrency: int = 2
                 ) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "crawl.py"), "crawl", "demo", "--redis", redis_url,
         "--worker", name, "--out", str(shard), "--no-extract", "--concurrency",
         str(concurrency)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def start_pair(redis_url: str, shards: Path) -> tuple[subprocess.Popen, subprocess.Popen]:
    """w1, then w2 once w1 is crawling (so that w1 is surely mid-run when it is killed)."""
    w1 = start_worker(redis_url, "w1", shards / "w1")
    wait_for(lambda: ledger_count(shards / "w1") >= 1, timeout=60)
    return w1, start_worker(redis_url, "w2", shards / "w2")


def ledger_count(shard: Path) -> int:
    try:
        db = sqlite3.connect(shard / "archive.db", timeout=5)
        try:
            return db.execute("SELECT count(*) FROM ledger WHERE state != 'queued'").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def finish(worker: subprocess.Popen, timeout: float = 120) -> str:
    _, err = worker.communicate(timeout=timeout)
    assert worker.returncode == 0, err
    return err


def chunks_said(stderr: str, verb: str) -> set[str]:
    """Chunk numbers a worker reported as claimed or done on stderr."""
    return set(re.findall(r"claimed chunk (\d+)" if verb == "claimed" else r"chunk (\d+) done",
                          stderr))


def seed(redis_url: str, platform, posts: int, *extra: str) -> None:
    cli("seed", "demo", "--redis", redis_url, "--ids", f"1-{posts}", "--chunk", "20",
        "--var", f"api={platform.api}", "--var", f"media={platform.media}", "--reset", *extra)


def assert_each_item_once(job: Path, platform) -> None:
    """Every public post and every media file has exactly one capture in the merge."""
    truth = platform.truth
    per_url = Counter(url for (url,) in rows(job, "SELECT url FROM captures"))
    for pid, state in truth["posts"].items():
        if state in ("archived", "deleted"):
            assert per_url[platform.post_url(int(pid))] == 1, pid
    for url in truth["media"]:
        assert per_url[url] == 1, url


def test_worker_needs_a_seeded_walk_and_redis(redis_base, tmp_path):
    args = [sys.executable, str(ROOT / "crawl.py"), "crawl", "demo", "--out", str(tmp_path / "w")]
    unseeded = subprocess.run([*args, "--redis", f"{redis_base}/7", "--worker", "w1"],
                              capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert unseeded.returncode != 0 and "lifeboat seed demo --redis" in unseeded.stderr
    alone = subprocess.run([*args, "--worker", "w1"], capture_output=True, text=True, cwd=ROOT,
                           timeout=60)
    assert alone.returncode != 0 and "--worker goes with --redis" in alone.stderr


def test_leases_expire_renew_and_finish_once(redis_base):
    from spiders.chunks import ChunkQueue, SeedMismatch, connect

    queue = ChunkQueue(connect(f"{redis_base}/1"), "leases")
    assert queue.seed([("post", 1, 10, "ascending")], 4, 0.4, {}, reset=True) == 3
    assert queue.seed([("post", 1, 10, "ascending")], 4, 0.4, {}) == 3  # same walk: no change
    with pytest.raises(SeedMismatch):
        queue.seed([("post", 1, 99, "ascending")], 4, 0.4, {})
    first, second = queue.claim("w1"), queue.claim("w2")
    assert (first.start, first.stop, second.start, second.stop) == (1, 4, 5, 8)
    time.sleep(0.25)
    assert queue.renew("w1", [first.number]) == []  # w1 alive; w2 stops renewing
    time.sleep(0.25)
    taken = queue.claim("w3")
    assert (taken.number, taken.start) == (second.number, 5)  # w2's chunk went back
    assert queue.counts() == {"chunks": 3, "pending": 1, "leased": 2, "done": 0}
    assert queue.complete(taken.number, "w3") is True
    assert queue.complete(taken.number, "w2") is False  # finished twice, recorded once
    assert queue.r.hget(queue.key("done"), taken.number) == "w3"
    assert queue.renew("w2", [second.number]) == [second.number]
    assert queue.release("w1") == [first.number]
    assert [c.number for c in queue.held_by("w3")] == []
    while (chunk := queue.claim("w4")) is not None:
        queue.complete(chunk.number, "w4")
    assert queue.all_done()


def test_discovered_items_belong_to_the_chunk_that_found_them(redis_base):
    from spiders.chunks import ChunkQueue, connect

    queue = ChunkQueue(connect(f"{redis_base}/2"), "items")
    queue.seed([("post", 1, 4, "ascending")], 2, 30, {}, reset=True)
    a, b = queue.claim("w1"), queue.claim("w2")
    one, two = "media:http://x/1.jpg", "user:ann"
    assert queue.claim_items(a.number, [one]) == {one}
    assert queue.claim_items(b.number, [one, two]) == {two}
    assert queue.claim_items(a.number, [one]) == {one}  # a walked again
    queue.report({a.number: [one]})
    assert queue.claim_items(a.number, [one]) == set()
    assert queue.found(a.number) == {one} and queue.found(b.number) == {two}
    queue.complete(b.number, "w2")
    assert queue.claim_items(b.number, [two]) == set()  # done: its owner fetched it


def test_retry_after_pauses_every_worker(redis_base):
    from spiders.chunks import ChunkQueue, connect

    one = ChunkQueue(connect(f"{redis_base}/3"), "pause")
    other = ChunkQueue(connect(f"{redis_base}/3"), "pause")
    assert other.host_pause("api.example:80") == 0
    one.pause_host("api.example:80", 2.0)
    one.pause_host("api.example:80", 0.5)  # a shorter pause never shortens a longer one
    assert 1.5 < other.host_pause("api.example:80") <= 2.0
    assert other.host_pause("media.example:80") == 0


def test_the_workers_awaited_queue_answers_as_the_blocking_one(redis_base):
    """A worker's calls on its event loop (redis.asyncio) see and change the same walk."""
    import asyncio

    from spiders.chunks import AsyncChunkQueue, ChunkQueue, connect, connect_async

    url = f"{redis_base}/9"
    queue = ChunkQueue(connect(url), "awaited")
    queue.seed([("post", 1, 6, "ascending")], 3, 30, {}, reset=True)

    async def worker() -> None:
        awaited = AsyncChunkQueue(connect_async(url), "awaited")
        try:
            chunk = await awaited.claim("w1")
            assert (chunk.item_type, chunk.start, chunk.stop) == ("post", 1, 3)
            assert [c.number for c in queue.held_by("w1")] == [chunk.number]
            assert await awaited.held_by("w1") == queue.held_by("w1")
            assert await awaited.renew("w1", [chunk.number]) == []
            found = "user:ann"
            assert await awaited.claim_items(chunk.number, [found]) == {found}
            assert queue.claim_items(chunk.number, [found]) == {found}  # its own chunk's
            await awaited.report({chunk.number: ["post:1"]})
            assert queue.finished(chunk.number) == await awaited.finished(chunk.number) \
                == {"post:1"}
            assert await awaited.found(chunk.number) == queue.found(chunk.number) == {found}
            assert await awaited.pause_host("api.example:80", 2.0) > 1.5
            assert 1.5 < queue.host_pause("api.example:80") <= 2.0
            assert await awaited.host_pause("api.example:80") > 1.5
            assert await awaited.complete(chunk.number, "w1") is True
            assert queue.complete(chunk.number, "w2") is False
            other = await awaited.claim("w1")
            assert await awaited.release("w1") == [other.number]
            assert not await awaited.all_done()
        finally:
            await awaited.close()

    asyncio.run(worker())
    while (chunk := queue.claim("w2")) is not None:
        queue.complete(chunk.number, "w2")
    assert queue.all_done()


def test_sigkilled_worker_restarts_and_merge_has_every_item_once(redis_base, demo_factory,
                                                                tmp_path):
    platform = demo_factory(posts=240, seed=11, latency_ms=40)
    redis_url = f"{redis_base}/4"
    seed(redis_url, platform, 240)
    shards = tmp_path / "shards"
    w1, w2 = start_pair(redis_url, shards)
    wait_for(lambda: ledger_count(shards / "w1") >= 30, timeout=60)
    w1.send_signal(signal.SIGKILL)
    w1.wait(10)
    killed_at = ledger_count(shards / "w1")
    w1 = start_worker(redis_url, "w1", shards / "w1")
    finish(w2)
    restarted = finish(w1)
    assert "restarted: chunks" in restarted
    assert ledger_count(shards / "w1") > killed_at and ledger_count(shards / "w2") > 0

    out = tmp_path / "merged"
    cli("merge", str(out), str(shards / "w1"), str(shards / "w2"))
    assert_matches_truth(out, platform.truth)
    assert_each_item_once(out, platform)
    names = sorted(p.name for p in (out / "warc").glob("*.warc.gz"))
    assert any(n.startswith("w1-") for n in names) and any(n.startswith("w2-") for n in names)
    assert "OK: no problems found" in cli("verify", str(out)).stdout


def test_worker_killed_as_it_commits_loses_nothing(redis_base, demo_factory, tmp_path):
    """SIGKILL the moment the shard has committed, again and again: the users and media
    that committed posts link to are fetched all the same, each once."""
    platform = demo_factory(posts=160, seed=11, latency_ms=20)
    redis_url = f"{redis_base}/8"
    seed(redis_url, platform, 160)
    shard = tmp_path / "w1"
    for _kill in range(4):
        worker = start_worker(redis_url, "w1", shard, concurrency=4)
        committed = ledger_count(shard)
        wait_for(lambda: ledger_count(shard) > committed + 3 or worker.poll() is not None,
                 timeout=60, step=0.002)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finish(start_worker(redis_url, "w1", shard))
    out = tmp_path / "merged"
    cli("merge", str(out), str(shard))
    assert_matches_truth(out, platform.truth)
    assert_each_item_once(out, platform)


def test_chunk_of_a_worker_that_never_returns_is_finished_by_another(redis_base, demo_factory,
                                                                     tmp_path):
    platform = demo_factory(posts=160, seed=5, latency_ms=40)
    redis_url = f"{redis_base}/5"
    seed(redis_url, platform, 160, "--lease", "2")
    shards = tmp_path / "shards"
    w1, w2 = start_pair(redis_url, shards)
    wait_for(lambda: ledger_count(shards / "w1") >= 20, timeout=60)
    w1.send_signal(signal.SIGKILL)
    w1.wait(10)
    said = w1.stderr.read()
    abandoned = chunks_said(said, "claimed") - chunks_said(said, "done")
    taken_over = chunks_said(finish(w2), "claimed")
    assert abandoned and abandoned & taken_over, "w2 should finish w1's leased chunks"

    out = tmp_path / "merged"
    merged = cli("merge", str(out), str(shards / "w1"), str(shards / "w2")).stdout
    assert "warning" not in merged
    assert_matches_truth(out, platform.truth)
    assert_each_item_once(out, platform)
    assert "OK: no problems found" in cli("verify", str(out)).stdout


def request_log(shard: Path) -> list[tuple[float, str, str, str]]:
    """(time, event, host, status) of every line of a shard's logs/requests.log."""
    lines = (shard / "logs" / "requests.log").read_text(encoding="utf-8").splitlines()
    return [(float(t), event, host, status)
            for t, event, host, status, *_ in (line.split("\t") for line in lines)]


def test_a_429_seen_by_one_worker_pauses_the_other(redis_base, demo_factory, tmp_path):
    platform = demo_factory(posts=60, seed=3, rate_limit_every=20, retry_after=1)
    redis_url = f"{redis_base}/6"
    seed(redis_url, platform, 60)
    shards = tmp_path / "shards"
    workers = [start_worker(redis_url, name, shards / name) for name in ("w1", "w2")]
    for worker in workers:
        finish(worker)
    out = tmp_path / "merged"
    cli("merge", str(out), str(shards / "w1"), str(shards / "w2"))
    assert_matches_truth(out, platform.truth)

    api_host = platform.api.split("//")[1]
    logs = {name: request_log(shards / name) for name in ("w1", "w2")}
    limited = 0
    for name, other in (("w1", "w2"), ("w2", "w1")):
        for when, event, host, status in logs[name]:
            if event != "recv" or status != "429":
                continue
            limited += 1
            # the other worker looks the pause up at most every 0.25 s, then holds off
            sent = [t for t, e, h, _ in logs[other]
                    if e == "send" and h == api_host and when + 0.35 < t < when + 0.9]
            assert not sent, f"{other} sent {len(sent)} requests during {name}'s Retry-After"
    assert limited >= 2


def test_worker_whose_disk_fills_loses_nothing(redis_base, demo_factory, tmp_path):
    """A worker stops when its shard's disk is full; what it had not committed is reported
    to no one, so the same worker, rerun with room, fetches it and the walk is whole."""
    from test_crawl_disk_full import _mount_small_disk

    disk = tmp_path / "disk"
    why = _mount_small_disk(disk, "1m")
    if why:
        pytest.skip(why)
    try:
        platform = demo_factory(posts=200, seed=7)
        redis_url = f"{redis_base}/10"
        seed(redis_url, platform, 200)
        shard = disk / "w1"
        full = start_worker(redis_url, "w1", shard, concurrency=4)
        _, err = full.communicate(timeout=120)
        assert full.returncode == 1 and "the disk is full" in err, err
        assert "Traceback" not in err
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        finish(start_worker(redis_url, "w1", shard))
        out = tmp_path / "merged"
        cli("merge", str(out), str(shard))
        assert_matches_truth(out, platform.truth)
        assert_each_item_once(out, platform)
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
