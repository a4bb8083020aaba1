"""``lifeboat extract``: ExifTool metadata for every media payload not yet extracted.

Two entry points, one pipeline:

- ``extract_job(job_dir)``: a job directory's ``media`` rows whose SHA-256 has no
  ``media_metadata`` row yet, read from the WARC records their captures point at (the
  crawl calls this when it ends).
- ``extract_warcs(warc_paths, db_path)``: any WARC files; photos and videos are found by
  content type and by their first bytes, and recorded as ``captures`` and ``media`` first.

Payloads are streamed to temporary files in batches; a pool of stay-open ExifTool
processes reads the batches in parallel while the next ones are being written; results
are normalised (``metadata.normalise``) and written in one transaction per batch. Each
SHA-256 is extracted once; a broken file gets ``error`` and the run goes on.
"""

from __future__ import annotations

import tempfile
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import sqlite_utils
from tqdm import tqdm

from archive.reader import open_record
from archive.schema import DB_NAME, open_db
from metadata.exceptions import NotAJobDirectory
from metadata.payload import Spooled, spool_record, use_fast_inflate
from metadata.runner import FILE_SECONDS, ExifToolPool, Record
from metadata.store import (count_pending, error_row, is_extracted, iter_pending, metadata_row,
                            save_rows)
from metadata.warc_scan import scan_warc

BATCH_FILES = 16  # files per ExifTool call
BATCH_BYTES = 256 << 20  # ...or fewer when they are large, to bound temporary disk use
WARC_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz")
BUSY_TIMEOUT_MS = 60_000  # a crawl may be writing to the database: wait up to a minute


@dataclass
class ExtractResult:
    """What one extraction run did."""

    extracted: int = 0  # new media_metadata rows
    with_position: int = 0  # ...of which have a latitude/longitude
    errors: int = 0  # ...of which have error set
    already_done: int = 0  # media whose SHA-256 had been extracted before (or earlier this run)
    unreadable: list[str] = field(default_factory=list)  # WARC files / records not read
    exiftool_version: str = ""
    seconds: float = 0.0


class _Batches:
    """Feeds spooled payloads to the pool in batches and writes the results as they come."""

    def __init__(self, db: sqlite_utils.Database, pool: ExifToolPool, result: ExtractResult,
                 bar: tqdm | None = None) -> None:
        self.db, self.pool, self.result, self.bar = db, pool, result, bar
        self._queued: set[str] = set()  # sent to ExifTool, not saved yet
        self._batch: list[tuple[str, Spooled]] = []
        self._bytes = 0
        self._in_flight: deque[tuple[list[tuple[str, Spooled]], Future[list[Record]]]] = deque()

    def is_done(self, sha256: str) -> bool:
        """Extracted before, or already queued in this run."""
        return sha256 in self._queued or is_extracted(self.db, sha256)

    def add(self, sha256: str, spooled: Spooled) -> None:
        """Queue one payload (or, if it could not be read, record why at once)."""
        if self.is_done(sha256):
            self.result.already_done += 1
            if spooled.path:
                spooled.path.unlink(missing_ok=True)
            return
        self._queued.add(sha256)
        if spooled.path is None:
            self._save([error_row(sha256, spooled.problem or "unreadable",
                                  self.pool.version)])
            return
        self._batch.append((sha256, spooled))
        self._bytes += spooled.size
        if len(self._batch) >= BATCH_FILES or self._bytes >= BATCH_BYTES:
            self._send()

    def finish(self) -> None:
        """Send what is left, spread over the processes, and wait for every result."""
        rest, parts = self._batch, min(self.pool.workers, len(self._batch))
        for part in range(parts):  # so that no process idles while another reads the rest
            self._batch = rest[part::parts]
            self._send()
        while self._in_flight:
            self._collect(*self._in_flight.popleft())

    def _send(self) -> None:
        if self._batch:
            paths = [str(spooled.path) for _, spooled in self._batch]
            self._in_flight.append((self._batch, self.pool.submit(paths)))
            self._batch, self._bytes = [], 0
        # keep every ExifTool busy with one batch queued behind it, no more
        while len(self._in_flight) > 2 * self.pool.workers or (
                self._in_flight and self._in_flight[0][1].done()):
            self._collect(*self._in_flight.popleft())

    def _collect(self, batch: list[tuple[str, Spooled]], future: Future[list[Record]]) -> None:
        records = future.result()
        rows = [metadata_row(sha256, record, self.pool.version, spooled.problem,
                             self.pool.command)
                for (sha256, spooled), record in zip(batch, records)]
        self._save(rows)
        for _, spooled in batch:
            spooled.path.unlink(missing_ok=True)

    def _save(self, rows: list[dict]) -> None:
        save_rows(self.db, rows)
        self._queued.difference_update(row["sha256"] for row in rows)
        self.result.extracted += len(rows)
        self.result.with_position += sum(r.get("latitude") is not None for r in rows)
        self.result.errors += sum(bool(r.get("error")) for r in rows)
        if self.bar is not None:
            self.bar.set_postfix(extracted=self.result.extracted, refresh=False)


