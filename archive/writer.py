"""WARC files of a job: one open writer at a time, gzip per record, rotation by size.

Files are named ``<prefix>-<UTC timestamp>-<serial>.warc.gz`` in the job's ``warc/``
directory; the serial continues across runs. Each file starts with a ``warcinfo`` record.
Records are built and written by warcio (digests are SHA-256); the file is flushed after
every exchange so a kill loses at most the exchange being written. Each record is its own
gzip member, compressed by ISA-L (``isal``): zlib sets up a fresh compressor per member,
ISA-L does so far more cheaply, for sizes close to zlib's level 9 (bench/README.md,
section 1).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Callable

from isal import isal_zlib
from warcio.recordloader import ArcWarcRecord
from warcio.utils import Digester
from warcio.warcwriter import WARCWriter

WARC_NAME = re.compile(r"^(?P<prefix>.+)-(?P<stamp>\d{14})-(?P<serial>\d{5,})\.warc\.gz$")


GZIP_MEMBER = 31  # wbits: a gzip header and trailer around each record
ISAL_LEVEL = 1


class GzipMember:
    """The file-like warcio writes one record into: one gzip member in ``out``, closed by
    ``flush()`` (which warcio calls at the end of each record); ``out`` itself is flushed
    by the caller, once per exchange."""

    def __init__(self, out: BinaryIO):
        self.out = out
        self.compressor = isal_zlib.compressobj(ISAL_LEVEL, isal_zlib.DEFLATED, GZIP_MEMBER)

    def write(self, data: bytes) -> None:
        self.out.write(self.compressor.compress(data))

    def flush(self) -> None:
        self.out.write(self.compressor.flush())


class Sha256WARCWriter(WARCWriter):
    """warcio's writer with SHA-256 block and payload digests (instead of SHA-1), each
    record written as its own ISA-L gzip member."""

    def __init__(self, filebuf: BinaryIO | None, **kwargs):
        super().__init__(filebuf, gzip=False, **kwargs)

    @staticmethod
    def _create_digester() -> Digester:
        return Digester("sha256")

    def write_record(self, record: ArcWarcRecord, params: dict | None = None) -> None:
        self._write_warc_record(GzipMember(self.out), record)


@dataclass(frozen=True)
class Written:
    """Where one record landed."""

    filename: str
    offset: int
    length: int


def warc_files(warc_dir: Path) -> list[Path]:
    """The job's WARC files in serial order."""
    found = [p for p in warc_dir.glob("*.warc.gz") if WARC_NAME.match(p.name)]
    return sorted(found, key=lambda p: int(WARC_NAME.match(p.name)["serial"]))


class RotatingWarcWriter:
    """Appends records to the current WARC file and starts a new one past ``max_size``."""

    def __init__(self, warc_dir: Path, prefix: str, max_size: int, info: dict[str, str]):
        self.warc_dir, self.prefix, self.max_size, self.info = warc_dir, prefix, max_size, info
        self.builder = Sha256WARCWriter(None, warc_version="1.1")
        self.warc_dir.mkdir(parents=True, exist_ok=True)
        existing = warc_files(warc_dir)
        self.serial = int(WARC_NAME.match(existing[-1].name)["serial"]) if existing else -1
        self.path: Path | None = None
        self.fh: BinaryIO | None = None
        self.files_written: list[str] = []
        self.on_close: list[Callable[[Path], None]] = []  # called with each file closed

    def _open_next(self) -> None:
        self.close()
        self.serial += 1
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
        self.path = self.warc_dir / f"{self.prefix}-{stamp}-{self.serial:05d}.warc.gz"
        self.fh = open(self.path, "xb")
        self.builder.out = self.fh
        try:
            self.builder.write_record(
                self.builder.create_warcinfo_record(self.path.name, self.info))
            self.fh.flush()
        except BaseException:
            self._cut(0)
            self.path.unlink(missing_ok=True)
            raise
        self.files_written.append(self.path.name)

    def write(self, records: list[ArcWarcRecord]) -> list[Written]:
        """Write ``records`` together into one file (rotating first if it is full)."""
        if self.fh is None or self.fh.tell() >= self.max_size:
            self._open_next()
        assert self.fh is not None and self.path is not None
        out = []
        start = self.fh.tell()
        try:
            for record in records:
                offset = self.fh.tell()
                self.builder.write_record(record)
                out.append(Written(self.path.name, offset, self.fh.tell() - offset))
            self.fh.flush()
        except BaseException:  # e.g. the disk filled up: no half-written record stays
            self._cut(start)
            raise
        return out

    def _cut(self, size: int) -> None:
        """Drop a write that failed part-way: close the file (what its buffer still holds
        may never reach the disk) and truncate it back to ``size`` bytes."""
        fh, self.fh = self.fh, None
        try:
            if fh is not None:
                fh.close()
        except OSError:
            pass
        if self.path is not None:
            os.truncate(self.path, size)

    def sync(self) -> None:
        """Make every record written so far durable (fsync): called before the rows that
        point at them are committed, so no committed row points at bytes a power cut
        could take back."""
        if self.fh is not None:
            self.fh.flush()
            os.fsync(self.fh.fileno())

    def close(self) -> None:
        """Close the current file (rotation, end of crawl); then call the ``on_close`` hooks
        with its path (``archive.seal.WarcSealer`` seals it)."""
        if self.fh is not None:
            fh, self.fh = self.fh, None
            try:
                fh.flush()
                os.fsync(fh.fileno())
            finally:
                fh.close()
            for hook in self.on_close:
                hook(self.path)
