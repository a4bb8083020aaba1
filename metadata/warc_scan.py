"""Find the photos and videos in any WARC file and record them as captures and media.

For ``lifeboat extract --db FILE WARC...``: works on WARCs from any crawler (wget,
Heritrix, ours). Response and resource records are media when their declared type is a
photo/video type or their first bytes say so; each one gets a ``captures`` row (WARC
file, offset, length, record id, payload SHA-256 and size, URL, status, type, date) and a
``media`` row, both written once however often the scan is repeated.
"""

from __future__ import annotations

import itertools
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import sqlite_utils
from warcio.archiveiterator import ArchiveIterator
from warcio.recordloader import ArcWarcRecord

from archive.reader import clean_target_uri
from archive.store import insert_sql
from metadata.payload import Spooled, open_payload, record_content_type, spool_record
from metadata.sniff import media_type

_SPOOL_NAMES = itertools.count()  # unique temporary file names within a run


@dataclass
class Found:
    """A media payload found in a WARC; ``spooled`` is None when it was already extracted."""

    url: str
    spooled: Spooled | None


def _target_uri(record: ArcWarcRecord) -> str:
    return clean_target_uri(record.rec_headers.get_header("WARC-Target-URI"))


def _status(record: ArcWarcRecord) -> int | None:
    if record.http_headers is None:
        return None
    code = record.http_headers.get_statuscode()
    return int(code) if code and code.isdigit() else None


def _payload_is_whole(record: ArcWarcRecord) -> bool:
    """A 2xx answer with the whole body (not 206 Partial Content); resources always."""
    status = _status(record)
    return status is None or (200 <= status < 300 and status != 206)


def _capture_row(record: ArcWarcRecord, warc_name: str, offset: int, length: int,
                 sha256: str | None, size: int | None) -> dict:
    headers = record.rec_headers
    return {
        "url": _target_uri(record),
        "status": _status(record),
        "content_type": record_content_type(record),
        "warc_filename": warc_name,
        "warc_offset": offset,
        "warc_length": length,
        "warc_record_id": headers.get_header("WARC-Record-ID"),
        "payload_sha256": sha256,
        "payload_size": size,
        "fetched_at": headers.get_header("WARC-Date"),
        "warc_type": record.rec_type,
        "refers_to": headers.get_header("WARC-Refers-To"),
    }


def _insert_capture(db: sqlite_utils.Database, row: dict) -> int:
    """Insert a capture (committed with the next batch of results); returns its id.

    A record already captured under another name for the same WARC file (a crawl job's
    own ``warc/x.warc.gz`` given to ``--db``) is the capture already there; a duplicate
    WARC-Record-ID in a different file is dropped from the new row, not fatal.
    """
    sql = insert_sql("captures", tuple(row), None)
    try:
        return db.execute(sql, tuple(row.values())).lastrowid
    except sqlite3.IntegrityError:  # the unique index on warc_record_id
        capture_id, filename = db.execute(
            "SELECT id, warc_filename FROM captures WHERE warc_record_id = ?",
            [row["warc_record_id"]]).fetchone()
        if Path(filename or "").name == Path(row["warc_filename"]).name:
            return capture_id
        return db.execute(sql, tuple({**row, "warc_record_id": None}.values())).lastrowid


_MEDIA_COLUMNS = ("url", "sha256", "content_type", "size", "capture_id")


def _insert_media(db: sqlite_utils.Database, url: str, sha256: str, mime: str | None,
                  size: int | None, capture_id: int) -> None:
    db.execute(insert_sql("media", _MEDIA_COLUMNS, "ignore"),
               [url, sha256, mime, size, capture_id])


def _known_captures(db: sqlite_utils.Database, warc_name: str) -> dict[int, str | None]:
    """Offsets of this WARC's captured records -> their payload SHA-256."""
    rows = db.execute("SELECT warc_offset, payload_sha256 FROM captures WHERE warc_filename = ?",
                      [warc_name]).fetchall()
    return {offset: sha for offset, sha in rows}


def scan_warc(db: sqlite_utils.Database, warc_path: Path, spool_dir: Path,
              is_done: Callable[[str], bool], on_bytes: Callable[[int], None] = lambda n: None,
              ) -> Iterator[Found]:
    """Yield every media payload of ``warc_path``, recording captures and media on the way.

    Payloads whose SHA-256 ``is_done`` are not kept on disk (``spooled`` None). Records
    captured by an earlier scan are recognised by (WARC file, offset) and not inserted
    again. Rows are written in the open transaction; the caller commits. ``on_bytes``
    hears how many more bytes of the file have been read.
    """
    scan = _Scan(db, str(warc_path.resolve()), spool_dir, is_done)
    position = 0
    with open(warc_path, "rb") as fh:
        iterator = ArchiveIterator(fh)
        for record in iterator:
            offset = iterator.offset  # where this record starts; set before it is read
            if record.rec_type == "revisit":
                found = scan.revisit(record, offset, iterator)
            elif record.rec_type in ("response", "resource") and _payload_is_whole(record):
                found = scan.payload(record, offset, iterator)
            else:
                found = None
            now = fh.tell()
            on_bytes(now - position)
            position = now
            if found is not None:
                yield found


@dataclass
class _Scan:
    """The state of one WARC file's scan."""

    db: sqlite_utils.Database
    warc_name: str
    spool_dir: Path
    is_done: Callable[[str], bool]

    def __post_init__(self) -> None:
        self.known = _known_captures(self.db, self.warc_name)

    def payload(self, record: ArcWarcRecord, offset: int,
                iterator: ArchiveIterator) -> Found | None:
        url = _target_uri(record)
        known_sha = self.known.get(offset)
        if known_sha and self.is_done(known_sha):
            return Found(url, None)  # captured and extracted by an earlier run
        try:
            opened = open_payload(record)
        except Exception:  # noqa: BLE001 - unreadable payload: nothing to sniff
            return None
        kind = media_type(record_content_type(record), opened[1])
        if kind is None:
            return None
        spooled = spool_record(record, self.spool_dir, f"w{next(_SPOOL_NAMES)}", opened)
        if offset not in self.known and spooled.sha256:
            row = _capture_row(record, self.warc_name, offset, iterator.get_record_length(),
                               spooled.sha256, spooled.size)
            _insert_media(self.db, url, spooled.sha256, kind, spooled.size,
                          _insert_capture(self.db, row))
            self.known[offset] = spooled.sha256
        if spooled.sha256 and self.is_done(spooled.sha256):
            if spooled.path:
                spooled.path.unlink(missing_ok=True)
            return Found(url, None)
        return Found(url, spooled)

    def revisit(self, record: ArcWarcRecord, offset: int,
                iterator: ArchiveIterator) -> Found | None:
        """A revisit has no payload: record it against the media capture it refers to."""
        refers_to = record.rec_headers.get_header("WARC-Refers-To")
        if offset in self.known or not refers_to:
            return None
        original = self.db.execute(
            "SELECT c.payload_sha256, c.payload_size, m.content_type FROM captures c "
            "JOIN media m ON m.capture_id = c.id WHERE c.warc_record_id = ?",
            [refers_to]).fetchone()
        if not original:
            return None
        sha256, size, mime = original
        row = _capture_row(record, self.warc_name, offset, iterator.get_record_length(),
                           sha256, size)
        _insert_media(self.db, _target_uri(record), sha256, mime, size,
                      _insert_capture(self.db, row))
        self.known[offset] = sha256
        return None
