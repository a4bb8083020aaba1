"""Routes that stream payloads straight out of their WARC records, with HTTP Range.

``/-/media/<sha256>`` serves a photo or video by its SHA-256, ``/-/capture/<id>`` any
capture's payload (e.g. a post's archived JSON), ``/-/thumb/<sha256>`` a small preview
(Pillow for photos, ffmpeg's first frame for videos when ffmpeg is installed).
Nothing is copied out of the WARCs: each request reads the record at its offset.
"""

from __future__ import annotations

import asyncio
import io
import mimetypes
import re
import shutil
import warnings
from pathlib import Path, PurePosixPath
from urllib.parse import quote, unquote, urlsplit

from datasette import hookimpl
from datasette.database import Database
from datasette.utils.asgi import NotFound, Response

from archive.reader import iter_payload, read_payload
from datasette_plugins.config import DATABASE
from datasette_plugins.queries import CAPTURE_PAYLOAD_SQL, MEDIA_PAYLOAD_SQL
from metadata.store import resolve_warc

SHA256_RE = r"(?P<sha256>[0-9a-fA-F]{64})"
THUMB_PX = 320
THUMB_MAX_SOURCE = 50 * 1024 * 1024
# Pixels a thumbnail may decode: a 140 KB PNG of 12000x12000 would otherwise take ~1.4 GB.
# JPEGs decode scaled down first (Pillow's draft: 1/8 of a 108 MP photo is 1.7 MP).
THUMB_MAX_PIXELS = 40_000_000
POSTER_TIMEOUT_S = 20
# Archived payloads are untrusted: never sniffed, never allowed to run script on this origin.
SAFE_HEADERS = {
    "x-content-type-options": "nosniff",
    "content-security-policy": "sandbox; default-src 'none'; img-src 'self'; media-src 'self'",
}
# Content named by its SHA-256 never changes; "private" keeps shared caches out of it.
BY_HASH_CACHE = "private, max-age=31536000, immutable"
VIDEO_PLACEHOLDER = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="180" viewBox="0 0 320 180">'
    '<rect width="320" height="180" fill="#222"/>'
    '<polygon points="135,60 135,120 190,90" fill="#eee"/>'
    '<text x="160" y="160" fill="#eee" font-family="sans-serif" font-size="14" '
    'text-anchor="middle">video</text></svg>'
)


class TooLargeToPreview(ValueError):
    """The image has more pixels than a thumbnail may decode (THUMB_MAX_PIXELS)."""


def placeholder(label: str) -> str:
    """A grey SVG box saying ``label`` (video, too large...)."""
    return VIDEO_PLACEHOLDER.replace(">video<", f">{label}<")


class RangeNotSatisfiable(ValueError):
    """The Range header asks for bytes outside the payload."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range a single-range ``Range`` header asks for, or None for all.

    Multiple ranges or malformed headers are ignored (RFC 9110 lets a server send the
    whole payload); a range wholly past the end raises RangeNotSatisfiable.
    """
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header or "")
    if not match or not any(match.groups()):
        return None
    first, last = match.groups()
    if first == "":  # suffix range: the last N bytes
        length = int(last)
        if length == 0:
            raise RangeNotSatisfiable(header)
        return max(0, size - length), size - 1
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if start >= size or end < start:
        raise RangeNotSatisfiable(header)
    return start, end


def archive_database(datasette) -> Database:
    """The lifeboat archive database of this Datasette instance."""
    if DATABASE in datasette.databases:
        return datasette.get_database(DATABASE)
    named = [db for name, db in datasette.databases.items() if not name.startswith("_")]
    if not named:
        raise NotFound("no archive database is being served")
    return named[0]


def warc_path(db: Database, warc_filename: str) -> Path:
    """Where ``warc_filename`` (as recorded in captures) is, relative to the job directory."""
    job_dir = Path(db.path).parent
    path = resolve_warc(job_dir, warc_filename)
    if Path(warc_filename).is_absolute() or path.is_file():
        return path
    raise NotFound(f"WARC file {warc_filename} is not in {job_dir / 'warc'}")


