"""Make a job's database ready for Datasette: full-text search on posts, the UI's views.

Run on a writable file before Datasette opens it read-only; idempotent and cheap after
the first run (the FTS triggers keep the index current as a crawl adds posts).
"""

from __future__ import annotations

from pathlib import Path

import sqlite_utils

from datasette_plugins.queries import VIEWS
from metadata.schema import open_db


def prepare_for_serving(db: sqlite_utils.Database) -> list[str]:
    """Create posts' FTS index (with triggers) and lifeboat's views; return what was made."""
    made = []
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
