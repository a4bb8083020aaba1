"""``lifeboat merge OUT SHARD...``: join the shard job directories of a distributed crawl.

Every shard's WARC files land in ``OUT/warc`` (hard-linked when OUT is on the same file
system, else copied; ``--move`` moves them), keeping their names, so every row still
names its record. Rows are merged with SQL over ATTACHed shard databases:

- ``captures``: one row per WARC record id (merging a shard twice adds nothing), with new
  ``id`` numbers; ``posts`` and ``media`` follow their capture to its new id. A capture
  whose URL and payload digest another shard's capture already has (one item fetched by
  two workers: a chunk walked again after a worker died or lost its lease) is left out,
  keeping the first shard's; its record stays in its WARC and is listed, with the capture
  kept, in ``logs/duplicates.log``;
- ``ledger``: one row per (profile, item type, id). When two shards walked the same ID
  (a chunk finished twice: its lease ran out while the first worker was still at it),
  the more final state wins (archived/deleted, then forbidden/missing, then failed,
  then queued), then the earlier one; ``posts`` and ``media`` keep the earlier capture;
- ``post_media`` and ``media_metadata``: union.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from archive.exceptions import ArchiveError
from archive.job import read_job_toml, utc_now, write_job_toml
from archive.schema import DB_NAME, QUEUED, LedgerState, open_db
from archive.writer import warc_files

RANK = ("CASE {0} " + " ".join(f"WHEN '{state}' THEN {rank}" for state, rank in (
    (LedgerState.ARCHIVED, 3), (LedgerState.DELETED, 3), (LedgerState.FORBIDDEN, 2),
    (LedgerState.MISSING, 2), (LedgerState.FAILED, 1))) + " ELSE 0 END")
CAPTURE_ID = ("coalesce((SELECT m.id FROM main.captures m JOIN shard.captures c "
              "ON c.warc_record_id = m.warc_record_id WHERE c.id = t.capture_id), "
              "(SELECT kept FROM temp.duplicates WHERE shard_id = t.capture_id))")
# shard captures that repeat (same URL and payload) a capture another shard brought
DUPLICATES = """
SELECT c.id, min(m.id), c.url, c.warc_filename, c.warc_offset, c.warc_record_id
FROM shard.captures c JOIN main.captures m
  ON m.url = c.url AND m.payload_sha256 = c.payload_sha256
 AND m.warc_record_id != c.warc_record_id
WHERE NOT EXISTS (SELECT 1 FROM main.captures x WHERE x.warc_record_id = c.warc_record_id)
GROUP BY c.id
"""


class MergeError(ArchiveError):
    """The shards cannot be merged as asked; the message says why and what to do."""


@dataclass
class MergeReport:
    out: Path
    shards: list[Path]
    warcs: int = 0
    added: dict[str, int] = field(default_factory=dict)
    queued: int = 0
    duplicates: list[tuple] = field(default_factory=list)

    def lines(self) -> list[str]:
        counts = ", ".join(f"{n} {table}" for table, n in self.added.items())
        lines = [f"merged {len(self.shards)} shards into {self.out}: {self.warcs} WARC files; "
                 f"rows added: {counts}"]
        if self.duplicates:
            lines.append(f"{len(self.duplicates)} captures repeat another shard's (same URL "
                         "and payload: each worker's robots.txt, or an item two workers "
                         "fetched); kept once, the others listed in logs/duplicates.log")
        if self.queued:
            lines.append(f"warning: {self.queued} discovered items were never fetched by any "
                         "shard (a shard missing, or a worker not finished); `lifeboat verify` "
                         "will list them")
        return lines


def _columns(db: sqlite3.Connection, schema: str, table: str) -> list[str]:
    return [row[1] for row in db.execute(f"PRAGMA {schema}.table_info({table})")]


def _shared(db: sqlite3.Connection, table: str) -> list[str]:
    """Columns of ``table`` present in both the output and the attached shard."""
    theirs = set(_columns(db, "shard", table))
    return [c for c in _columns(db, "main", table) if c in theirs]


def _upsert(db: sqlite3.Connection, table: str, conflict: str, winner: str,
            select: dict[str, str] | None = None) -> int:
    """Insert the shard's rows of ``table``; on a conflict the shard row replaces the
    existing one only where ``winner`` (SQL over ``excluded`` and ``{table}``) holds."""
    columns = _shared(db, table)
    if not columns:
        return 0
    select = select or {}
    keys = {c.strip() for c in conflict.split(",")}
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in keys)
    on_conflict = (f"ON CONFLICT ({conflict}) DO UPDATE SET {updates} WHERE {winner}"
                   if updates and winner else f"ON CONFLICT ({conflict}) DO NOTHING")
    before = db.total_changes
    db.execute(f"INSERT INTO main.{table} ({', '.join(columns)}) "
               f"SELECT {', '.join(select.get(c, 't.' + c) for c in columns)} "
               f"FROM shard.{table} t WHERE true {on_conflict}")
    return db.total_changes - before


def _earlier_capture(table: str) -> str:
    """SQL: the incoming row's capture was fetched before the existing row's."""
    fetched = "coalesce((SELECT fetched_at FROM main.captures WHERE id = {}), '~')"
    return f"{fetched.format('excluded.capture_id')} < {fetched.format(table + '.capture_id')}"


def _merge_collisions(db: sqlite3.Connection) -> int:
    """The shard's replaced posts rows, once (merging a shard again adds none)."""
    columns = [c for c in _shared(db, "post_collisions") if not c.endswith("capture_id")]
    if not columns:
        return 0
    names = ", ".join(columns)
    same = " AND ".join(f"o.{c} IS t.{c}" for c in ("id", "url", "raw", "replaced_by_url"))
    before = db.total_changes
    db.execute(f"INSERT INTO main.post_collisions ({names}) SELECT {names} "
               f"FROM shard.post_collisions t WHERE NOT EXISTS "
               f"(SELECT 1 FROM main.post_collisions o WHERE {same})")
    return db.total_changes - before