def _progress(enabled: bool, **kwargs) -> tqdm:
    return tqdm(desc="extract", disable=None if enabled else True, **kwargs)


def extract_job(job_dir: Path, workers: int | None = None,
                progress: bool = True, file_timeout: float = FILE_SECONDS) -> ExtractResult:
    """Extract every media payload of the job in ``job_dir`` not yet in ``media_metadata``.

    Reads the WARC record of each media row's capture (for a revisit, the record holding
    the payload). Returns counts; a WARC file that cannot be opened is listed in
    ``unreadable`` and its media are left for the next run.
    """
    job_dir = Path(job_dir)
    if not (job_dir / DB_NAME).is_file():
        raise NotAJobDirectory(str(job_dir))
    started = time.monotonic()
    use_fast_inflate()
    db = open_db(job_dir / DB_NAME, busy_timeout_ms=BUSY_TIMEOUT_MS, check=True)
    already_done = db.execute("SELECT count(DISTINCT sha256) FROM media WHERE sha256 IN "
                              "(SELECT sha256 FROM media_metadata)").fetchone()[0]
    with ExifToolPool(workers, file_timeout=file_timeout) as pool, tempfile.TemporaryDirectory(
            prefix="lifeboat-extract-") as tmp, _progress(
            progress, total=count_pending(db), unit="media") as bar:
        result = ExtractResult(exiftool_version=pool.version, already_done=already_done)
        batches = _Batches(db, pool, result, bar)
        for index, item in enumerate(iter_pending(db, job_dir)):
            bar.update()
            if batches.is_done(item.sha256):
                continue  # another URL of a payload queued a moment ago
            try:
                with open_record(item.warc_path, item.warc_offset) as record:
                    spooled = spool_record(record, Path(tmp), f"j{index}")
            except Exception as exc:  # noqa: BLE001 - missing file, no record at that offset
                result.unreadable.append(f"{item.warc_path}@{item.warc_offset}: {exc}")
                continue
            if spooled.sha256 and spooled.sha256 != item.sha256:
                spooled.problem = "; ".join(filter(None, [spooled.problem, (
                    f"payload in the WARC has SHA-256 {spooled.sha256}, not {item.sha256}")]))
            batches.add(item.sha256, spooled)
        batches.finish()
    db.close()
    result.seconds = time.monotonic() - started
    return result


def extract_warcs(warc_paths: Sequence[Path], db_path: Path, workers: int | None = None,
                  progress: bool = True, file_timeout: float = FILE_SECONDS) -> ExtractResult:
    """Find the photos and videos in ``warc_paths``, record them in ``db_path``, extract them.

    Captures and media rows are written once however often this runs; payloads already
    extracted are not read again. A WARC that breaks off is listed in ``unreadable``
    after what could be read from it has been kept.
    """
    started = time.monotonic()
    use_fast_inflate()
    db = open_db(db_path, busy_timeout_ms=BUSY_TIMEOUT_MS, check=True)
    total = sum(Path(p).stat().st_size for p in warc_paths)
    with ExifToolPool(workers, file_timeout=file_timeout) as pool, tempfile.TemporaryDirectory(
            prefix="lifeboat-extract-") as tmp, _progress(
            progress, total=total, unit="B", unit_scale=True) as bar:
        result = ExtractResult(exiftool_version=pool.version)
        batches = _Batches(db, pool, result, bar)
        for warc_path in warc_paths:
            try:
                for found in scan_warc(db, Path(warc_path), Path(tmp), batches.is_done,
                                       on_bytes=bar.update):
                    if found.spooled is None:
                        result.already_done += 1
                    elif found.spooled.sha256 is None:
                        result.unreadable.append(f"{found.url}: {found.spooled.problem}")
                    else:
                        batches.add(found.spooled.sha256, found.spooled)
            except Exception as exc:  # noqa: BLE001 - warcio's errors for broken archives vary
                result.unreadable.append(f"{warc_path}: {exc}")
        batches.finish()
        db.conn.commit()  # captures / media of payloads that were already extracted
    db.close()
    result.seconds = time.monotonic() - started
    return result


def warc_files(paths: Iterable[Path]) -> list[Path]:
    """The WARC/ARC files named, directories expanded to the WARCs inside them."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.name.endswith(WARC_SUFFIXES)))
        else:
            found.append(path)
    return found


def summary(result: ExtractResult, db_path: Path) -> str:
    """The lines ``lifeboat extract`` prints when it is done."""
    lines = [
        f"extracted {result.extracted} new media ({result.with_position} with a position, "
        f"{result.errors} with errors) in {result.seconds:.1f} s into {db_path} "
        f"(ExifTool {result.exiftool_version}); {result.already_done} already done",
    ]
    lines += [f"not read: {problem}" for problem in result.unreadable]
    return "\n".join(lines)
