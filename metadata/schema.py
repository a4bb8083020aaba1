"""The SQLite schema of a job's ``archive.db``, created with sqlite-utils.

Column names are part of lifeboat's public interface (see DESIGN.md): add columns if
you must, never rename or drop one.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from metadata.exceptions import DamagedDatabase

TABLES: dict[str, dict] = {
    "captures": {
        "columns": {
            "id": int,
            "url": str,
            "status": int,
            "content_type": str,
            "warc_filename": str,
            "warc_offset": int,
            "warc_length": int,
            "warc_record_id": str,
            "payload_sha256": str,
            "payload_size": int,
            "fetched_at": str,
            # additions: 'response' | 'resource' | 'revisit', and for a revisit the
            # WARC-Record-ID of the record holding the payload
            "warc_type": str,
            "refers_to": str,
        },
        "pk": "id",
    },
    "posts": {
        "columns": {
            "id": str,
            "profile": str,
            "url": str,
            "author": str,
            "created_at": str,
            "text": str,
            "deleted": int,
            "raw": str,
            "capture_id": int,
        },
        "pk": "id",
    },
    "media": {
        "columns": {
            "url": str,
            "sha256": str,
            "content_type": str,
            "size": int,
            "capture_id": int,
            # addition: where ``url`` (the URL a post gave) led after redirects and URL
            # normalisation; NULL when the answer came from ``url`` itself. The final URL
            # has a row of its own too, so joins on ``url`` match either.
            "final_url": str,
        },
        "pk": "url",
    },
    "post_media": {
        "columns": {"post_id": str, "media_url": str},
        "pk": ("post_id", "media_url"),
    },
    # additions: media found through a child item (a WordPress attachment discovered by a
    # post) credited to the post: which posts discovered which items, and the media URLs
    # those items gave (their fields.media); JobStore joins them into post_media
    "post_children": {
        "columns": {"post_id": str, "item_type": str, "item_id": str},
        "pk": ("item_type", "item_id", "post_id"),
    },
    "child_media": {
        "columns": {"item_type": str, "item_id": str, "media_url": str},
        "pk": ("item_type", "item_id", "media_url"),
    },
    # addition: a posts row replaced by another answer with the same posts.id and other
    # content (trigger posts_id_collision): the replaced row, and what replaced it
    "post_collisions": {
        "columns": {
            "id": str, "profile": str, "url": str, "author": str, "created_at": str,
            "text": str, "deleted": int, "raw": str, "capture_id": int,
            "replaced_by_url": str, "replaced_by_capture_id": int, "replaced_at": str,
        },
        "pk": None,
    },
    "media_metadata": {
        "columns": {
            "sha256": str,
            "latitude": float,
            "longitude": float,
            "altitude": float,
            "captured_at": str,
            "make": str,
            "model": str,
            "software": str,
            "duration_s": float,
            "width": int,
            "height": int,
            "mime_type": str,
            "exiftool": str,
            "exiftool_version": str,
            "error": str,
            # addition: why a position is doubtful ('null_island', 'latitude_out_of_range',
            # ...; comma-separated), NULL when it looks sound or there is none
            "gps_flag": str,
            # addition: captured_at in UTC when the file gives its zone, else NULL
            # (metadata.normalise.utc_time); what sorts, facets and time queries use
            "captured_at_utc": str,
        },
        "pk": "sha256",
    },
    "ledger": {
        "columns": {
            "profile": str,
            "item_type": str,
            "id": str,
            "state": str,
            "attempts": int,
            "last_status": int,
            "updated_at": str,
            # addition: why an ID ended where it did ('malformed JSON: ...', 'oversize ...')
            "reason": str,
        },
        "pk": ("profile", "item_type", "id"),
    },
    # addition: one row per `lifeboat crawl` run over the job, for `lifeboat status` (the
    # range a rerun resumes, whether a crawl runs, the rate over time spent crawling)
    "crawl_runs": {
        "columns": {
            "id": int,
            "started_at": str,
            "ended_at": str,  # NULL while running, or after a run that was killed
            "outcome": str,  # running | finished | stopped by SIGINT | ... | disk full
            "pid": int,
            "walks": str,  # JSON: [{"item_type", "first", "last"}] (IDs as rendered)
            "stopped_at": str,  # JSON: {item_type: the last ID its walk reached}
        },
        "pk": "id",
    },
}

INDEXES: list[tuple[str, list[str], bool]] = [
    ("captures", ["warc_record_id"], True),
    ("captures", ["warc_filename", "warc_offset"], False),
    ("media", ["sha256"], False),
    ("post_media", ["media_url"], False),
    ("ledger", ["state"], False),
    # geotagged_media is ordered by capture time (bench/datasette_pages.py)
    ("media_metadata", ["captured_at"], False),
    ("media_metadata", ["captured_at_utc"], False),
    # the "media within R km" canned query narrows to a latitude band first
    ("media_metadata", ["latitude"], False),
    # the map (geotagged_media): its count and facets read this index alone, in SHA-256
    # order, so their check that a media row exists walks media's sha256 index in order
    ("media_metadata", ["sha256", "latitude", "longitude", "make", "model", "mime_type",
                        "gps_flag"], False),
]

# Indexes only readers use (Datasette's posts facets, media streamed by SHA-256, captures
# looked up by URL) are built when the archive is first opened for reading, not kept
# current row by row while a crawl writes (``open_db(..., reading_indexes=False)``): that
# cost CPU on every archived record (bench/README.md, section 1).
# Once built, later crawls of the job keep them current.
READING_INDEXES: list[tuple[str, list[str], bool]] = [
    ("captures", ["url"], False),
    ("captures", ["payload_sha256"], False),
    ("posts", ["author"], False),
    ("posts", ["created_at"], False),
    # the posts page facets on deleted and on the day of created_at
    ("posts", ["deleted"], False),
]

# Indexes on expressions (sqlite-utils' create_index takes columns only): name -> SQL
READING_EXPRESSION_INDEXES: dict[str, str] = {
    "idx_posts_created_day": "CREATE INDEX IF NOT EXISTS idx_posts_created_day "
                             "ON posts (date(created_at))",
}

TRIGGERS: dict[str, str] = {
    "posts_id_collision": """
