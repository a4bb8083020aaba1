"""Benchmark 4, memory: peak RSS of a walk over 100,000 IDs and over 1,000,000 IDs.

The demo platform has only ``--posts`` posts, so nearly every ID of the walk answers 404
(archived as a response or revisit record and a ``missing`` ledger row): the walk does the
full per-ID work of a crawl, but stays cheap. Each walk runs in its own fresh job directory
and process; peak RSS is that process's ``ru_maxrss`` (from ``os.wait4``). If memory does
not grow with the length of the walk, the ratio stays near 1.

    python -m bench.memory                               # 100k and 1M IDs (long: ~15 min+)
    python -m bench.memory --small 10000 --large 100000  # quick run, same 10x ratio
"""

from __future__ import annotations

from pathlib import Path

import click

from bench.common import lifeboat_crawl, table, work_dir


@click.command()
@click.option("--small", default=100_000, show_default=True, help="IDs in the short walk.")
@click.option("--large", default=1_000_000, show_default=True, help="IDs in the long walk.")
@click.option("--posts", default=100, show_default=True, help="Posts on the demo platform.")
@click.option("--concurrency", default=16, show_default=True)
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None)
def main(small: int, large: int, posts: int, concurrency: int, workdir: Path | None) -> None:
    """Peak RSS of lifeboat walks of two lengths over a mostly-missing ID range."""
    from demo.server import start_demo

    with work_dir(workdir) as work:
        runs = {}
        with start_demo(posts=posts) as platform:
            for ids in (small, large):
                click.echo(f"walking {ids:,} IDs ...", err=True)
                runs[ids] = lifeboat_crawl(platform.api, platform.media, f"1-{ids}",
                                           work / f"walk-{ids}", concurrency)
        rows = [(f"{ids:,} IDs", run.max_rss_mb, run.wall_s, ids / run.wall_s,
                 run.cpu_s / ids * 1000) for ids, run in runs.items()]
        click.echo(f"\nmemory: lifeboat walks over mostly missing IDs ({posts} posts exist), "
                   f"concurrency {concurrency}\n")
        click.echo(table(["walk", "peak RSS MB", "wall s", "IDs/s", "CPU ms / ID"], rows))
        ratio = runs[large].max_rss_mb / runs[small].max_rss_mb
        click.echo(f"\npeak RSS {large:,} / {small:,} IDs: {ratio:.2f} (target <= 1.2)")


if __name__ == "__main__":
    main()
