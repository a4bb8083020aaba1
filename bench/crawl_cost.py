"""Benchmark 1, crawl cost: CPU per archived record of lifeboat, wget and scrapy-webarchive.

One demo platform on loopback (20,000 posts by default); ``lifeboat crawl demo`` walks the
post IDs (and fetches the users and media it discovers); then GNU wget (``--warc-file``)
and scrapy-webarchive (its WACZ exporter, in its own venv) fetch exactly the URLs lifeboat
fetched. Reports CPU seconds (user + sys of each process tree) per 1,000 archived records
(WARC response + revisit records, counted with warcio), wall throughput, and the ratios.

    python -m bench.crawl_cost                 # 20,000 posts (a few minutes)
    python -m bench.crawl_cost --posts 3000    # quick run
"""

from __future__ import annotations

from pathlib import Path

import click

from bench.common import (count_records, fetched_urls, lifeboat_crawl,
                          scrapy_webarchive_crawl, table, wget_warc, work_dir)


@click.command()
@click.option("--posts", default=20_000, show_default=True, help="Posts on the demo platform.")
@click.option("--seed", default=1, show_default=True)
@click.option("--concurrency", default=16, show_default=True,
              help="Concurrent requests (lifeboat, scrapy-webarchive; wget is sequential).")
@click.option("--skip-swa", is_flag=True, help="Leave scrapy-webarchive out.")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the outputs here (default: a temporary directory).")
def main(posts: int, seed: int, concurrency: int, skip_swa: bool, workdir: Path | None) -> None:
    """Crawl the same demo platform with lifeboat, wget and scrapy-webarchive."""
    from demo.server import start_demo

    with work_dir(workdir) as work:
        results = []
        with start_demo(posts=posts, seed=seed) as platform:
            job = work / "lifeboat"
            run = lifeboat_crawl(platform.api, platform.media, f"1-{posts}", job, concurrency)
            results.append(("lifeboat", run, count_records(sorted((job / "warc").glob("*.warc.gz")))))
            urls = work / "urls.txt"
            listed = fetched_urls(job)
            urls.write_text("\n".join(listed) + "\n", encoding="utf-8")
            run = wget_warc(urls, work / "wget")
            results.append(("wget", run, count_records([work / "wget.warc.gz"])))
            if not skip_swa:
                out = work / "swa"
                run = scrapy_webarchive_crawl(urls, out, concurrency)
                results.append(("scrapy-webarchive", run, count_records(sorted(out.glob("*.wacz")))))
        report(results, posts, len(listed), concurrency)


def report(results: list, posts: int, urls: int, concurrency: int) -> None:
    per_k = {name: run.cpu_s / records * 1000 for name, run, records in results}
    rows = [(name, records, run.cpu_s, per_k[name], run.wall_s, records / run.wall_s,
             f"{per_k[name] / per_k['wget']:.2f}x")
            for name, run, records in results]
    click.echo(f"\ncrawl cost: demo platform, {posts:,} posts, {urls:,} URLs; "
               f"concurrency {concurrency} (wget: 1)\n")
    click.echo(table(["crawler", "records", "CPU s", "CPU s / 1k rec", "wall s", "rec/s",
                      "CPU vs wget"], rows))
    lifeboat = per_k["lifeboat"]
    click.echo(f"\nlifeboat / wget CPU per record: {lifeboat / per_k['wget']:.2f}x (target <= 3x)")
    if "scrapy-webarchive" in per_k:
        click.echo(f"scrapy-webarchive / lifeboat CPU per record: "
                   f"{per_k['scrapy-webarchive'] / lifeboat:.2f}x (target >= 3x)")


if __name__ == "__main__":
    main()
