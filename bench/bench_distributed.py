"""Distributed crawl: two workers against one, on the demo platform with 50 ms latency.

A throwaway redis-server on a free loopback port holds the walk (``lifeboat seed``); the
same walk is crawled once by one worker and once by two (``lifeboat crawl --redis``), each
worker at ``--concurrency``. Throughput is IDs finished (ledger rows, all shards) per
second of crawling: from the first request sent to the last response received in the
workers' ``logs/requests.log`` (process start-up left out); the wall-clock ratio, start-up
included, is printed too, and the workers' CPU time (user + sys): on a shared machine a
ratio well below 2 with a high CPU share means the workers were starved of cores, not
waiting for each other. ``--repeat N`` runs both N times, alternating, and keeps each
one's best. Target: two workers at least 1.8 times one.

    python -m bench.bench_distributed
    python -m bench.bench_distributed --repeat 3
    python -m bench.bench_distributed --posts 1000     # quick run
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import click

from bench.common import PYTHON, ROOT, children_cpu, request_log_span, table, work_dir


def start_redis(workdir: Path) -> tuple[subprocess.Popen, str]:
    """redis-server without persistence on a free loopback port: (process, URL)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed: apt-get install redis-server "
                         "(./bootstrap.sh test does it)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(workdir)],
                              stdout=subprocess.DEVNULL)
    import redis

    client = redis.Redis(port=port)
    for _ in range(200):
        try:
            client.ping()
            return server, f"redis://127.0.0.1:{port}/0"
        except redis.ConnectionError:
            time.sleep(0.05)
    raise SystemExit("redis-server did not start")


def finished_ids(shards: list[Path]) -> int:
    """IDs finished (ledger rows past ``queued``) in all shards."""
    finished = 0
    for shard in shards:
        db = sqlite3.connect(shard / "archive.db")
        finished += db.execute("SELECT count(*) FROM ledger WHERE state != 'queued'").fetchone()[0]
        db.close()
    return finished


def run_workers(redis_url: str, platform, posts: int, chunk: int, concurrency: int,
                count: int, workdir: Path) -> tuple[int, float, float, float]:
    """Seed the walk afresh, crawl it with ``count`` workers: (IDs, crawl s, wall s, CPU s)."""
    subprocess.run([PYTHON, str(ROOT / "crawl.py"), "seed", "demo", "--redis", redis_url,
                    "--ids", f"1-{posts}", "--chunk", str(chunk), "--reset",
                    "--var", f"api={platform.api}", "--var", f"media={platform.media}"],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    run_dir = workdir / f"{count}-workers"
    shutil.rmtree(run_dir, ignore_errors=True)
    shards = [run_dir / f"w{n}" for n in range(1, count + 1)]
    before = children_cpu()
    start = time.perf_counter()
    workers = [subprocess.Popen([PYTHON, str(ROOT / "crawl.py"), "crawl", "demo", "--redis",
                                 redis_url, "--worker", shard.name, "--out", str(shard),
                                 "--no-extract", "--concurrency", str(concurrency)],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for shard in shards]
    if any(worker.wait() != 0 for worker in workers):
        raise SystemExit(f"a worker failed: see {shards[0].parent}/*/logs/crawl.log")
    wall = time.perf_counter() - start
    cpu = children_cpu() - before
    _received, span = request_log_span(shards)
    return finished_ids(shards), span, wall, cpu


@click.command()
@click.option("--posts", default=2000, show_default=True, help="Posts on the demo platform.")
@click.option("--latency-ms", default=50, show_default=True, help="Added server latency.")
@click.option("--concurrency", default=8, show_default=True, help="Each worker's concurrency.")
@click.option("--chunk", default=50, show_default=True, help="IDs per chunk.")
@click.option("--repeat", default=1, show_default=True, help="Runs of each; the best counts.")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None)
def main(posts: int, latency_ms: int, concurrency: int, chunk: int, repeat: int,
         workdir: Path | None) -> None:
    """One worker, then two, over the same walk; prints the throughput ratio."""
    from demo.server import start_demo

    with work_dir(workdir, "lifeboat-bench-dist-") as work:
        server, redis_url = start_redis(work)
        try:
            with start_demo(posts=posts, latency_ms=latency_ms) as platform:
                runs: dict[int, list] = {1: [], 2: []}
                for _ in range(repeat):
                    for n in runs:
                        runs[n].append(run_workers(redis_url, platform, posts, chunk,
                                                   concurrency, n, work))
            results = {n: min(found, key=lambda r: r[1]) for n, found in runs.items()}
        finally:
            server.terminate()
            server.wait()
    rates = {n: ids / span for n, (ids, span, _wall, _cpu) in results.items()}
    rows = [(f"{n} worker{'s' if n > 1 else ''}", ids, f"{span:.1f}", f"{wall:.1f}",
             f"{rates[n]:.0f}", f"{cpu:.1f}", f"{100 * cpu / wall / os.cpu_count():.0f}%")
            for n, (ids, span, wall, cpu) in results.items()]
    print(f"demo platform: {posts} posts, {latency_ms} ms latency; each worker at concurrency "
          f"{concurrency}, chunks of {chunk} IDs")
    print(table(("run", "IDs finished", "crawl s", "wall s", "IDs/s", "CPU s",
                 "of all cores"), rows))
    wall_ratio = results[1][2] / results[2][2]
    print(f"throughput ratio, two workers / one: {rates[2] / rates[1]:.2f} "
          f"(wall clock, start-up included: {wall_ratio:.2f}; target >= 1.8)")


if __name__ == "__main__":
    main()
