"""The whole SQLite schema of a job's ``archive.db``, and the migrations that bring any
archive.db an older lifeboat made up to it.

Tables, indexes, triggers, views, the posts full-text index and the ledger states live
here; everything else imports them. Column names are part of lifeboat's public interface
(DESIGN.md): add columns if you must, never rename or drop one.

Writing commands open the file with ``open_db``, which applies the migrations not yet
applied (recorded by sqlite-utils in ``_sqlite_migrations``), once. ``lifeboat serve``
only reads: ``pending_migrations`` tells it the file is behind, and ``upgrade_job``
(``lifeboat upgrade DIR``) applies them. A change to the schema is a new migration at the
end of ``MIGRATIONS`` (a new column: add it to ``TABLES`` and a migration calling
``ensure_tables``; a changed view: a migration calling ``create_views``).
"""

from __future__ import annotations

import sqlite3
from enum import StrEnum
from pathlib import Path

import sqlite_utils
from sqlite_utils import Migrations

from archive.exceptions import DamagedDatabase, NotAJobDir, SchemaBehind
from archive.times import utc_time


class LedgerState(StrEnum):
    """Where a walked or discovered ID stands. Every state but ``QUEUED`` is final (verify
    requires one); ``QUEUED`` is an ID waiting to be fetched."""

    ARCHIVED = "archived"
    MISSING = "missing"
    DELETED = "deleted"
    FORBIDDEN = "forbidden"
    FAILED = "failed"
    QUEUED = "queued"


QUEUED = LedgerState.QUEUED.value
LEDGER_STATES = tuple(s.value for s in LedgerState if s is not LedgerState.QUEUED)

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
            # (archive.times.utc_time); what sorts, facets and time queries use
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
# looked up by URL) are built when a crawl ends and by extract, merge and upgrade, not kept
# current row by row while a first crawl writes (``open_db(..., reading_indexes=False)``;
# bench/README.md, section 1). Once built, later crawls of the job keep them current.
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


# The posts full-text index: external content (the text stays in posts), kept current by
# triggers posts_ai / posts_ad / posts_au as rows are written.
POSTS_FTS_COLUMNS = ["text"]
POSTS_FTS_TOKENIZE = "unicode61"
POSTS_FTS_TRIGGERS = ("posts_ai", "posts_ad", "posts_au")

# ---- the SQL of the views --------------------------------------------------------------

# For a capture ``own`` that is a WARC revisit, the original record it refers to.
REVISIT_ORIGINAL_JOIN = """
left join captures orig on own.warc_type = 'revisit' and orig.warc_record_id = own.refers_to
"""

# The capture that holds a media item's payload: its own record, or for a WARC revisit
# the original record it refers to.
PAYLOAD_CAPTURE_JOIN = f"""
left join captures own on own.id = m.capture_id
{REVISIT_ORIGINAL_JOIN}
"""

# Where a payload lives, given captures ``own`` and ``orig`` (REVISIT_ORIGINAL_JOIN).
PAYLOAD_COLUMNS = """
coalesce(orig.warc_filename, own.warc_filename) as warc_filename,
coalesce(orig.warc_offset, own.warc_offset) as warc_offset
"""

# Where, when and with what a payload was captured, from ``media_metadata mm``.
PLACE_TIME_CAMERA = """
mm.latitude as latitude,
mm.longitude as longitude,
mm.altitude as altitude,
mm.captured_at as captured_at,
mm.captured_at_utc as captured_at_utc,
mm.make as make,
mm.model as model
"""

# One row per (post, media): the journalists' export and the `media_export` view.
EXPORT_SQL = f"""
select
  p.id as post_id,
  p.author as author,
  p.created_at as post_created_at,
  p.url as post_url,
  p.text as post_text,
  p.deleted as post_deleted,
  pm.media_url as media_url,
  coalesce(m.content_type, mm.mime_type) as media_type,
  m.sha256 as sha256,
  '/-/evidence/' || m.sha256 as evidence_url,
  {PLACE_TIME_CAMERA},
  own.fetched_at as fetched_at,
  own.warc_record_id as warc_record_id,
  {PAYLOAD_COLUMNS}
from post_media pm
join posts p on p.id = pm.post_id
left join media m on m.url = pm.media_url
left join media_metadata mm on mm.sha256 = m.sha256
{PAYLOAD_CAPTURE_JOIN}
order by p.created_at, p.id, pm.media_url
"""

