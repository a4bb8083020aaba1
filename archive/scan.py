"""Walk every record of one WARC file with warcio, checking it, and carry on past damage.

``scan_warc`` yields a ``ScannedRecord`` for each record it could read and a ``Damage`` for
each problem: a failed block or payload digest (block digests over the bytes as stored,
which in lifeboat's records are the HTTP bytes as they crossed the wire; revisit records
too, which warcio does not check), a record shorter than its Content-Length,
a record not followed by its blank lines, or bytes warcio cannot parse (a corrupt gzip
member, a broken header). After unreadable bytes it looks for the next record start (the
next gzip member, or the next ``WARC/1.x`` line) and goes on from there, so one bad byte
costs one record, not the rest of the file.
"""

from __future__ import annotations

import hashlib
import io
import mmap
import zlib
from contextlib import redirect_stderr
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

from warcio.archiveiterator import ArchiveIterator
from warcio.digestverifyingreader import _compare_digest_rfc_3548, _parse_digest
from warcio.exceptions import ArchiveLoadFailed
from warcio.utils import Digester

GZIP_MAGIC = b"\x1f\x8b\x08"
WARC_LINE = b"WARC/1."
RECORD_END = b"\r\n\r\n"  # the two CRLFs after every record's block
# warcio meets damaged bytes with many exception types (AttributeError on a header-less
# record, zlib.error, ValueError on a bad length...): every one of them is damage to report.
READ_ERRORS = (ArchiveLoadFailed, zlib.error, EOFError, OSError, ValueError, KeyError,
               IndexError, TypeError, AttributeError, UnicodeError)
CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ScannedRecord:
    """One readable record: where it is, what it is, and the SHA-256 of its payload."""

    filename: str
    offset: int
    length: int
    warc_type: str
    record_id: str | None
    target_uri: str | None
    refers_to: str | None
    concurrent_to: str | None
    payload_sha256: str | None
    """Hex SHA-256 of the payload as archived (HTTP headers removed, nothing decoded)."""
    decoded_sha256: str | None
    """Hex SHA-256 after undoing chunking and Content-Encoding (same as above if none)."""
    digests_ok: bool | None
    """True if warcio checked the record's digests and they match, None if it had none."""
    damaged: bool = False
    """Whether a problem was found in this record (then its length is not to be trusted)."""


@dataclass(frozen=True)
class Damage:
    """A problem found at ``offset`` of ``filename``."""

    filename: str
    offset: int
    message: str