def merge_rows(db: sqlite3.Connection, shard_db: Path,
               duplicates: list[tuple] | None = None) -> dict[str, int]:
    """Merge one shard's archive.db into ``db`` (the output's); returns rows changed.

    Captures repeating another shard's are left out and appended to ``duplicates`` as
    (kept capture id, url, WARC file, offset, WARC-Record-ID).
    """
    db.execute("ATTACH DATABASE ? AS shard", (str(shard_db),))
    try:
        with db:
            added = {}
            db.execute("CREATE TEMP TABLE IF NOT EXISTS duplicates "
                       "(shard_id INTEGER PRIMARY KEY, kept INTEGER)")
            db.execute("DELETE FROM temp.duplicates")
            repeated = db.execute(DUPLICATES).fetchall()
            db.executemany("INSERT INTO temp.duplicates VALUES (?, ?)",
                           [row[:2] for row in repeated])
            if duplicates is not None:
                duplicates.extend(row[1:] for row in repeated)
            columns = [c for c in _shared(db, "captures") if c != "id"]
            offset = db.execute("SELECT coalesce(max(id), 0) FROM main.captures").fetchone()[0]
            before = db.total_changes
            db.execute(f"INSERT OR IGNORE INTO main.captures (id, {', '.join(columns)}) "
                       f"SELECT id + ?, {', '.join(columns)} FROM shard.captures "
                       f"WHERE id NOT IN (SELECT shard_id FROM temp.duplicates) ORDER BY id",
                       (offset,))
            added["captures"] = db.total_changes - before
            for table in ("posts", "media"):
                added[table] = _upsert(db, table, "id" if table == "posts" else "url",
                                       _earlier_capture(table), {"capture_id": CAPTURE_ID})
            added["ledger"] = _upsert(
                db, "ledger", "profile, item_type, id",
                f"{RANK.format('excluded.state')} > {RANK.format('ledger.state')} OR "
                f"({RANK.format('excluded.state')} = {RANK.format('ledger.state')} AND "
                f"excluded.updated_at < ledger.updated_at)")
            added["post_media"] = _upsert(db, "post_media", "post_id, media_url", "")
            # a child item fetched by another shard than its parent post: credit it here
            added["post_children"] = _upsert(db, "post_children", "item_type, item_id, post_id",
                                             "")
            added["child_media"] = _upsert(db, "child_media", "item_type, item_id, media_url",
                                           "")
            before = db.total_changes
            db.execute("INSERT INTO main.post_media (post_id, media_url) "
                       "SELECT c.post_id, m.media_url FROM main.post_children c "
                       "JOIN main.child_media m ON m.item_type = c.item_type "
                       "AND m.item_id = c.item_id WHERE true ON CONFLICT DO NOTHING")
            added["post_media"] += db.total_changes - before
            added["post_collisions"] = _merge_collisions(db)
            added["media_metadata"] = _upsert(db, "media_metadata", "sha256", "")
        return added
    finally:
        db.execute("DETACH DATABASE shard")


