"""`lifeboat export`: one row per media item per post, as CSV or JSON lines."""

from __future__ import annotations

import csv
import json
import sqlite3
from contextlib import nullcontext
from pathlib import Path
from typing import IO, Any, Callable, Iterator

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


def open_export(job_dir: Path) -> sqlite3.Connection:
    """A read-only connection to ``job_dir``'s database, refused (with how to fix it) when
    there is none or its schema is behind."""
    from datasette_plugins.serve import database_path

    db_path = database_path(job_dir)
    require_current(db_path)
    return connect_read_only(db_path)


def export_job(conn: sqlite3.Connection, fmt: str, out: IO[str],
               base_url: str = DEFAULT_BASE_URL,
               progress: Callable[[int], Any] = lambda total: nullcontext()) -> int:
    """Write the (post, media) pairs of ``conn`` (``open_export``) to ``out`` as ``fmt``;
    return how many. Evidence page URLs point at ``base_url``; ``progress(total)`` gives
    a bar (a context manager whose value has ``update()``) or None."""
    total = conn.execute("select count(*) from post_media pm join posts p "
                         "on p.id = pm.post_id").fetchone()[0]
    with progress(total) as bar:
        def counted() -> Iterator[dict]:
            for row in export_rows(conn, base_url):
                if bar is not None:
                    bar.update()
                yield row

        return write_export(counted(), fmt, out)
