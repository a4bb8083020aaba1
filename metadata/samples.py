"""Small media and WARC files with known content, for lifeboat's tests and benchmarks.

Photos are drawn with Pillow and tagged by the real ExifTool; WARC records are built and
written by warcio. Nothing here is used by ``lifeboat`` itself.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Iterable

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter


def write_photo(path: Path, tags: dict[str, str] | None = None, size: tuple[int, int] = (32, 24),
                colour: tuple[int, int, int] = (200, 90, 40)) -> Path:
    """A JPEG drawn with Pillow and tagged by ExifTool (``{"GPSLatitude": "12.5", ...}``)."""
    from PIL import Image

    Image.new("RGB", size, colour).save(path, "JPEG")
    if tags:
        args = ["exiftool", "-q", "-overwrite_original", *(f"-{k}={v}" for k, v in tags.items()),
                str(path)]
        subprocess.run(args, check=True, capture_output=True)
    return path


@dataclass
class WarcItem:
    """One record to write: a response (default) or resource with this payload."""

    url: str
    payload: bytes
    content_type: str | None = "image/jpeg"
    status: str = "200 OK"
    headers: list[tuple[str, str]] = field(default_factory=list)  # extra HTTP headers
    record_type: str = "response"  # or "resource", or "revisit" (needs revisit_of)
    content_length: int | None = None  # HTTP Content-Length; default len(payload)
    revisit_of: str | None = None  # a revisit: the URL of an earlier item it refers to


@dataclass
class Written:
    """Where warcio put a record."""

    url: str
    offset: int
    length: int
    record_id: str
    date: str


def write_warc(path: Path, items: Iterable[WarcItem], gzip: bool = True) -> list[Written]:
    """Write ``items`` with warcio; returns each record's offset, length and WARC-Record-ID."""
    written: list[Written] = []
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=gzip)
        for item in items:
            http_headers = None
            warc_headers = {}
            if item.record_type in ("response", "revisit"):
                header_list = [("Content-Length", str(item.content_length
                                                      if item.content_length is not None
                                                      else len(item.payload)))]
                if item.content_type:
                    header_list.insert(0, ("Content-Type", item.content_type))
                http_headers = StatusAndHeaders(item.status, header_list + item.headers,
                                                protocol="HTTP/1.1")
            elif item.content_type:
                warc_headers["Content-Type"] = item.content_type
            if item.record_type == "revisit":
                original = next(w for w in written if w.url == item.revisit_of)
                record = writer.create_revisit_record(
                    item.url, "sha1:" + base64.b32encode(hashlib.sha1(item.payload).digest())
                    .decode(), original.url, original.date, http_headers=http_headers,
                    warc_headers_dict={"WARC-Refers-To": original.record_id})
            else:
                record = writer.create_warc_record(
                    item.url, item.record_type, payload=BytesIO(item.payload),
                    http_headers=http_headers,
                    warc_content_type=warc_headers.get("Content-Type"))
            offset = fh.tell()
            writer.write_record(record)
            headers = record.rec_headers
            written.append(Written(item.url, offset, fh.tell() - offset,
                                   headers.get_header("WARC-Record-ID"),
                                   headers.get_header("WARC-Date")))
    return written
