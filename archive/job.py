"""A job directory and the open resources of one crawl run over it.

Layout (DESIGN.md): ``job.toml``, ``warc/``, ``archive.db``, ``logs/`` (``crawl.log``,
``requests.log``, ``skipped.log``, ``repairs.log``), ``crawl.lock`` (held while a crawl
runs). ``Job.open`` repairs a WARC torn by a killed run before anything new is written.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
import re
import time
import tomllib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, TextIO

from archive.capture import DigestIndex, PendingExchanges
from archive.exceptions import JobLocked, JobMismatch, fatal_write_error
from archive.repair import repair_warc
from archive.schema import DB_NAME, QUEUED, open_db
from archive.store import JobStore
from archive.writer import RotatingWarcWriter, warc_files


logger = logging.getLogger(__name__)

REQUESTS_LOG_FLUSH = 0.5  # seconds a logs/requests.log line may wait in memory
LOCK_ATTEMPTS = 10


def crawl_running(job_dir: Path) -> bool:
    """Whether a crawl holds ``job_dir``'s lock right now (tested with a shared lock taken
    and dropped at once; ``Job.open`` retries for half a second should it meet it)."""
    path = Path(job_dir) / "crawl.lock"
    if not path.is_file():
        return False
    with open(path, "rb") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
    return False


def utc_now() -> str:
    """ISO 8601 UTC with milliseconds, e.g. 2026-11-22T17:05:09.123Z."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def warc_prefix(job_dir: Path) -> str:
    """The ``<job>`` part of WARC file names: the job directory's name, made safe."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", job_dir.resolve().name).strip("-") or "job"


def read_job_toml(job_dir: Path) -> dict[str, Any] | None:
    path = job_dir / "job.toml"
    return tomllib.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def write_job_toml(job_dir: Path, settings: dict[str, Any]) -> None:
    """Record what the job was started with; a resumed job must use the same profile.

    ``settings`` holds strings, numbers and one level of tables (written as TOML through
    JSON literals, which TOML reads the same way).
    """
    previous = read_job_toml(job_dir)
    if previous is not None:
        if previous.get("profile_name") != settings["profile_name"]:
            raise JobMismatch(
                f"{job_dir} holds a crawl of profile {previous.get('profile_name')!r}, not "
                f"{settings['profile_name']!r}: use another --out directory")
        return
    lines = ["# lifeboat job: the profile and settings this job was started with"]
    tables = {k: v for k, v in settings.items() if isinstance(v, dict)}
    lines += [f"{k} = {json.dumps(v)}" for k, v in settings.items() if k not in tables]
    for name, table in tables.items():
        lines.append(f"\n[{name}]")
        lines += [f"{json.dumps(k)} = {json.dumps(v)}" for k, v in table.items()]
    (job_dir / "job.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


class Job:
    """The resources a crawl run holds open over its job directory; ``prefix`` names the
    WARC files (default: the directory's name, ``warc_prefix``)."""

    def __init__(self, job_dir: Path, profile_name: str, warc_max_size: int,
                 warcinfo: dict[str, str], prefix: str | None = None):
        self.dir = Path(job_dir)
        self.prefix = prefix or warc_prefix(self.dir)
        self.profile_name = profile_name
        self.warc_dir = self.dir / "warc"
        self.logs_dir = self.dir / "logs"
        self.warc_max_size = warc_max_size
        self.warcinfo = warcinfo
        self.repairs: list[str] = []
        self.run_id: int | None = None
        # set when a write failed for good (disk full, database damaged): what happened
        # and what to do, in one line; on_stop hooks (the crawl) are told once
        self.failure: str | None = None
        self.on_stop: list[Callable[[str], None]] = []
        # URL -> the (item type, ID) pairs it may be the URL of (the profile's templates),
        # to fetch again the items whose WARC records were lost (check_warcs)
        self.locate: Callable[[str], list[tuple[str, str]]] | None = None

    def open(self) -> Job:
        self.warc_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.dir / "crawl.lock", "w")
        for attempt in range(LOCK_ATTEMPTS):
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == LOCK_ATTEMPTS - 1:
                    self._lock.close()
                    raise JobLocked(f"another crawl is running on {self.dir}: wait for it to "
                                    "end, or stop it (Ctrl-C) before resuming") from None
                time.sleep(0.05)  # perhaps `lifeboat status` looking (crawl_running)
        # the readers' indexes are built when the crawl ends (spiders/run.py)
        try:  # a damaged database stops the crawl before it writes anything
            self.db = open_db(self.dir / DB_NAME, reading_indexes=False, check=True)
        except BaseException:
            self._lock.close()
            raise
        self._check_warcs()
        self._repair_last_warc()
        self.digests = DigestIndex.load(self.db)
        self.store = JobStore(self.db, self.profile_name)
        self.writer = RotatingWarcWriter(self.warc_dir, self.prefix,
                                         self.warc_max_size, self.warcinfo)
        self.pending = PendingExchanges(self.writer, on_error=self._write_failed)
        # the WARC records, durable, before the rows that point at them are committed
        self.store.before_commit += [self.pending.write, self.writer.sync]
        self.store.on_failure.append(self._failed)
        self._skipped: TextIO = open(self.logs_dir / "skipped.log", "a", encoding="utf-8")
        # block-buffered, flushed at least every REQUESTS_LOG_FLUSH seconds: a write per
        # line (line buffering) cost more CPU than the rest of the line's work
        self._requests: TextIO = open(self.logs_dir / "requests.log", "a", encoding="utf-8")
        self._requests_flushed = time.time()
        return self

    def _check_warcs(self) -> None:
        """Every WARC file the captures rows point at must exist and hold every record they
        point at. Lost records (file deleted, or cut short) are forgotten: their rows go,
        revisits of them too, and their items are queued to be fetched again, so no new
        revisit points at a payload that is gone. A file cut inside a record is cut back to
        its last complete record. Each damaged file is reported (``repairs``)."""
        lost: list[int] = []
        for name, end in self.db.execute(
                "SELECT warc_filename, max(warc_offset + warc_length) FROM captures "
                "WHERE warc_filename IS NOT NULL GROUP BY warc_filename").fetchall():
            path = self.warc_dir / name
            size = path.stat().st_size if path.is_file() else None
            if size is not None and size >= end:
                continue
            gone = [row for row in self.db.execute(
                "SELECT id FROM captures WHERE warc_filename = ? AND "
                "warc_offset + warc_length > ?", [name, size or 0])]
            lost += [capture_id for capture_id, in gone]
            if size is None:
                what = f"warc/{name} is missing: {len(gone)} records lost"
            else:
                kept = self.db.execute(
                    "SELECT coalesce(max(warc_offset + warc_length), 0) FROM captures "
                    "WHERE warc_filename = ? AND warc_offset + warc_length <= ?",
                    [name, size]).fetchone()[0]
                repair = repair_warc(path, kept)
                what = (f"warc/{name} is {size} bytes, short of the {end} its records need: "
                        f"{len(gone)} records lost"
                        + (f"; cut back to {repair.size_after} bytes (its last complete "
                           "record)" if repair else ""))
            self._damage(what)
        if lost:
            self._forget(lost)

    def _forget(self, lost: list[int]) -> None:
        """Delete the lost captures rows (and revisits of them), queue their items again."""
        with self.db.atomic():
            self.db.execute("CREATE TEMP TABLE IF NOT EXISTS lost (id INTEGER PRIMARY KEY)")
            self.db.execute("DELETE FROM temp.lost")
            self.db.conn.executemany("INSERT OR IGNORE INTO temp.lost VALUES (?)",
                                     [(i,) for i in lost])
            self.db.execute(
                "INSERT OR IGNORE INTO temp.lost SELECT r.id FROM captures r JOIN captures o "
                "ON r.refers_to = o.warc_record_id WHERE o.id IN (SELECT id FROM temp.lost) "
                "AND r.warc_type = 'revisit'")
            urls = {url for url, in self.db.execute(
                "SELECT url FROM captures WHERE id IN (SELECT id FROM temp.lost) UNION "
                "SELECT url FROM posts WHERE capture_id IN (SELECT id FROM temp.lost) UNION "
                "SELECT url FROM media WHERE capture_id IN (SELECT id FROM temp.lost)")}
            items = set()
            for url in urls:
                items.update(self.locate(url) if self.locate and url else ())
            reason = "its WARC record was lost (see logs/repairs.log): fetched again"
            queued = 0
            for item_type, item_id in sorted(items):
                queued += self.db.execute(
                    "UPDATE ledger SET state = ?, reason = ? WHERE profile = ? "
                    "AND item_type = ? AND id = ?",
                    [QUEUED, reason, self.profile_name, item_type, item_id]).rowcount
            revisits = self.db.execute("SELECT count(*) FROM temp.lost").fetchone()[0] \
                - len(set(lost))
            self.db.execute("DELETE FROM captures WHERE id IN (SELECT id FROM temp.lost)")
        self._damage(f"forgot {len(lost)} lost records"
                     + (f" and {revisits} revisits of them" if revisits else "")
                     + f"; {queued} items are fetched again")

    def _damage(self, what: str) -> None:
        self.repairs.append(what)
        with open(self.logs_dir / "repairs.log", "a", encoding="utf-8") as log:
            log.write(f"{utc_now()}\t{what}\n")

    def _repair_last_warc(self) -> None:
        files = warc_files(self.warc_dir)
        if not files:
            return
        last = files[-1]
        row = self.db.execute(
            "SELECT max(warc_offset + warc_length) FROM captures WHERE warc_filename = ?",
            [last.name]).fetchone()
        repair = repair_warc(last, row[0] or 0)
        if repair is None:
            return
        if repair.size_after == 0:
            last.unlink()
        message = f"{utc_now()}\t{repair}"
        self.repairs.append(str(repair))
        with open(self.logs_dir / "repairs.log", "a", encoding="utf-8") as log:
            log.write(message + "\n")

    def begin_run(self, walks: list[dict[str, str]]) -> None:
        """Record that a crawl run starts over ``walks`` ([{item_type, first, last}])."""
        with self.db.atomic():
            self.run_id = self.db["crawl_runs"].insert({
                "started_at": utc_now(), "outcome": "running", "pid": os.getpid(),
                "walks": json.dumps(walks)}).last_pk

    def end_run(self, outcome: str, stopped_at: dict[str, str] | None = None) -> None:
        """Record how the run ended (``finished``, ``stopped by SIGINT``, ...)."""
        if self.run_id is None:
            return
        with self.db.atomic():
            self.db["crawl_runs"].update(self.run_id, {
                "ended_at": utc_now(), "outcome": outcome,
                "stopped_at": json.dumps(stopped_at) if stopped_at else None})

    def _write_failed(self, exc: BaseException) -> bool:
        """An error writing the WARC or a log: True when it is fatal (and the job stops)."""
        what = fatal_write_error(exc)
        if what is not None:
            self.store.fail(exc, what)  # calls _failed
        return what is not None

    def _failed(self, exc: BaseException, what: str) -> None:
        """A write failed for good: stop writing anything, say so once, stop the crawl."""
        if self.failure is not None:
            return
        self.pending.stop()
        fix = ("free some space" if what == "the disk is full" else
               "check the database (lifeboat verify DIR says what is wrong)"
               if "archive.db" in what else "check the disk")
        self.failure = (f"lifeboat: {what} ({exc.__class__.__name__}: {exc}): the crawl of "
                        f"{self.dir} stopped at once; the answers not yet saved were dropped "
                        f"whole and are fetched again; {fix}, then rerun the same command "
                        "to resume")
        logger.error("%s", self.failure)
        for hook in self.on_stop:
            hook(what)

    def log_skipped(self, url: str, reason: str, found_in: str = "") -> None:
        """An URL not fetched, with the reason (logs/skipped.log, tab-separated)."""
        if self.failure is not None:
            return
        try:
            self._skipped.write(f"{utc_now()}\t{url}\t{reason}\t{found_in}\n")
            self._skipped.flush()
        except OSError as exc:
            if not self._write_failed(exc):
                raise

    def log_request(self, event: str, slot: str, url: str, status: int | str = "",
                    detail: str = "") -> None:
        """One line per request event in logs/requests.log (epoch seconds first). Retries,
        errors and give-ups go to disk at once, sends and answers with the next line
        logged ``REQUESTS_LOG_FLUSH`` seconds or more after the last flush."""
        if self.failure is not None:
            return
        now = time.time()
        try:
            self._requests.write(f"{now:.3f}\t{event}\t{slot}\t{status}\t{url}\t{detail}\n")
            if now - self._requests_flushed >= REQUESTS_LOG_FLUSH \
                    or event not in ("send", "recv"):
                self._requests.flush()
                self._requests_flushed = now
        except OSError as exc:
            if not self._write_failed(exc):
                raise

    def close(self, outcome: str = "finished", stopped_at: dict[str, str] | None = None) -> None:
        """Commit every buffered row, close the WARC, record how the run ended (when
        ``begin_run`` was called), release the lock."""
        self.store.close()
        if self.failure is not None:
            outcome, stopped_at = "disk full" if "disk is full" in self.failure else "failed", None
        steps = (self.writer.close, lambda: self.end_run(outcome, stopped_at),
                 self._skipped.close, self._requests.close, self.db.close)
        try:
            for step in steps:
                try:
                    step()
                except (OSError, sqlite3.Error) as exc:
                    # after a failed write, closing may fail the same way: nothing to add
                    if self.failure is None and not self._write_failed(exc):
                        raise
        finally:
            self._lock.close()  # releases the flock
