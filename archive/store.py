"""Batched writes of a crawl's rows into ``archive.db`` (captures, posts, media, ledger).

Rows are buffered in memory and written in one sqlite-utils transaction per batch
(every ``batch_size`` rows or ``max_delay`` seconds, and at close), so a kill loses at
most the last uncommitted batch, and resuming refetches exactly those IDs. The tables are
made by sqlite-utils (``archive.schema``); rows go in with ``executemany`` on one prepared
statement per table (sqlite-utils' ``insert_all`` converted every value in Python first;
bench/README.md, section 1).

The crawler's input is one ``archive.results.Result`` per item (``add_result``) and the
``captures`` rows of its exchanges (``add_capture``, from ``archive.capture``).
A capture made for an item is held back until the spider's result for that item
arrives and claims it, so a capture row is always committed together with the ledger
row it belongs to: after a kill, a refetched ID never leaves a second capture row.
"""

from __future__ import annotations

import logging
import time
from functools import lru_cache
from operator import attrgetter
from typing import Any, Callable

import sqlite_utils

from archive.exceptions import fatal_write_error
from archive.ledger import record_ledger, record_queued
from archive.results import ChildMedia, Media, Post, PostChild, PostMedia, Result
from archive.schema import QUEUED

logger = logging.getLogger(__name__)


@lru_cache(maxsize=None)
def insert_sql(table: str, columns: tuple[str, ...], conflict: str | None) -> str:
    """``INSERT`` of ``columns``; on a clash with an existing row: None fails, ``"ignore"``
    keeps that row, a key column's name updates the row with the new values."""
    names = ", ".join(f"[{c}]" for c in columns)
    sql = f"INSERT INTO [{table}] ({names}) VALUES ({', '.join('?' * len(columns))})"
    if conflict is None:
        return sql
    if conflict == "ignore":
        return sql + " ON CONFLICT DO NOTHING"
    updates = ", ".join(f"[{c}] = excluded.[{c}]" for c in columns if c != conflict)
    return sql + f" ON CONFLICT([{conflict}]) DO UPDATE SET {updates}"


POST_COLUMNS = tuple(Post.__slots__)
MEDIA_COLUMNS = tuple(Media.__slots__)
_post_row = attrgetter(*POST_COLUMNS)
_media_row = attrgetter(*MEDIA_COLUMNS)
_ledger_row = attrgetter("item_type", "id", "state", "attempts", "last_status", "updated_at",
                         "reason")


def write_rows(db: sqlite_utils.Database, table: str, rows: list[dict[str, Any]],
               conflict: str | None) -> None:
    """``rows`` (dicts, usually all with the same keys) into ``table`` (see ``insert_sql``)."""
    by_columns: dict[tuple[str, ...], list[tuple]] = {}
    for row in rows:
        by_columns.setdefault(tuple(row), []).append(tuple(row.values()))
    for columns, values in by_columns.items():
        db.conn.executemany(insert_sql(table, columns, conflict), values)


def resolve_aliases(db: sqlite_utils.Database, urls: set[str]) -> set[str]:
    """Copy the payload columns (and final URL) of the media row each of ``urls`` redirected
    to into its own row; return the URLs whose target has no payload yet."""
    for start in range(0, len(urls), 500):
        chunk = sorted(urls)[start:start + 500]
        marks = ",".join("?" * len(chunk))
        db.execute(f"""
            UPDATE media SET (sha256, content_type, size, capture_id, final_url) = (
              SELECT t.sha256, t.content_type, t.size, t.capture_id,
                     coalesce(t.final_url, t.url)
              FROM media t WHERE t.url = media.final_url)
            WHERE url IN ({marks}) AND sha256 IS NULL AND EXISTS (
              SELECT 1 FROM media t WHERE t.url = media.final_url AND t.sha256 IS NOT NULL)""",
                   chunk)
    left: set[str] = set()
    for start in range(0, len(urls), 500):
        chunk = sorted(urls)[start:start + 500]
        marks = ",".join("?" * len(chunk))
        left.update(url for url, in db.execute(
            f"SELECT url FROM media WHERE url IN ({marks}) AND sha256 IS NULL", chunk))
    return left


