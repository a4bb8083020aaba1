"""`lifeboat export DIR`: the journalists' export (``datasette_plugins.export``) to a file
or standard output, with a progress bar."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

import click
from tqdm import tqdm

from datasette_plugins.export import DEFAULT_BASE_URL, export_job, open_export


@contextmanager
def open_output(output: Path | None) -> Iterator[IO[str]]:
    """``output`` opened for writing text, or standard output."""
    if output is None:
        yield sys.stdout
        return
    with open(output, "w", encoding="utf-8", newline="") as fh:
        yield fh


def run_export_command(job_dir: Path, fmt: str = "csv", output: Path | None = None,
                       base_url: str = DEFAULT_BASE_URL) -> int:
    """Export ``job_dir``'s (post, media) pairs to ``output`` (default stdout) with a bar on
    stderr; return how many rows."""
    conn = open_export(job_dir)
    try:
        with open_output(output) as out:
            count = export_job(conn, fmt, out, base_url, progress=lambda total: tqdm(
                total=total, unit="row", desc="export", file=sys.stderr, disable=None))
    finally:
        conn.close()
    if output is not None:
        click.echo(f"lifeboat export: {count} rows to {output}", err=True)
    return count
