"""`lifeboat export`: one row per media item per post, as CSV or JSON lines."""

from __future__ import annotations

import csv
import json
import sqlite3
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

from tqdm import tqdm

from archive.schema import EXPORT_SQL, require_current
from datasette_plugins.queries import EXPORT_COLUMNS

FORMATS = ("csv", "jsonl")
DEFAULT_BASE_URL = "http://127.0.0.1:8001"  # where `lifeboat serve DIR` listens by default


def connect_read_only(db_path: Path) -> sqlite3.Connection:
    """A read-only connection to ``db_path``."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    return conn


def export_rows(conn: sqlite3.Connection,
                base_url: str = DEFAULT_BASE_URL) -> Iterator[dict]:
    """Every (post, media) pair with its GPS and WARC location, oldest post first; evidence
    page URLs start with ``base_url`` (where the archive is served)."""
    base = base_url.rstrip("/")
    for row in conn.execute(EXPORT_SQL):
        out = {column: row[column] for column in EXPORT_COLUMNS}
        if out["evidence_url"]:
            out["evidence_url"] = base + out["evidence_url"]
        yield out


def write_export(rows: Iterator[dict], fmt: str, out: IO[str]) -> int:
    """Write ``rows`` to ``out`` as ``fmt`` (csv or jsonl); return how many."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    else:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


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
    """Export ``job_dir``'s (post, media) pairs to ``output`` (default stdout) with a bar;
    evidence page URLs point at ``base_url``."""
    from datasette_plugins.serve import database_path

    db_path = database_path(job_dir)
    require_current(db_path)
    conn = connect_read_only(db_path)
    try:
        total = conn.execute("select count(*) from post_media pm join posts p "
                             "on p.id = pm.post_id").fetchone()[0]
        with open_output(output) as out, tqdm(
            total=total, unit="row", desc="export", file=sys.stderr, disable=None
        ) as bar:
            def counted() -> Iterator[dict]:
                for row in export_rows(conn, base_url):
                    bar.update()
                    yield row

            count = write_export(counted(), fmt, out)
    finally:
        conn.close()
    if output is not None:
        print(f"lifeboat export: {count} rows to {output}", file=sys.stderr)
    return count