def already_placed(source: Path, target: Path) -> bool:
    """True when ``target`` is ``source``'s bytes; MergeError when it is something else."""
    if not target.exists():
        return False
    if os.path.samefile(source, target) or filecmp.cmp(source, target, shallow=False):
        return True
    raise MergeError(f"{target} already exists with other content than {source}: OUT holds "
                     "another merge (or two workers shared a name); merge into a new OUT")


def place_warc(source: Path, target: Path, move: bool) -> bool:
    """Put one WARC file into OUT/warc; False when an identical one is already there."""
    if already_placed(source, target):
        if move and not os.path.samefile(source, target):
            source.unlink()
        return False
    if move:
        shutil.move(source, target)
        return True
    try:
        os.link(source, target)
    except OSError:  # another file system, or links not allowed
        shutil.copy2(source, target)
    return True


def _check_shards(out: Path, shards: list[Path]) -> dict:
    """The shards' common job settings; raises MergeError on a shard that does not fit."""
    settings = None
    for shard in shards:
        if not (shard / DB_NAME).is_file():
            raise MergeError(f"{shard} is not a lifeboat job directory (no archive.db): give "
                             "the --out directories of `lifeboat crawl --redis` workers")
        if shard.resolve() == out.resolve():
            raise MergeError(f"{shard} is OUT itself: merge into another directory")
        job = read_job_toml(shard) or {}
        if settings is None:
            settings = job
        elif job.get("profile_name") != settings.get("profile_name"):
            raise MergeError(f"{shard} holds a crawl of profile {job.get('profile_name')!r}, "
                             f"not {settings.get('profile_name')!r}: merge each walk separately")
    return settings or {}


def merge_shards(out: Path, shards: list[Path], move: bool = False) -> MergeReport:
    """Merge ``shards`` (job directories) into the job directory ``out``."""
    out, shards = Path(out), [Path(s) for s in shards]
    settings = _check_shards(out, shards)
    plan: dict[str, Path] = {}
    for shard in shards:
        for path in warc_files(shard / "warc"):
            if path.name in plan:
                raise MergeError(f"{path.name} is in both {plan[path.name].parent.parent} and "
                                 f"{shard}: give every worker its own --worker NAME")
            plan[path.name] = path
    for name, source in plan.items():
        already_placed(source, out / "warc" / name)
    (out / "warc").mkdir(parents=True, exist_ok=True)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    if settings.get("profile_name"):
        keep = ("profile_name", "profile_source", "lifeboat_version", "profile_text", "vars")
        write_job_toml(out, {**{k: settings[k] for k in keep if k in settings},
                             "merged_from": [str(s.resolve()) for s in shards]})
    report = MergeReport(out, shards)
    db = open_db(out / DB_NAME)
    try:
        conn = db.conn
        for shard in shards:
            for table, n in merge_rows(conn, shard / DB_NAME, report.duplicates).items():
                report.added[table] = report.added.get(table, 0) + n
        report.queued = conn.execute(
            "SELECT count(*) FROM ledger WHERE state = ?", [QUEUED]).fetchone()[0]
    finally:
        db.close()
    for name, source in plan.items():
        report.warcs += place_warc(source, out / "warc" / name, move)
    with open(out / "logs" / "merge.log", "a", encoding="utf-8") as log:
        log.write(f"{utc_now()}\t{' '.join(str(s) for s in shards)}\t{report.lines()[0]}\n")
    if report.duplicates:
        with open(out / "logs" / "duplicates.log", "a", encoding="utf-8") as log:
            for kept, url, filename, offset, record_id in report.duplicates:
                log.write(f"{utc_now()}\t{url}\t{filename}\t{offset}\t{record_id}\t"
                          f"same payload as capture {kept}\n")
    return report