class JobStore:
    """Collects rows from the crawl and commits them in batches."""

    def __init__(self, db: sqlite_utils.Database, profile: str,
                 batch_size: int = 200, max_delay: float = 0.5):
        self.db, self.profile = db, profile
        self.batch_size, self.max_delay = batch_size, max_delay
        row = db.execute("SELECT max(id) FROM captures").fetchone()
        self._next_capture_id = (row[0] or 0) + 1
        self._captures: list[dict] = []
        self._held: dict[int, dict] = {}
        self._posts: list[tuple] = []  # POST_COLUMNS
        self._media: list[tuple] = []  # MEDIA_COLUMNS
        self._post_media: list[tuple[str, str]] = []
        self._ledger: list[tuple] = []
        self._queued: list[tuple] = []
        # media credited to the posts that discovered an item (post_children, child_media)
        self._post_children: list[tuple] = []
        self._child_media: list[tuple] = []
        self._credited: set[tuple[str, str]] = set()  # (item type, id) whose links changed
        self.warn: Callable[[str], None] = logger.warning  # e.g. the spider's, also stderr
        self._collisions = db.execute("SELECT coalesce(max(rowid), 0) FROM post_collisions"
                                      ).fetchone()[0]
        # media rows of URLs that redirected to a URL archived under its own row: their
        # payload columns are copied from that row once it is committed (resolve_aliases)
        self._aliases: set[str] = {url for url, in db.execute(
            "SELECT url FROM media WHERE sha256 IS NULL AND final_url IS NOT NULL")}
        self._pending = 0
        self._last_flush = time.monotonic()
        self.listeners: list[Callable[[Result], None]] = []  # e.g. the progress bar
        # run before each commit, e.g. writing the WARC records the rows point at
        self.before_commit: list[Callable[[], None]] = []
        # run after each commit that wrote rows, e.g. telling a distributed walk which
        # items are finished (spiders.worker)
        self.after_commit: list[Callable[[], None]] = []
        # a write no retry can fix (fatal_write_error: disk full, database damaged) stops
        # the store: everything buffered is dropped (a resumed crawl fetches it again) and
        # these hooks are told once, e.g. to stop the crawl
        self.failed: BaseException | None = None
        self.on_failure: list[Callable[[BaseException, str], None]] = []

    def add_capture(self, row: dict[str, Any], held: bool = False) -> int:
        """Buffer one captures row and return the id it will have (set in ``row``, which is
        kept as given: its fields may be filled in until it is committed).

        ``held`` rows wait for a result that claims them (``Result.captures``).
        """
        row["id"] = self._next_capture_id
        self._next_capture_id += 1
        if self.failed is not None:
            return row["id"]
        if held:
            self._held[row["id"]] = row
        else:
            self._ready(row)
        return row["id"]

    def _ready(self, row: dict[str, Any]) -> None:
        self._captures.append(row)
        self._pending += 1

    def add_result(self, result: Result) -> None:
        """Buffer what the crawler made of one item; tell listeners."""
        if self.failed is not None:  # stopped: nothing more is written
            return
        for listener in self.listeners:
            listener(result)
        for capture_id in result.captures:
            row = self._held.pop(capture_id, None)
            if row is not None:
                self._ready(row)
        self._posts.extend(map(_post_row, result.posts))
        for child in result.post_children:
            self._post_children.append(child)
            self._credited.add((child.item_type, child.item_id))
        for media in result.child_media:
            self._child_media.append(media)
            self._credited.add((media.item_type, media.item_id))
        for media in result.media:
            self._media.append(_media_row(media))
            if media.sha256 is None and media.final_url:
                self._aliases.add(media.url)
        self._post_media.extend(result.post_media)
        profile = self.profile
        if result.ledger is not None:
            self._ledger.append((profile, *_ledger_row(result.ledger)))
        for entry in result.ledger_more:
            self._ledger.append((profile, *_ledger_row(entry)))
        for item_type, item_id, when in result.queued:
            self._queued.append((profile, item_type, item_id, QUEUED, 0, None, when, None))
        self._pending += 1
        self.maybe_flush()

    def maybe_flush(self) -> None:
        if self._pending >= self.batch_size or (
                self._pending and time.monotonic() - self._last_flush >= self.max_delay):
            self.flush()

    def flush(self) -> None:
        """Write everything buffered in one transaction (nothing once the store failed)."""
        if self.failed is not None:
            return
        try:
            self._flush()
        except Exception as exc:
            what = fatal_write_error(exc)
            if what is None:
                raise
            self.fail(exc, what)

    def fail(self, exc: BaseException, what: str) -> None:
        """Stop writing for good after ``exc``: drop every buffered row, tell on_failure."""
        if self.failed is not None:
            return
        self.failed = exc
        for buffer in (self._captures, self._posts, self._media, self._post_media,
                       self._ledger, self._queued, self._post_children, self._child_media):
            buffer.clear()
        self._held.clear()
        self._credited.clear()
        self._pending = 0
        for hook in self.on_failure:
            hook(exc, what)

    def _flush(self) -> None:
        self._last_flush = time.monotonic()
        for hook in self.before_commit:
            hook()
        if not self._pending:
            return
        with self.db.atomic():
            write_rows(self.db, "captures", self._captures, None)
            for table, columns, conflict, rows in (
                    ("posts", POST_COLUMNS, "id", self._posts),
                    ("media", MEDIA_COLUMNS, "url", self._media),
                    ("post_media", PostMedia._fields, "ignore", self._post_media)):
                if rows:
                    self.db.conn.executemany(insert_sql(table, columns, conflict), rows)
            if self._queued:
                record_queued(self.db, self._queued)
            if self._ledger:
                record_ledger(self.db, self._ledger)
            if self._aliases:
                self._aliases = resolve_aliases(self.db, self._aliases)
            if self._credited:
                self._credit_parents()
        if self._posts:
            self._report_collisions()
        for buffer in (self._captures, self._posts, self._media, self._post_media,
                       self._ledger, self._queued, self._post_children, self._child_media):
            buffer.clear()
        self._pending = 0
        for hook in self.after_commit:
            hook()

    def _credit_parents(self) -> None:
        """Write the buffered child links, then a post_media row for every (post, media URL)
        they join to, for the child items whose links changed."""
        self.db.conn.executemany(insert_sql("post_children", PostChild._fields, "ignore"),
                                 self._post_children)
        self.db.conn.executemany(insert_sql("child_media", ChildMedia._fields, "ignore"),
                                 self._child_media)
        self.db.conn.executemany(
            "INSERT INTO post_media (post_id, media_url) SELECT c.post_id, m.media_url "
            "FROM post_children c JOIN child_media m "
            "ON m.item_type = c.item_type AND m.item_id = c.item_id "
            "WHERE c.item_type = ? AND c.item_id = ? ON CONFLICT DO NOTHING",
            sorted(self._credited))
        self._credited.clear()

    def _report_collisions(self) -> None:
        """Say which posts rows were just replaced by another answer with the same posts.id
        (the trigger in archive.schema keeps the replaced row in post_collisions)."""
        rows = self.db.execute(
            "SELECT rowid, id, url, replaced_by_url FROM post_collisions WHERE rowid > ? "
            "ORDER BY rowid", [self._collisions]).fetchall()
        for rowid, post_id, url, replaced_by in rows:
            self._collisions = rowid
            self.warn(f"posts.id {post_id!r} given twice: the row from {url} was replaced by "
                      f"the one from {replaced_by} (the replaced row is kept in the "
                      f"post_collisions table; give fields.id a unique value)")

    def close(self) -> None:
        for row in self._held.values():
            self._ready(row)
        self._held.clear()
        self.flush()
