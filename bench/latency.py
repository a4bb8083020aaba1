"""Benchmark 2, latency-bound crawl: requests per second against concurrency / latency.

The demo platform answers every API and media request after ``--latency-ms`` (100 ms: a
server across an ocean). lifeboat crawls it at ``--concurrency`` 32, so the ideal is
32 / 0.1 s = 320 requests/s; wget (one connection, one request at a time) fetches the
first ``--wget-urls`` of the same URLs. lifeboat's rate is taken from its
``logs/requests.log`` (first request sent to last response received, so start-up and
shutdown of the process are left out) and, for reference, over the process's whole wall time.

    python -m bench.latency
    python -m bench.latency --posts 1000 --wget-urls 50    # quick run
"""

from __future__ import annotations

from pathlib import Path

import click

from bench.common import (fetched_urls, lifeboat_crawl, request_log_span, table, wget_warc,
                          work_dir)


@click.command()
@click.option("--posts", default=3000, show_default=True, help="Posts on the demo platform.")
@click.option("--latency-ms", default=100, show_default=True, help="Added server latency.")
@click.option("--concurrency", default=32, show_default=True, help="lifeboat's concurrency.")
@click.option("--wget-urls", default=150, show_default=True,
              help="How many of the URLs wget fetches (it is sequential: ~latency each).")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None)
def main(posts: int, latency_ms: int, concurrency: int, wget_urls: int,
         workdir: Path | None) -> None:
    """lifeboat at --concurrency against the ideal and against wget, on a slow server."""
    from demo.server import start_demo

    with work_dir(workdir) as work:
        with start_demo(posts=posts, latency_ms=latency_ms) as platform:
            job = work / "lifeboat"
            run = lifeboat_crawl(platform.api, platform.media, f"1-{posts}", job, concurrency)
            received, seconds = request_log_span([job])
            urls = work / "urls.txt"
            listed = fetched_urls(job)[:wget_urls]
            urls.write_text("\n".join(listed) + "\n", encoding="utf-8")
            wget = wget_warc(urls, work / "wget")
        ideal = concurrency / (latency_ms / 1000)
        lifeboat_rate = received / seconds
        wget_rate = len(listed) / wget.wall_s
        rows = [
            ("ideal (concurrency / latency)", "", "", ideal, "1.00"),
            ("lifeboat (requests.log span)", received, seconds, lifeboat_rate,
             f"{lifeboat_rate / ideal:.2f}"),
            ("lifeboat (process wall time)", received, run.wall_s, received / run.wall_s,
             f"{received / run.wall_s / ideal:.2f}"),
            ("wget (sequential)", len(listed), wget.wall_s, wget_rate, f"{wget_rate / ideal:.2f}"),
        ]
        click.echo(f"\nlatency-bound crawl: {latency_ms} ms per request, lifeboat concurrency "
                   f"{concurrency}, {posts:,} posts\n")
        click.echo(table(["crawler", "requests", "seconds", "req/s", "of ideal"], rows))
        click.echo(f"\nlifeboat / ideal: {lifeboat_rate / ideal:.2f} (target >= 0.9)")
        click.echo(f"lifeboat / wget: {lifeboat_rate / wget_rate:.1f}x (target >= 25x)")


if __name__ == "__main__":
    main()
