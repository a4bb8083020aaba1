"""Build a small, real lifeboat job directory for the investigator-UI tests.

Real WARC records written by warcio (post JSON responses, a JPEG, the demo's MP4 and a revisit of a
byte-identical re-upload) and rows written with archive.schema.open_db + sqlite-utils,
exactly as DESIGN.md's tables. The metadata rows stand in for `lifeboat extract`.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from PIL import Image
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from archive.schema import fill_utc_times, open_db

API = "http://127.0.0.1:9/api/v1/posts/"
CDN = "http://127.0.0.1:9/media/"
SCRIPT_TEXT = "<script>alert(1)</script> look at the crowd"
TEMPLATE_MP4 = Path(__file__).resolve().parent.parent / "demo" / "assets" / "template.mp4"


@dataclass
class Job:
    """What the fixture wrote, for tests to compare against."""
    job_dir: Path
    db_path: Path
    payloads: dict[str, bytes] = field(default_factory=dict)   # sha256 -> bytes
    shas: dict[str, str] = field(default_factory=dict)         # media name -> sha256


def make_jpeg() -> bytes:
    """A small JPEG photo made with Pillow."""
    image = Image.new("RGB", (96, 64), (200, 40, 40))
    for x in range(0, 96, 8):
        for y in range(64):
            image.putpixel((x, y), (255, 255, 255))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def demo_mp4() -> bytes:
    """The demo platform's H.264 template video (2 s, 64x48): what chromium must play."""
    return TEMPLATE_MP4.read_bytes()


def iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


class Recorder:
    """Writes WARC records with warcio and the matching captures rows."""

    def __init__(self, fh, db, warc_name: str):
        self.fh, self.db, self.warc_name = fh, db, warc_name
        self.writer = WARCWriter(fh, gzip=True)

    def _write(self, record, url: str, status: int, content_type: str, payload: bytes,
               warc_type: str, refers_to: str | None = None) -> int:
        offset = self.fh.tell()
        self.writer.write_record(record)
        return self.db["captures"].insert({
            "url": url, "status": status, "content_type": content_type,
            "warc_filename": self.warc_name, "warc_offset": offset,
            "warc_length": self.fh.tell() - offset,
            "warc_record_id": record.rec_headers.get_header("WARC-Record-ID"),
            "payload_sha256": hashlib.sha256(payload).hexdigest(),
            "payload_size": len(payload), "fetched_at": iso(datetime.now(timezone.utc)),
            "warc_type": warc_type, "refers_to": refers_to,
        }).last_pk

    def response(self, url: str, payload: bytes, content_type: str, status: int = 200) -> int:
        headers = StatusAndHeaders(f"{status} OK", [
            ("Content-Type", content_type), ("Content-Length", str(len(payload)))],
            protocol="HTTP/1.1")
        record = self.writer.create_warc_record(url, "response", payload=io.BytesIO(payload),
                                                http_headers=headers)
        return self._write(record, url, status, content_type, payload, "response")

    def revisit(self, url: str, payload: bytes, content_type: str, original_id: int) -> int:
        original = self.db["captures"].get(original_id)
        headers = StatusAndHeaders("200 OK", [("Content-Type", content_type)],
                                   protocol="HTTP/1.1")
        digest = "sha1:" + base64.b32encode(
            hashlib.sha1(payload).digest()).decode()
        record = self.writer.create_revisit_record(
            url, digest, original["url"], original["fetched_at"], http_headers=headers)
        return self._write(record, url, 200, content_type, payload, "revisit",
                           refers_to=original["warc_record_id"])


