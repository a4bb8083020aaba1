"""Cut a torn last record off a WARC file left behind by a killed crawl.

A crawl killed with SIGKILL may leave the record it was writing half on disk. warcio
reads such a file without complaint up to the tear, so every record from a known-good
offset on is checked: its whole block must be readable and its gzip member must end
properly. The file is truncated at the start of the first record that fails.
"""

from __future__ import annotations

import logging
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Repair:
    """What was cut off: ``path`` truncated from ``size_before`` to ``size_after`` bytes."""

    path: Path
    size_before: int
    size_after: int
    reason: str

    def __str__(self) -> str:
        return (f"repaired {self.path.name}: cut {self.size_before - self.size_after} bytes "
                f"at offset {self.size_after} ({self.reason})")


def _member_complete(fh, offset: int, length: int) -> bool:
    """True when the gzip member at ``offset`` decompresses to its end within ``length``."""
    fh.seek(offset)
    data = fh.read(length)
    inflater = zlib.decompressobj(wbits=31)
    try:
        inflater.decompress(data)
    except zlib.error:
        return False
    return inflater.eof and not inflater.unused_data


def find_tear(path: Path, start_offset: int = 0) -> tuple[int, str] | None:
    """(offset, reason) of the first broken record at or after ``start_offset``, or None."""
    size = path.stat().st_size
    good_end = start_offset
    with open(path, "rb") as fh, open(path, "rb") as check:
        fh.seek(start_offset)
        iterator = ArchiveIterator(fh)
        try:
            for record in iterator:
                while record.raw_stream.read(1 << 20):
                    pass
                missing = getattr(record.raw_stream, "limit", 0)
                iterator.read_to_end(record)
                offset = iterator.get_record_offset()
                length = iterator.get_record_length()
                if missing:
                    return offset, f"record block is {missing} bytes short"
                if not _member_complete(check, offset, length):
                    return offset, "gzip member does not end"
                good_end = offset + length
        except Exception as exc:  # warcio raises several kinds on torn headers
            return good_end, f"unreadable record ({exc.__class__.__name__}: {exc})"
    if good_end < size:
        return good_end, f"{size - good_end} trailing bytes after the last complete record"
    return None


def repair_warc(path: Path, start_offset: int = 0) -> Repair | None:
    """Truncate ``path`` at its first broken record (checked from ``start_offset``)."""
    tear = find_tear(path, start_offset)
    if tear is None:
        return None
    offset, reason = tear
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(offset)
        os.fsync(fh.fileno())
    repair = Repair(path, size, offset, reason)
    logger.warning("%s", repair)
    return repair
