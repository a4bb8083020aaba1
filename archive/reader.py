"""Read single records back out of WARC files by offset, with warcio."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from warcio.archiveiterator import ArchiveIterator
from warcio.recordloader import ArcWarcRecord


@contextmanager
def open_record(warc_path: str | Path, offset: int) -> Iterator[ArcWarcRecord]:
    """Yield the WARC record that starts at ``offset`` of ``warc_path``.

    ``record.content_stream()`` gives the payload with chunking and Content-Encoding
    undone; ``record.raw_stream`` the payload exactly as archived.
    """
    with open(warc_path, "rb") as fh:
        fh.seek(offset)
        record = next(iter(ArchiveIterator(fh)), None)
        if record is None:
            raise ValueError(f"no WARC record at offset {offset} of {warc_path}")
        yield record


def clean_target_uri(value: str | None) -> str:
    """A WARC-Target-URI as a plain URL (wget 1.14 wrote it as ``<uri>``)."""
    return (value or "").strip().removeprefix("<").removesuffix(">")


def read_payload(warc_path: str | Path, offset: int) -> bytes:
    """The decoded payload of the record at ``offset`` (whole, in memory: small records only)."""
    with open_record(warc_path, offset) as record:
        return record.content_stream().read()


def iter_payload(warc_path: str | Path, offset: int, start: int = 0, end: int | None = None,
                 chunk: int = 1 << 16) -> Iterator[bytes]:
    """Yield the decoded payload bytes ``start``..``end`` (inclusive; None = to the end)."""
    with open_record(warc_path, offset) as record:
        stream = record.content_stream()
        position = 0
        while position < start:  # decoded streams cannot seek: read and drop
            skipped = stream.read(min(chunk, start - position))
            if not skipped:
                return
            position += len(skipped)
        remaining = None if end is None else end - start + 1
        while remaining is None or remaining > 0:
            block = stream.read(chunk if remaining is None else min(chunk, remaining))
            if not block:
                return
            if remaining is not None:
                remaining -= len(block)
            yield block