class _HashingReader:
    """Wrap a stream and hash every byte read through it."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.sha256.update(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        data = self.stream.readline(size)
        self.sha256.update(data)
        return data

    def close(self) -> None:
        self.stream.close()


def scan_warc(path: str | Path, progress: Callable[[int], None] | None = None
              ) -> Iterator[ScannedRecord | Damage]:
    """Yield every record of ``path`` and every problem found, in file order.

    ``progress`` is called with the number of bytes of the file covered so far.
    """
    name = str(path)
    with open(path, "rb") as fh:
        size = fh.seek(0, 2)
        if size == 0:
            return
        fh.seek(0)
        gzipped = fh.read(3) == GZIP_MAGIC
        start: int | None = 0
        last: ScannedRecord | Damage | None = None
        while start is not None and start < size:
            scan = _scan_from(fh, name, start, gzipped, progress)
            while True:
                try:
                    last = next(scan)
                except StopIteration as done:  # its value: where to go on after damage
                    start = done.value
                    break
                yield last
        if isinstance(last, ScannedRecord):
            yield from _check_tail(fh, name, size, gzipped, last)
    if progress:
        progress(size)


def _check_tail(fh, name: str, size: int, gzipped: bool, last: ScannedRecord
                ) -> Iterator[Damage]:
    """What warcio reads past without a word at the end of a file: bytes after the last
    record (padding, or the start of a torn one), or a last gzip member cut inside its
    8-byte trailer (every byte of the record is there, the member never ends)."""
    end = last.offset + last.length
    if not gzipped and size - end == len(RECORD_END):  # warcio leaves the last one out
        fh.seek(end)
        if fh.read(len(RECORD_END)) == RECORD_END:
            end = size
    if end < size:
        yield Damage(name, end, f"{size - end} bytes after the last complete record "
                                "(a torn record, or padding)")
    elif gzipped and not _member_complete(fh, last.offset, last.length):
        yield Damage(name, last.offset, "the last record's gzip member does not end (its "
                                        "trailer is cut off: a torn write)")


def _member_complete(fh, offset: int, length: int) -> bool:
    """Whether the gzip member at ``offset`` decompresses to its end within ``length``."""
    fh.seek(offset)
    inflater = zlib.decompressobj(wbits=31)
    try:
        inflater.decompress(fh.read(length))
    except zlib.error:
        return False
    return inflater.eof and not inflater.unused_data




def _scan_from(fh, name: str, start: int, gzipped: bool,
               progress: Callable[[int], None] | None
               ) -> Iterator[ScannedRecord | Damage]:
    """Scan from byte ``start``; return where to resume after damage, or None at the end."""
    fh.seek(start)
    it = ArchiveIterator(fh, check_digests=True)
    records = iter(it)
    while True:
        offset = max(it.offset, start)  # warcio's offset is garbage in a non-chunked gzip
        warnings_before = it.err_count
        try:
            with redirect_stderr(io.StringIO()) as said:  # warcio reports gzip errors there
                record = next(records, None)
                if record is None:
                    return None
                scanned, problems = _read_record(record, name, it)
        except READ_ERRORS as exc:
            yield Damage(name, offset, f"unreadable record ({type(exc).__name__}: "
                                       f"{_printable(str(exc))})")
            return _next_record_start(fh, offset + 1, gzipped)
        gzip_errors = [line for line in said.getvalue().splitlines() if "decompress" in line]
        if gzip_errors:
            problems.insert(0, f"corrupt gzip data ({_printable(gzip_errors[0])})")
        yield replace(scanned, damaged=True) if problems else scanned
        for message in problems:
            yield Damage(name, scanned.offset, message)
        if it.err_count > warnings_before:
            yield Damage(name, scanned.offset, "record is not followed by its blank lines "
                                               "(its Content-Length is probably wrong)")
        if gzip_errors or any(m.startswith("record is truncated") for m in problems):
            return _next_record_start(fh, scanned.offset + 1, gzipped)
        if progress:
            progress(scanned.offset + scanned.length)


def _read_record(record, name: str, it: ArchiveIterator) -> tuple[ScannedRecord, list[str]]:
    """Read one record to its end; return what it is and the problems seen."""
    raw = _HashingReader(record.raw_stream)
    record.raw_stream = raw
    content = record.content_stream()
    decoded = hashlib.sha256() if content is not raw else None
    while block := content.read(CHUNK):
        if decoded is not None:
            decoded.update(block)
    while raw.read(CHUNK):  # what content decoding left unread still belongs to the block
        pass
    checker = getattr(record, "digest_checker", None)
    problems = list(checker.problems) if checker else []
    missing = getattr(raw.stream, "limit", 0)
    if missing > 0:
        problems.append(f"record is truncated: {missing} of its {record.length} bytes "
                        "are missing")
    headers = record.rec_headers
    passed = checker.passed if checker else None
    if record.rec_type == "revisit" and headers.get_header("WARC-Block-Digest"):
        passed = _revisit_block_ok(name, it.get_record_offset(),
                                   headers.get_header("WARC-Block-Digest"))
        if passed is False:
            problems.append(f"block digest failed: {headers.get_header('WARC-Block-Digest')}")
    payload = raw.sha256.hexdigest()
    scanned = ScannedRecord(
        filename=name,
        offset=it.get_record_offset(),
        length=it.get_record_length(),
        warc_type=record.rec_type,
        record_id=headers.get_header("WARC-Record-ID"),
        target_uri=headers.get_header("WARC-Target-URI"),
        refers_to=headers.get_header("WARC-Refers-To"),
        concurrent_to=headers.get_header("WARC-Concurrent-To"),
        payload_sha256=payload,
        decoded_sha256=decoded.hexdigest() if decoded is not None else payload,
        digests_ok=False if problems else passed,
    )
    return scanned, problems


def _revisit_block_ok(name: str, offset: int, digest: str) -> bool | None:
    """Whether a revisit record's block (its HTTP head, as stored) has the WARC-Block-Digest
    it claims. warcio checks no digest of a revisit; lifeboat's revisits hold the head as
    received, so its bytes are checked like any other block. None: unknown algorithm."""
    try:
        digester = Digester(_parse_digest(digest)[0])
    except ValueError:
        return None
    with open(name, "rb") as fh:
        fh.seek(offset)
        record = next(iter(ArchiveIterator(fh, no_record_parse=True)))
        while block := record.raw_stream.read(CHUNK):
            digester.update(block)
    return _compare_digest_rfc_3548(digester, digest)


def _printable(text: str, limit: int = 160) -> str:
    """One line of ASCII (binary garbage escaped), cut at ``limit`` characters."""
    text = " ".join(text.split()).encode("ascii", "backslashreplace").decode("ascii")
    return (text[:limit] + "...") if len(text) > limit else (text or "no detail")


def _next_record_start(fh, after: int, gzipped: bool) -> int | None:
    """The first offset >= ``after`` where a readable record starts, or None."""
    with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        pos = after
        while True:
            pos = data.find(GZIP_MAGIC if gzipped else WARC_LINE, pos)
            if pos < 0:
                return None
            if (gzipped or pos == 0 or data[pos - 1:pos] == b"\n") and _parses_at(fh, pos):
                return pos
            pos += 1


def _parses_at(fh, pos: int) -> bool:
    """Whether warcio reads a WARC record header at ``pos``."""
    fh.seek(pos)
    try:
        record = next(iter(ArchiveIterator(fh)), None)
    except READ_ERRORS:
        return False
    return record is not None and (record.format or "").startswith("warc")
