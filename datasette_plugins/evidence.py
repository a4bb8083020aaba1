"""The evidence page of one media item, by SHA-256: everything needed to cite it."""

from __future__ import annotations

import json
from pathlib import Path

from datasette import hookimpl
from datasette.utils import tilde_encode
from datasette.utils.asgi import NotFound, Response

from archive.seal import seals_for_warc
from datasette_plugins.config import BUNDLED_TILES, tile_options
from datasette_plugins.queries import MEDIA_CAPTURES_SQL, POSTS_CARRYING_SQL
from datasette_plugins.warc_media import SHA256_RE, archive_database, check_visible

SUMMARY_FIELDS = [
    ("latitude", "Latitude"), ("longitude", "Longitude"), ("altitude", "Altitude (m)"),
    ("captured_at", "Captured at"), ("make", "Make"), ("model", "Model"),
    ("software", "Software"), ("duration_s", "Duration (s)"), ("width", "Width"),
    ("height", "Height"), ("mime_type", "File type"), ("exiftool_version", "ExifTool version"),
    ("error", "ExifTool error"),
]


def pretty_json(text: str | None) -> str | None:
    """``text`` re-indented if it is JSON, else as it is."""
    if not text:
        return text
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False, sort_keys=True)
    except ValueError:
        return text


async def evidence(datasette, request):
    """Render the evidence page for the media item with this SHA-256."""
    sha256 = request.url_vars["sha256"].lower()
    db = archive_database(datasette)
    await check_visible(datasette, request, db)
    captures = [dict(r) for r in await db.execute(MEDIA_CAPTURES_SQL, {"sha256": sha256})]
    if not captures:
        raise NotFound(f"no media with SHA-256 {sha256} in this archive")
    metadata = (await db.execute(
        "select * from media_metadata where sha256 = ?", [sha256])).first()
    metadata = dict(metadata) if metadata else {}
    for capture in captures:  # the seals over its WARC file (archive.seal), not re-checked
        capture["seals"] = [
            {"manifest": name, "time": token.gen_time.isoformat() if token else None,
             "tsa": token.tsa_name if token else None}
            for name, token in seals_for_warc(Path(db.path).parent,
                                              Path(capture["record_warc_filename"] or "").name)]
    posts = [dict(r) for r in await db.execute(POSTS_CARRYING_SQL, {"sha256": sha256})]
    for post in posts:
        post["row_url"] = datasette.urls.row(db.name, "posts", tilde_encode(str(post["id"])))
    content_type = next((c["content_type"] for c in captures if c["content_type"]), None)
    content_type = content_type or metadata.get("mime_type") or ""
    config = datasette.plugin_config("datasette-cluster-map") or {}
    context = {
        "sha256": sha256,
        "content_type": content_type,
        "kind": content_type.split("/")[0],
        "captures": captures,
        "posts": posts,
        "metadata": metadata,
        "summary": [(label, metadata.get(key)) for key, label in SUMMARY_FIELDS
                    if metadata.get(key) is not None],
        "exiftool_json": pretty_json(metadata.get("exiftool")),
        "has_gps": metadata.get("latitude") is not None
        and metadata.get("longitude") is not None,
        "tile_layer": config.get("tile_layer") or BUNDLED_TILES,
        "tile_options": json.dumps(config.get("tile_layer_options")
                                   or tile_options(config.get("tile_layer") or BUNDLED_TILES)),
        "database": db.name,
    }
    html = await datasette.render_template("evidence.html", context, request=request)
    return Response.html(html)


@hookimpl
def register_routes():
    return [(rf"^/-/evidence/{SHA256_RE}$", evidence)]