async def check_visible(datasette, request, db: Database) -> None:
    """Raise Forbidden unless the actor may see the archive database."""
    await datasette.ensure_permissions(
        request.actor, [("view-database", db.name), "view-instance"]
    )


async def lookup(datasette, request, sql: str, params: dict) -> tuple[dict, Path]:
    """The payload row for ``sql`` and the path of its WARC file, or NotFound."""
    db = archive_database(datasette)
    await check_visible(datasette, request, db)
    row = (await db.execute(sql, params)).first()
    if row is None or row["warc_filename"] is None:
        raise NotFound("not in this archive")
    return dict(row), warc_path(db, row["warc_filename"])


async def payload_size(path: Path, offset: int, recorded: int | None) -> int:
    """The decoded payload size: as recorded, else by reading the record once."""
    if recorded is not None:
        return int(recorded)
    return len(await asyncio.to_thread(read_payload, path, offset))


class PayloadStream:
    """An ASGI response that streams payload bytes out of a WARC record."""

    def __init__(self, path: Path, offset: int, start: int, end: int, status: int,
                 headers: dict[str, str], send_body: bool):
        self.path, self.offset, self.start, self.end = path, offset, start, end
        self.status, self.headers, self.send_body = status, headers, send_body

    async def asgi_send(self, send) -> None:
        await send({"type": "http.response.start", "status": self.status,
                    "headers": [[k.encode(), v.encode()] for k, v in self.headers.items()]})
        if self.send_body and self.end >= self.start:
            blocks = iter_payload(self.path, self.offset, self.start, self.end)
            try:
                while (block := await asyncio.to_thread(next, blocks, None)) is not None:
                    await send({"type": "http.response.body", "body": block,
                                "more_body": True})
            finally:
                blocks.close()
        await send({"type": "http.response.body", "body": b""})


def stream_response(request, row: dict, path: Path, size: int,
                    cache_control: str) -> PayloadStream | Response:
    """A 200 or 206 streaming response for the payload described by ``row``."""
    headers = {**SAFE_HEADERS, "accept-ranges": "bytes", "cache-control": cache_control}
    try:
        wanted = parse_range(request.headers.get("range"), size)
    except RangeNotSatisfiable:
        return Response.text("", status=416, headers={**headers,
                                                      "content-range": f"bytes */{size}"})
    status, (start, end) = 200, (0, size - 1)
    if wanted is not None:
        status, (start, end) = 206, wanted
        headers["content-range"] = f"bytes {start}-{end}/{size}"
    headers["content-length"] = str(max(0, end - start + 1))
    headers["content-type"] = row["content_type"] or "application/octet-stream"
    return PayloadStream(path, int(row["warc_offset"]), start, end, status, headers,
                         send_body=request.method != "HEAD")


def download_name(sha256: str, url: str | None, content_type: str | None) -> str:
    """The file name a download of this payload gets: the SHA-256, then the URL's own
    name (``<sha256>_IMG_0042.jpg``), or an extension from the content type.

    The SHA-256 first keeps names unique and lets ``sha256sum -c`` lines name the file.
    """
    name = unquote(PurePosixPath(urlsplit(url or "").path).name)
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:80]
    if "." not in name:
        name += mimetypes.guess_extension((content_type or "").split(";")[0].strip()) or ".bin"
    return f"{sha256}_{name}" if not name.startswith(".") else sha256 + name


def content_disposition(filename: str, attachment: bool) -> str:
    """A Content-Disposition header value naming ``filename`` (RFC 6266)."""
    kind = "attachment" if attachment else "inline"
    return f"{kind}; filename=\"{filename}\"; filename*=UTF-8''{quote(filename)}"


