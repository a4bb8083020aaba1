"""Make a job's database ready for Datasette: full-text search on posts, the UI's views.

Run on a writable file before Datasette opens it read-only; idempotent and cheap after
the first run (the FTS triggers keep the index current as a crawl adds posts).
"""

from __future__ import annotations

from pathlib import Path

import sqlite_utils

from datasette_plugins.queries import VIEWS
from metadata.normalise import utc_time
from metadata.schema import open_db


def fill_utc_times(db: sqlite_utils.Database) -> int:
    """Fill ``media_metadata.captured_at_utc`` where it is missing and the capture time
    has a zone (rows extracted before the column existed); return how many rows."""
    if not db["media_metadata"].exists():
        return 0
    db.conn.create_function("lifeboat_utc_time", 1, utc_time, deterministic=True)
    with db.conn:
        cursor = db.execute(
            "update media_metadata set captured_at_utc = lifeboat_utc_time(captured_at) "
            "where captured_at_utc is null and lifeboat_utc_time(captured_at) is not null")
    return cursor.rowcount


def prepare_for_serving(db: sqlite_utils.Database) -> list[str]:
    """Create posts' FTS index (with triggers) and lifeboat's views, and fill UTC capture
    times that are missing; return what was made."""
    made = []
    fill_utc_times(db)
    posts = db.table("posts")
    if posts.exists() and posts.detect_fts() is None:
        posts.enable_fts(["text"], create_triggers=True, tokenize="unicode61")
        made.append("posts_fts")
    for name, sql in VIEWS.items():
        if db[name].exists() and db.execute(
            "select sql from sqlite_master where name = ?", [name]
        ).fetchone()[0].endswith(sql.strip()):
            continue
        db.create_view(name, sql.strip(), replace=True)
        made.append(name)
    return made


def prepare_file(db_path: str | Path) -> list[str]:
    """Open ``db_path`` writable, prepare it, checkpoint the WAL and close it."""
    db = open_db(db_path)
    try:
        made = prepare_for_serving(db)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return made
    finally:
        db.close()