CREATE TRIGGER IF NOT EXISTS posts_id_collision BEFORE UPDATE ON posts
WHEN old.raw IS NOT new.raw
BEGIN
  INSERT INTO post_collisions (id, profile, url, author, created_at, text, deleted, raw,
    capture_id, replaced_by_url, replaced_by_capture_id, replaced_at)
  VALUES (old.id, old.profile, old.url, old.author, old.created_at, old.text, old.deleted,
    old.raw, old.capture_id, new.url, new.capture_id,
    strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
END""",
}

LEDGER_STATES = ("archived", "missing", "deleted", "forbidden", "failed")


def open_db(path: str | Path, reading_indexes: bool = True,
            busy_timeout_ms: int | None = None, check: bool = False) -> sqlite_utils.Database:
    """Open (creating if needed) an archive database in WAL mode with the full schema;
    ``reading_indexes=False`` (a crawl writing, ``lifeboat status`` beside it) leaves out
    the indexes only readers use (``READING_INDEXES``). ``busy_timeout_ms``: how long a
    write (the schema's included) waits for another writer, instead of sqlite3's 5 s.
    ``check``: run SQLite's quick_check first (it reads every page). A damaged file raises
    ``DamagedDatabase``, never a bare sqlite3 error."""
    db = sqlite_utils.Database(path)
    try:
        if busy_timeout_ms is not None:
            db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        db.execute("PRAGMA journal_mode=WAL")
        if check and (problems := integrity_problems(db.conn)):
            raise DamagedDatabase(str(path), problems)
        db.execute("PRAGMA synchronous=NORMAL")
        ensure_schema(db, reading_indexes)
    except sqlite3.DatabaseError as exc:
        db.close()
        if not is_damage(exc):
            raise
        raise DamagedDatabase(str(path), [str(exc)]) from None
    except DamagedDatabase:
        db.close()
        raise
    return db


DAMAGE_CODES = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def is_damage(exc: BaseException) -> bool:
    """Whether a sqlite3 error says the file is damaged or not a database at all."""
    return isinstance(exc, sqlite3.DatabaseError) and \
        getattr(exc, "sqlite_errorcode", None) in DAMAGE_CODES


def integrity_problems(conn: sqlite3.Connection, full: bool = False, limit: int = 20
                       ) -> list[str]:
    """SQLite's own check of every page (``quick_check``; ``full``: ``integrity_check``,
    which also compares every index with its table): [] when the file is sound."""
    pragma = "integrity_check" if full else "quick_check"
    try:
        rows = conn.execute(f"PRAGMA {pragma}({int(limit)})").fetchall()
    except sqlite3.DatabaseError as exc:
        if not is_damage(exc):
            raise
        return [str(exc)]
    if [tuple(r) for r in rows] == [("ok",)]:
        return []
    return [" ".join(str(r[0]).split()) for r in rows]


def check_database(path: str | Path) -> None:
    """Raise ``DamagedDatabase`` when SQLite's quick_check finds ``path`` damaged (opened
    read-only: nothing is written)."""
    conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        problems = integrity_problems(conn)
    finally:
        conn.close()
    if problems:
        raise DamagedDatabase(str(path), problems)


def ensure_schema(db: sqlite_utils.Database, reading_indexes: bool = True) -> None:
    """Create every table and index that is missing; leave existing ones alone."""
    for name, spec in TABLES.items():
        table = db.table(name)
        if not table.exists():
            table.create(spec["columns"], pk=spec["pk"])
        else:
            missing = {c: t for c, t in spec["columns"].items() if c not in table.columns_dict}
            for column, col_type in missing.items():
                table.add_column(column, col_type)
    for sql in TRIGGERS.values():
        db.execute(sql)
    for table_name, columns, unique in INDEXES + (READING_INDEXES if reading_indexes else []):
        db.table(table_name).create_index(columns, unique=unique, if_not_exists=True)
    if reading_indexes:
        for sql in READING_EXPRESSION_INDEXES.values():
            db.execute(sql)