def build_job(job_dir: Path, mp4: bytes | None = None) -> Job:
    """Write the job directory: WARC + archive.db with posts, media and metadata."""
    mp4 = demo_mp4() if mp4 is None else mp4
    (job_dir / "warc").mkdir(parents=True)
    db_path = job_dir / "archive.db"
    db = open_db(db_path)
    job = Job(job_dir=job_dir, db_path=db_path)
    jpeg = make_jpeg()
    media = {
        "photo.jpg": (jpeg, "image/jpeg"),
        "video.mp4": (mp4, "video/mp4"),
        "reupload.mp4": (mp4, "video/mp4"),   # byte-identical re-upload: a revisit
        "plain.jpg": (jpeg + b"\x00", "image/jpeg"),  # distinct photo, no GPS
    }
    posts = [
        {"id": "1", "author": "alice", "created_at": "2021-01-06T14:05:09Z",
         "text": "Standing outside, photo attached", "media": ["photo.jpg"]},
        {"id": "2", "author": "bob", "created_at": "2021-01-06T14:35:00Z",
         "text": SCRIPT_TEXT, "media": ["video.mp4"]},
        {"id": "3", "author": "carol", "created_at": "2021-01-06T15:10:00Z",
         "text": "reposting this", "media": ["video.mp4", "plain.jpg"]},
        {"id": "4", "author": "bob", "created_at": "2021-01-06T16:00:00Z",
         "text": "same clip again", "media": ["reupload.mp4"]},
        {"id": "5", "author": "dave", "created_at": "2021-01-07T09:00:00Z",
         "text": "مرحبا שלום 🌍 no media", "media": []},
    ]
    warc_name = "test-20210106000000-00000.warc.gz"
    with open(job_dir / "warc" / warc_name, "wb") as fh:
        rec = Recorder(fh, db, warc_name)
        first_capture: dict[str, int] = {}
        for name, (payload, content_type) in media.items():
            sha = hashlib.sha256(payload).hexdigest()
            job.shas[name], job.payloads[sha] = sha, payload
            url = CDN + name
            if sha in first_capture:
                capture_id = rec.revisit(url, payload, content_type, first_capture[sha])
            else:
                capture_id = first_capture[sha] = rec.response(url, payload, content_type)
            db["media"].insert({"url": url, "sha256": sha, "content_type": content_type,
                                "size": len(payload), "capture_id": capture_id})
        for post in posts:
            body = {**post, "deleted": False, "media": [
                {"url": CDN + m, "type": media[m][1]} for m in post["media"]]}
            raw = json.dumps(body, ensure_ascii=False).encode()
            capture_id = rec.response(API + post["id"], raw, "application/json; charset=utf-8")
            db["posts"].insert({
                "id": post["id"], "profile": "test", "url": API + post["id"],
                "author": post["author"], "created_at": post["created_at"],
                "text": post["text"], "deleted": 0, "raw": raw.decode(),
                "capture_id": capture_id})
            for m in post["media"]:
                db["post_media"].insert({"post_id": post["id"], "media_url": CDN + m})
    db["media_metadata"].insert_all([
        {"sha256": job.shas["photo.jpg"], "latitude": 38.8899, "longitude": -77.0091,
         "altitude": 25.5, "captured_at": "2021-01-06T14:01:00Z", "make": "Apple",
         "model": "iPhone 11", "width": 96, "height": 64, "mime_type": "image/jpeg",
         "exiftool": json.dumps({"GPSLatitude": 38.8899, "Make": "Apple"}),
         "exiftool_version": "12.57"},
        {"sha256": job.shas["video.mp4"], "latitude": -33.8568, "longitude": 151.2153,
         "altitude": -3.0, "captured_at": "2021-01-06T14:30:00Z", "make": "samsung",
         "model": "SM-G973F", "duration_s": 2.0, "width": 64, "height": 48,
         "mime_type": "video/mp4", "exiftool": json.dumps({"GPSCoordinates": "x"}),
         "exiftool_version": "12.57"},
        {"sha256": job.shas["plain.jpg"], "mime_type": "image/jpeg",
         "exiftool": json.dumps({"FileType": "JPEG"}), "exiftool_version": "12.57"},
    ])
    fill_utc_times(db)  # captured_at_utc, as lifeboat extract writes it
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return job


def fill_utc(db_path: Path) -> None:
    """captured_at_utc for metadata rows written by hand, as lifeboat extract writes it."""
    db = open_db(db_path)
    fill_utc_times(db)
    db.close()


def crawl_demo(job_dir: Path, platform, ids: str = "1-200") -> Path:
    """`lifeboat crawl demo` (with ExifTool extraction) into ``job_dir``, as a user runs it."""
    import sys

    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, str(root / "crawl.py"), "crawl", "demo", "--out", str(job_dir),
         "--var", f"api={platform.api}", "--var", f"media={platform.media}", "--ids", ids],
        cwd=root, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    return job_dir
