"""Benchmark 5, Datasette: investigator pages against the same SQL run directly in sqlite3.

A synthetic archive (1,000,000 posts, 100,000 geotagged media; bench/synthetic_archive.py,
cached under ~/.cache/lifeboat-bench/) is served by Datasette in-process (``ds.client``,
lifeboat's metadata, settings and plugins). Three pages are timed: the map's JSON (the
request datasette-cluster-map makes), the posts page with facets, and the "media within
R km" canned query. Datasette's own tracer records every SQL statement a page runs against
the archive; those statements, with their parameters, are then run directly in sqlite3 on
a read-only connection (with lifeboat's ``distance_km`` function) and timed the same way.
Each figure is the median of ``--repeat`` runs after a warm-up.

    python -m bench.datasette_pages
    python -m bench.datasette_pages --posts 100000 --media 10000   # quick run
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import time
from pathlib import Path

import click

from bench.common import table
from bench.synthetic_archive import CITIES, ensure_archive

LAT, LON = CITIES[0]
PAGES = {
    "map JSON (cluster-map)": "/archive/geotagged_media.json?_size=max&_labels=on"
                              "&_extra=count&_extra=next_url&_shape=objects",
    "posts page, facets": "/archive/posts?_facet=author",
    "media within 2 km": f"/archive/media_near_point.json?lat={LAT}&lon={LON}&km=2"
                         "&_shape=objects",
}
MAX_ROWS = 1001  # Datasette fetches max_returned_rows + 1


async def timed_out(ds, path: str) -> list[str]:
    """Facets Datasette gave up on (facet_time_limit_ms): their SQL is not in the trace."""
    json_path = path if ".json" in path else path.replace("?", ".json?", 1)
    return (await ds.client.get(json_path)).json().get("facets_timed_out") or []


async def time_pages(db_path: Path, repeat: int) -> dict[str, tuple]:
    """{page: (median seconds through Datasette, [(sql, params) run on the archive],
    [facets that timed out])}."""
    from datasette.tracer import capture_traces

    from datasette_plugins.serve import make_datasette

    ds = make_datasette(db_path)
    await ds.invoke_startup()
    out = {}
    for name, path in PAGES.items():
        traces: list[dict] = []
        with capture_traces(traces):
            response = await ds.client.get(path)
        if response.status_code != 200:
            raise SystemExit(f"{path} answered {response.status_code}: {response.text[:500]}")
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            response = await ds.client.get(path)
            times.append(time.perf_counter() - start)
        statements = [(t["sql"], t.get("params")) for t in traces
                      if t.get("database") == "archive" and t.get("sql")]
        out[name] = (statistics.median(times), statements, await timed_out(ds, path))
    return out


def time_raw(db_path: Path, statements: list[tuple], repeat: int) -> float:
    """Median seconds to run ``statements`` directly in sqlite3 (read-only)."""
    from datasette_plugins.sql_functions import distance_km

    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    conn.create_function("distance_km", 4, distance_km, deterministic=True)
    times = []
    for attempt in range(repeat + 1):
        start = time.perf_counter()
        for sql, params in statements:
            conn.execute(sql, params or ()).fetchmany(MAX_ROWS)
        if attempt:  # the first run warms the page cache, like Datasette's warm-up
            times.append(time.perf_counter() - start)
    conn.close()
    return statistics.median(times)


@click.command()
@click.option("--posts", default=1_000_000, show_default=True)
@click.option("--media", default=100_000, show_default=True, help="Geotagged media items.")
@click.option("--repeat", default=5, show_default=True)
def main(posts: int, media: int, repeat: int) -> None:
    """Time lifeboat's Datasette pages against their SQL in sqlite3."""
    db_path = ensure_archive(posts, media)
    pages = asyncio.run(time_pages(db_path, repeat))
    rows, worst = [], 0.0
    for name, (page_s, statements, gave_up) in pages.items():
        raw_s = time_raw(db_path, statements, repeat)
        worst = max(worst, page_s / raw_s)
        rows.append((name, len(statements), page_s * 1000, raw_s * 1000,
                     f"{page_s / raw_s:.2f}x", ", ".join(gave_up) or "-"))
    click.echo(f"\nDatasette: synthetic archive, {posts:,} posts, {media:,} geotagged media "
               f"({db_path}); median of {repeat}\n")
    click.echo(table(["page", "SQL stmts", "Datasette ms", "sqlite3 ms", "ratio",
                      "facets timed out"], rows))
    click.echo(f"\nworst Datasette / sqlite3 ratio: {worst:.2f}x (target <= 3x)")


if __name__ == "__main__":
    main()