# One row per distinct geotagged payload, with a datasette-cluster-map popup. No ORDER BY
# (the map's metadata sorts by captured_at): a view without one is flattened into the
# count, facet and canned queries over it, so they never compute the per-row ``posts``
# subquery or the popup, and a filter on latitude can use its index.
GEOTAGGED_MEDIA_SQL = f"""
select
  mm.sha256 as sha256,
  {PLACE_TIME_CAMERA},
  mm.mime_type as mime_type,
  mm.gps_flag as gps_flag,
  (select count(distinct pm.post_id) from media m2 join post_media pm on pm.media_url = m2.url
    where m2.sha256 = mm.sha256) as posts,
  json_object(
    'image', '/-/thumb/' || mm.sha256,
    'title', coalesce(mm.captured_at_utc, mm.captured_at, 'capture time unknown'),
    'description', trim(coalesce(mm.make, '') || ' ' || coalesce(mm.model, '') || ' '
                        || coalesce(mm.mime_type, '')),
    'link', '/-/evidence/' || mm.sha256
  ) as popup
from media_metadata mm
where mm.latitude is not null and mm.longitude is not null
  and exists (select 1 from media m where m.sha256 = mm.sha256)
"""

# Every view of the schema: name -> SQL.
VIEWS = {
    "geotagged_media": GEOTAGGED_MEDIA_SQL,
    "media_export": EXPORT_SQL,
}

DB_NAME = "archive.db"
MIGRATIONS = Migrations("lifeboat")
MIGRATIONS_TABLE = Migrations.migrations_table  # sqlite-utils' record of what was applied


# ---- opening ---------------------------------------------------------------------------

class ArchiveDatabase(sqlite_utils.Database):
    """A job's archive database opened by ``open_db``; ``applied`` names the migrations that
    opening it applied."""

    applied: list[str] = []

    def close(self) -> None:
        """Close; the last connection leaves the file in rollback-journal mode, so that a
        read-only reader (``lifeboat serve``, a copy on read-only media) needs and creates
        no -wal / -shm file beside it. Another connection still open keeps WAL."""
        try:
            self.conn.execute("PRAGMA busy_timeout = 0")
            self.conn.execute("PRAGMA journal_mode=DELETE")
        except sqlite3.Error:
            pass
        super().close()


