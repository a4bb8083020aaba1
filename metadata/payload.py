"""Copy a WARC record's payload to a temporary file for ExifTool, hashing it on the way."""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO

from warcio.bufferedreaders import BufferedReader
from warcio.recordloader import ArcWarcRecord

from metadata.sniff import SNIFF_BYTES, mime_of, sniff_media_type

CHUNK = 1 << 20  # payloads stream through in 1 MiB blocks, never whole in memory


@dataclass
class Spooled:
    """One media payload on disk, ready for ExifTool."""

    path: Path | None  # None when the record could not be read at all
    sha256: str | None
    size: int
    problem: str | None = None  # truncated payload, unreadable record...


def use_fast_inflate() -> None:
    """Have warcio inflate gzip with ISA-L (python-isal) when it is installed.

    The same bytes, sooner (bench/README.md, "Extraction, in detail"):
    decompression is the largest cost lifeboat adds to ExifTool's. warcio looks its
    decompressors up in this table (it adds brotli the same way); without isal, zlib stays.
    """
    try:
        from isal import isal_zlib
    except ImportError:
        return
    BufferedReader.DECOMPRESSORS["gzip"] = partial(isal_zlib.decompressobj,
                                                   16 + isal_zlib.MAX_WBITS)


def read_head(stream: IO[bytes], size: int = SNIFF_BYTES) -> bytes:
    """The first ``size`` bytes of a stream (fewer only at its end)."""
    head = b""
    while len(head) < size and (block := stream.read(size - len(head))):
        head += block
    return head


def record_content_type(record: ArcWarcRecord) -> str | None:
    """The payload's declared type: the HTTP Content-Type, or a resource record's own."""
    if record.http_headers is not None:
        return record.http_headers.get_header("Content-Type")
    return record.rec_headers.get_header("Content-Type")


def _declared_length(record: ArcWarcRecord) -> int | None:
    """The HTTP Content-Length, when it describes the decoded payload (no Content-Encoding)."""
    headers = record.http_headers
    if headers is None or headers.get_header("Content-Encoding"):
        return None
    value = headers.get_header("Content-Length")
    return int(value) if value and value.strip().isdigit() else None


_SUFFIXES = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif",
             "image/tiff": ".tif", "image/webp": ".webp", "image/heic": ".heic",
             "image/heif": ".heif", "image/avif": ".avif", "image/jxl": ".jxl",
             "image/x-canon-cr3": ".cr3", "image/x-fuji-raf": ".raf",
             "video/mp4": ".mp4", "video/quicktime": ".mov", "video/3gpp": ".3gp",
             "video/3gpp2": ".3g2", "video/webm": ".webm", "video/x-matroska": ".mkv",
             "video/x-msvideo": ".avi"}


def suffix_for(mime: str | None) -> str:
    """A file extension for a MIME type, so ExifTool tries the right format first."""
    return _SUFFIXES.get(mime or "") or mimetypes.guess_extension(mime or "") or ".bin"


def open_payload(record: ArcWarcRecord) -> tuple[IO[bytes], bytes]:
    """The decoded payload stream (chunking and Content-Encoding undone) and its first bytes."""
    stream = record.content_stream()
    return stream, read_head(stream)


def spool_record(record: ArcWarcRecord, directory: Path, name: str,
                 opened: tuple[IO[bytes], bytes] | None = None) -> Spooled:
    """Write the decoded payload of ``record`` to ``directory/name.<ext>``, hashing it.

    ``opened`` is what ``open_payload`` returned if the caller already sniffed the
    payload; reading continues from there. Truncation against the HTTP Content-Length
    and unreadable records become ``problem``, not exceptions.
    """
    digest = hashlib.sha256()
    size = 0
    path: Path | None = None
    try:
        stream, head = opened or open_payload(record)
        kind = sniff_media_type(head) or mime_of(record_content_type(record))
        path = directory / f"{name}{suffix_for(kind)}"  # what the bytes are, if known
        with open(path, "wb") as out:
            block = head
            while block:
                digest.update(block)
                out.write(block)
                size += len(block)
                block = stream.read(CHUNK)
    except Exception as exc:  # noqa: BLE001 - a broken record must not stop the run
        if path is not None:
            path.unlink(missing_ok=True)
        return Spooled(None, None, size, f"unreadable WARC record: {exc}")
    declared = _declared_length(record)
    problem = None
    if declared is not None and size < declared:
        problem = f"truncated payload: {size} of {declared} bytes (HTTP Content-Length)"
    return Spooled(path, digest.hexdigest(), size, problem)