async def media(datasette, request):
    """Stream the photo or video with this SHA-256 out of its WARC record; it carries a
    file name, and ``?download=1`` makes it a download rather than shown in place."""
    sha256 = request.url_vars["sha256"].lower()
    row, path = await lookup(datasette, request, MEDIA_PAYLOAD_SQL, {"sha256": sha256})
    size = await payload_size(path, row["warc_offset"], row["size"])
    response = stream_response(request, row, path, size, BY_HASH_CACHE)
    response.headers["content-disposition"] = content_disposition(
        download_name(sha256, row["url"], row["content_type"]),
        attachment=bool(request.args.get("download")))
    return response


async def capture(datasette, request):
    """Stream any capture's payload (e.g. the archived JSON of a post)."""
    row, path = await lookup(datasette, request, CAPTURE_PAYLOAD_SQL,
                             {"id": int(request.url_vars["id"])})
    size = await payload_size(path, row["warc_offset"], row["size"])
    return stream_response(request, row, path, size, "private, no-cache")


def make_thumbnail(data: bytes) -> bytes:
    """A JPEG at most THUMB_PX on its longer side, made in memory with Pillow. The pixel
    count is checked from the header before anything is decoded: TooLargeToPreview."""
    from PIL import Image, ImageOps

    try:
        with warnings.catch_warnings():  # the size is checked below, whatever Pillow warns
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as error:
        raise TooLargeToPreview(str(error)) from None
    with opened as image:
        image.draft("RGB", (THUMB_PX, THUMB_PX))  # JPEG: decode at a smaller scale
        width, height = image.size
        if width * height > THUMB_MAX_PIXELS:
            raise TooLargeToPreview(f"{width}x{height} pixels")
        image = ImageOps.exif_transpose(image)
        image.thumbnail((THUMB_PX, THUMB_PX))
        out = io.BytesIO()
        image.convert("RGB").save(out, "JPEG", quality=80)
        return out.getvalue()


async def video_poster(data: bytes) -> bytes | None:
    """The first frame of a video as a small JPEG, with ffmpeg reading from a pipe (no file
    is written); None when ffmpeg is missing or cannot (e.g. its index is at the end)."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return None
    proc = await asyncio.create_subprocess_exec(
        ffmpeg, "-v", "error", "-i", "pipe:0", "-frames:v", "1",
        "-vf", f"scale='min({THUMB_PX},iw)':-2", "-f", "image2", "-c:v", "mjpeg", "pipe:1",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(data), timeout=POSTER_TIMEOUT_S)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        return None
    return out if proc.returncode == 0 and out else None


async def thumb(datasette, request):
    """A small preview: a scaled-down photo, a video's first frame, or a placeholder."""
    sha256 = request.url_vars["sha256"].lower()
    row, path = await lookup(datasette, request, MEDIA_PAYLOAD_SQL, {"sha256": sha256})
    headers = {**SAFE_HEADERS, "cache-control": BY_HASH_CACHE}
    kind = (row["content_type"] or "").lower().split("/")[0]
    if kind in ("image", "video") and (row["size"] or 0) <= THUMB_MAX_SOURCE:
        data = await asyncio.to_thread(read_payload, path, row["warc_offset"])
        if kind == "image":
            try:
                body = await asyncio.to_thread(make_thumbnail, data)
                return Response(body, headers=headers, content_type="image/jpeg")
            except TooLargeToPreview:
                return Response(placeholder("too large to preview"), headers=headers,
                                content_type="image/svg+xml")
            except OSError:  # Pillow cannot decode it: show the file itself
                return Response(data, headers=headers, content_type=row["content_type"])
        poster = await video_poster(data)
        if poster is not None:
            return Response(poster, headers=headers, content_type="image/jpeg")
    return Response(VIDEO_PLACEHOLDER, headers=headers, content_type="image/svg+xml")


@hookimpl
def register_routes():
    return [
        (rf"^/-/media/{SHA256_RE}$", media),
        (r"^/-/capture/(?P<id>\d+)$", capture),
        (rf"^/-/thumb/{SHA256_RE}$", thumb),
    ]
