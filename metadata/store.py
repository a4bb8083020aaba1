"""Reading what is left to extract from, and writing results to, an archive database."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import sqlite_utils

from metadata.normalise import normalise

WARC_DIR = "warc"


@dataclass(frozen=True)
class Pending:
    """A media payload whose SHA-256 has no ``media_metadata`` row yet, and where to read it."""

    sha256: str
    warc_path: Path
    warc_offset: int


def resolve_warc(job_dir: Path, warc_filename: str) -> Path:
    """A capture's ``warc_filename``: absolute, or relative to DIR/warc/ or to DIR."""
    path = Path(warc_filename)
    if path.is_absolute():
        return path
    in_warc_dir = job_dir / WARC_DIR / path
    return in_warc_dir if in_warc_dir.is_file() else job_dir / path


_PENDING_FROM = """
FROM media m JOIN captures c ON c.id = m.capture_id
WHERE coalesce(m.sha256, '') != ''
  AND NOT EXISTS (SELECT 1 FROM media_metadata mm WHERE mm.sha256 = m.sha256)
"""
_PENDING_PAGE_SQL = f"""
SELECT m.rowid, m.sha256, c.warc_filename, c.warc_offset, c.warc_type, c.refers_to
{_PENDING_FROM} AND m.rowid > :after ORDER BY m.rowid LIMIT :page
"""
_PAYLOAD_CAPTURE_SQL = """
SELECT warc_filename, warc_offset FROM captures
WHERE (warc_record_id = :refers_to OR payload_sha256 = :sha256)
  AND coalesce(warc_type, 'response') != 'revisit' AND warc_filename IS NOT NULL
ORDER BY warc_record_id = :refers_to DESC, id LIMIT 1
"""


def count_pending(db: sqlite_utils.Database) -> int:
    """How many media rows have a payload not yet extracted."""
    return db.execute(f"SELECT count(*) {_PENDING_FROM}").fetchone()[0]


def iter_pending(db: sqlite_utils.Database, job_dir: Path,
                 page: int = 5000) -> Iterator[Pending]:
    """Media rows whose SHA-256 has no ``media_metadata`` row, with where to read the payload.

    A revisit capture (no payload of its own) is read from the record it refers to, or
    from any other capture of the same payload. Pages of ``page`` rows keep memory flat on
    a million-item job; each page is sorted by WARC file and offset. The same SHA-256 may
    come more than once: the caller skips what it has already queued.
    """
    after = 0
    while rows := db.execute(_PENDING_PAGE_SQL, {"after": after, "page": page}).fetchall():
        after = rows[-1][0]
        found = []
        for _, sha256, filename, offset, warc_type, refers_to in rows:
            if warc_type == "revisit" or filename is None:
                row = db.execute(_PAYLOAD_CAPTURE_SQL,
                                 {"refers_to": refers_to, "sha256": sha256}).fetchone()
                if row is None:
                    continue  # payload not archived anywhere: nothing to read
                filename, offset = row
            found.append(Pending(sha256, resolve_warc(job_dir, filename), int(offset)))
        yield from sorted(found, key=lambda p: (str(p.warc_path), p.warc_offset))


def is_extracted(db: sqlite_utils.Database, sha256: str) -> bool:
    """Whether ``sha256`` already has a ``media_metadata`` row."""
    return db.execute("SELECT 1 FROM media_metadata WHERE sha256 = ?",
                      [sha256]).fetchone() is not None


def metadata_row(sha256: str, record: dict[str, Any], version: str,
                 problem: str | None = None, exiftool_args: str = "") -> dict[str, Any]:
    """The ``media_metadata`` row for one ExifTool record.

    ``exiftool`` keeps ExifTool's full JSON (minus the temporary file's name and
    ``System:`` tags) plus ``Lifeboat:PositionSource`` / ``Lifeboat:CapturedAtSource``,
    the tags the position and capture time were read from, and ``Lifeboat:ExifToolArgs``
    (``exiftool_args``), how ExifTool was run: with ``-e`` its Composite tags were not
    built, the raw tags are all there. ``problem`` (e.g. a truncated payload) leads
    ``error``.
    """
    columns = normalise(record)
    stored = {k: v for k, v in record.items()
              if k != "SourceFile" and not k.startswith("System:")}
    stored["Lifeboat:PositionSource"] = columns.pop("position_source")
    stored["Lifeboat:CapturedAtSource"] = columns.pop("captured_at_source")
    if exiftool_args:
        stored["Lifeboat:ExifToolArgs"] = exiftool_args
    if problem:
        columns["error"] = "; ".join(filter(None, [problem, columns["error"]]))
    return {"sha256": sha256, **columns,
            "exiftool": json.dumps(stored, ensure_ascii=False), "exiftool_version": version}


def error_row(sha256: str, problem: str, version: str) -> dict[str, Any]:
    """A ``media_metadata`` row for a payload ExifTool never saw (unreadable record)."""
    return {"sha256": sha256, "error": problem, "exiftool_version": version}


def save_rows(db: sqlite_utils.Database, rows: list[dict[str, Any]]) -> None:
    """Write (or rewrite) ``media_metadata`` rows in one transaction."""
    if rows:
        with db.conn:
            db["media_metadata"].insert_all(rows, pk="sha256", replace=True, alter=False)
