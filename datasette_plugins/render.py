"""Table cells: media as thumbnails and players, posts linked to their media's evidence."""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

from datasette import hookimpl
from markupsafe import Markup, escape

from datasette_plugins.queries import POST_MEDIA_SQL

SHA256 = re.compile(r"[0-9a-f]{64}")
# Decimals shown for positions: 6 is ~0.1 m of latitude, below any GPS's accuracy, and
# hides float noise from the EXIF rationals (52.3615789999194 shows as 52.361579).
SHOWN_DECIMALS = {"latitude": 6, "longitude": 6, "altitude": 1, "distance_km": 3}


def rounded(column: str, value) -> str | None:
    """``value`` with the decimals SHOWN_DECIMALS gives ``column``; None to decline."""
    if column not in SHOWN_DECIMALS or not isinstance(value, float):
        return None
    return f"{value:.{SHOWN_DECIMALS[column]}f}"


def media_preview(sha256: str, content_type: str | None) -> Markup:
    """A thumbnail (photo) or small player (video) linking to the evidence page."""
    kind = (content_type or "").split("/")[0].lower()
    evidence = f"/-/evidence/{sha256}"
    if kind == "video":
        view = Markup('<video src="/-/media/{}" controls preload="metadata" width="160">'
                      "</video><br>").format(sha256)
    elif kind == "image":
        view = Markup('<img src="/-/thumb/{}" loading="lazy" style="max-width:160px;'
                      'max-height:160px" alt="thumbnail"><br>').format(sha256)
    else:
        view = Markup("")
    return Markup('<div class="lifeboat-media">{}<a href="{}">evidence {}…</a></div>').format(
        view, evidence, sha256[:12])


def exiftool_summary(value: str, sha256) -> Markup:
    """A wide ExifTool JSON cell as its tag count and a link to the full record (the
    evidence page); JSON and CSV keep the whole record."""
    try:
        count = len(json.loads(value))
    except (ValueError, TypeError):
        count = None
    label = f"{count} tags" if count is not None else f"{len(value):,} characters"
    if isinstance(sha256, str) and SHA256.fullmatch(sha256):
        return Markup('{} · <a href="/-/evidence/{}#exiftool">full record</a>').format(
            label, sha256)
    return Markup("{}").format(label)


def raw_summary(value: str, capture_id) -> Markup:
    """A post's archived JSON cell as its size and a link to the bytes in the WARC."""
    label = f"JSON, {len(value.encode()):,} bytes"
    if isinstance(capture_id, int):
        return Markup('<a href="/-/capture/{}">{}</a>').format(capture_id, label)
    return Markup("{}").format(label)


def author_link(datasette, database: str, author: str) -> Markup:
    """The author's name linking to their posts."""
    href = f"{datasette.urls.database(database)}/posts?{urlencode({'author': author})}"
    return Markup('<a href="{}">{}</a>').format(href, author)


def row_value(row, *names: str):
    """The first of ``names`` present in ``row`` (a sqlite3.Row), else None."""
    keys = row.keys()
    return next((row[n] for n in names if n in keys), None)


async def post_text(datasette, database: str, post_id, text) -> Markup:
    """The post's text, escaped, followed by previews of its media."""
    db = datasette.get_database(database)
    media = await db.execute(POST_MEDIA_SQL, {"post_id": post_id})
    previews = Markup("").join(media_preview(m["sha256"], m["content_type"]) for m in media)
    body = escape(text) if text is not None else Markup("<em>(no text)</em>")
    return Markup('<span class="post-text" dir="auto">{}</span>{}').format(body, previews)


async def media_url_link(datasette, database: str, url: str) -> Markup | None:
    """The media URL followed by a link to its evidence page, when it was archived."""
    db = datasette.get_database(database)
    row = (await db.execute("select sha256 from media where url = ?", [url])).first()
    if row is None or not row["sha256"]:
        return None
    return Markup('{} <a href="/-/evidence/{}">evidence</a>').format(url, row["sha256"])


def capture_link(value, capture_id) -> Markup:
    """``value`` followed by a link to the payload of capture ``capture_id``."""
    return Markup('{} <a href="/-/capture/{}">archived payload</a>').format(value, capture_id)


@hookimpl
def render_cell(row, value, column, table, database, datasette):
    """Media as previews, post text with its media, media URLs and captures as links,
    positions without float noise."""
    if (shown := rounded(column, value)) is not None:
        return shown
    if column == "evidence_url" and isinstance(value, str) and value.startswith("/-/evidence/"):
        return Markup('<a href="{}">evidence page</a>').format(value)
    if column == "author" and isinstance(value, str) and value:
        return author_link(datasette, database, value)
    if column == "exiftool" and isinstance(value, str):
        return exiftool_summary(value, row_value(row, "sha256"))
    if table == "posts" and column == "raw" and isinstance(value, str):
        return raw_summary(value, row_value(row, "capture_id"))
    if column == "sha256" and isinstance(value, str) and SHA256.fullmatch(value):
        return media_preview(value, row_value(row, "content_type", "mime_type"))
    if table == "posts" and column == "text":
        post_id = row_value(row, "id")

        async def inner():
            return await post_text(datasette, database, post_id, value)

        return inner
    if table == "post_media" and column == "media_url" and isinstance(value, str):
        async def linked():
            return await media_url_link(datasette, database, value)

        return linked
    if column == "capture_id" and isinstance(value, int):
        return capture_link(value, value)
    if table == "captures" and column == "warc_record_id" and "id" in row.keys():
        return capture_link(value, row["id"])
    return None