def open_db(path: str | Path, reading_indexes: bool = True,
            busy_timeout_ms: int | None = None, check: bool = False) -> ArchiveDatabase:
    """Open (creating if needed) an archive database in WAL mode, migrated to the current
    schema. ``reading_indexes=False`` (a crawl writing, ``lifeboat status`` beside it)
    leaves out the indexes only readers use (``READING_INDEXES``). ``busy_timeout_ms``:
    how long a write (the migrations' included) waits for another writer, instead of
    sqlite3's 5 s. ``check``: run SQLite's quick_check first (it reads every page). A
    damaged file raises ``DamagedDatabase``, never a bare sqlite3 error."""
    db = ArchiveDatabase(path)
    try:
        if busy_timeout_ms is not None:
            db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        db.execute("PRAGMA journal_mode=WAL")
        if check and (problems := integrity_problems(db.conn)):
            raise DamagedDatabase(str(path), problems)
        db.execute("PRAGMA synchronous=NORMAL")
        db.applied = migrate(db)
        if reading_indexes:
            create_reading_indexes(db)
    except sqlite3.DatabaseError as exc:
        sqlite_utils.Database.close(db)
        if not is_damage(exc):
            raise
        raise DamagedDatabase(str(path), [str(exc)]) from None
    except DamagedDatabase:
        sqlite_utils.Database.close(db)
        raise
    return db


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply the migrations ``db`` has not had, in order, each once; return their names.
    Holds the write lock throughout, so two processes opening one new file apply them
    once."""
    if not MIGRATIONS.pending(db):
        return []
    db.execute("BEGIN IMMEDIATE")
    try:
        applied = [m.name for m in MIGRATIONS.pending(db)]
        MIGRATIONS.apply(db)
        db.execute("COMMIT")
    except BaseException:
        if db.conn.in_transaction:
            db.execute("ROLLBACK")
        raise
    return applied


def pending_migrations(path: str | Path) -> list[str]:
    """The migrations the file at ``path`` has not had (read-only: nothing is written)."""
    conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        return [m.name for m in MIGRATIONS.pending(sqlite_utils.Database(conn))]
    finally:
        conn.close()


def require_current(path: str | Path) -> None:
    """Raise ``SchemaBehind`` when the file at ``path`` has migrations pending (read-only)."""
    if pending := pending_migrations(path):
        raise SchemaBehind(str(Path(path).parent), pending)


def upgrade_job(job_dir: str | Path) -> list[str]:
    """Bring ``job_dir``'s archive.db to the current schema (``lifeboat upgrade``) and build
    the readers' indexes; return the migrations applied ([] when it was current)."""
    db_path = Path(job_dir) / DB_NAME
    if not db_path.is_file():
        raise NotAJobDir(f"{job_dir} is not a lifeboat job directory (no archive.db); "
                         "start one with: lifeboat crawl PROFILE --out DIR")
    db = open_db(db_path, check=True)
    db.close()
    return db.applied


def create_reading_indexes(db: sqlite_utils.Database) -> None:
    """Build the indexes only readers use, where missing."""
    for table_name, columns, unique in READING_INDEXES:
        db.table(table_name).create_index(columns, unique=unique, if_not_exists=True)
    for sql in READING_EXPRESSION_INDEXES.values():
        db.execute(sql)


# ---- damage ----------------------------------------------------------------------------

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


# ---- the migrations, in order: never edit one that has shipped, add a new one ----------

def ensure_tables(db: sqlite_utils.Database) -> None:
    """Create every table, column, trigger and writing index that is missing; leave what
    exists alone (any older lifeboat made a subset of them)."""
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
    for table_name, columns, unique in INDEXES:
        db.table(table_name).create_index(columns, unique=unique, if_not_exists=True)


def create_posts_fts(db: sqlite_utils.Database) -> None:
    """The posts full-text index with its triggers; one an older ``lifeboat serve`` made
    is kept when its triggers are all there, else made again from the posts rows."""
    posts = db.table("posts")
    triggers = {t.name for t in db.triggers}
    if posts.detect_fts() == "posts_fts" and triggers.issuperset(POSTS_FTS_TRIGGERS):
        return
    posts.enable_fts(POSTS_FTS_COLUMNS, create_triggers=True, tokenize=POSTS_FTS_TOKENIZE,
                     replace=True)


def create_views(db: sqlite_utils.Database) -> None:
    """Every view in ``VIEWS``, replacing one of the same name (an older serve's)."""
    for name, sql in VIEWS.items():
        db.create_view(name, sql.strip(), replace=True)


def fill_utc_times(db: sqlite_utils.Database) -> int:
    """Fill ``media_metadata.captured_at_utc`` where it is missing and the capture time
    has a zone (rows extracted before the column existed); return how many rows."""
    db.conn.create_function("lifeboat_utc_time", 1, utc_time, deterministic=True)
    return db.execute(
        "update media_metadata set captured_at_utc = lifeboat_utc_time(captured_at) "
        "where captured_at_utc is null and lifeboat_utc_time(captured_at) is not null"
    ).rowcount


MIGRATIONS(name="tables")(ensure_tables)
MIGRATIONS(name="posts_fts")(create_posts_fts)
MIGRATIONS(name="views")(create_views)
MIGRATIONS(name="captured_at_utc")(fill_utc_times)
