"""The evidence page of one media item, by SHA-256: everything needed to cite it."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

from datasette import hookimpl
from datasette.utils import tilde_encode
from datasette.utils.asgi import NotFound, Response

from archive.seal import seals_for_warc
from datasette_plugins.config import BUNDLED_TILES, tile_options
from datasette_plugins.queries import (MEDIA_CAPTURES_SQL, MEDIA_PAYLOAD_SQL,
                                      POSTS_CARRYING_SQL)
from datasette_plugins.render import rounded
from datasette_plugins.warc_media import (SHA256_RE, archive_database, check_visible,
                                          download_name)

SUMMARY_FIELDS = [
    ("latitude", "Latitude"), ("longitude", "Longitude"), ("altitude", "Altitude (m)"),
    ("captured_at_utc", "Taken at (UTC)"), ("captured_at", "Taken at (camera's local time)"),
    ("make", "Make"), ("model", "Model"),
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


KINDS = {"image": "Photo", "video": "Video", "audio": "Recording"}
NEARBY_KM = 1
AREA_DEGREES = 0.01  # the "open on the map" box: about a kilometre each way


def page_title(kind: str, posts: list[dict], sha256: str) -> str:
    """"Photo from post 7 by alice" (or posts 3, 7 by carol, bob), else the SHA-256."""
    noun = KINDS.get(kind, "File")
    if not posts:
        return f"{noun} {sha256[:12]}… (no post in this archive carries it)"
    ids = ", ".join(str(p["id"]) for p in posts[:5]) + (" …" if len(posts) > 5 else "")
    authors = list(dict.fromkeys(str(p["author"]) for p in posts if p["author"]))
    by = f" by {', '.join(authors[:3])}{' …' if len(authors) > 3 else ''}" if authors else ""
    return f"{noun} from post{'s' if len(posts) > 1 else ''} {ids}{by}"


def parse_utc(value) -> datetime | None:
    """An ISO 8601 time with a zone as an aware datetime, else None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return when if when.tzinfo else None


def flags(metadata: dict, posts: list[dict]) -> list[str]:
    """What an investigator should notice before relying on this file's metadata."""
    out = []
    lat, lon = metadata.get("latitude"), metadata.get("longitude")
    if metadata and (lat is None or lon is None):
        out.append("No GPS position in the file.")
    elif lat == 0 and lon == 0 or "null_island" in (metadata.get("gps_flag") or ""):
        out.append("GPS position 0, 0 (\"null island\"): a placeholder a device wrote, not "
                   "a place.")
    elif metadata.get("gps_flag"):
        out.append(f"Doubtful GPS position: {metadata['gps_flag']}.")
    taken = parse_utc(metadata.get("captured_at_utc"))
    for post in posts:
        posted = parse_utc(post.get("created_at"))
        if taken and posted and taken > posted:
            out.append(f"Taken after it was posted: taken {metadata['captured_at_utc']}, "
                       f"post {post['id']} made {post['created_at']}. The camera's clock, "
                       "or the file's metadata, is not what it says.")
            break
    if metadata.get("captured_at") and not metadata.get("captured_at_utc"):
        out.append("The file gives its capture time without a time zone: "
                   f"{metadata['captured_at']} is the camera's local clock, UTC unknown.")
    return out


def place_links(database_url: str, lat: float, lon: float, captured_at_utc) -> list[tuple]:
    """(label, href) links to look around the place and the hour it was taken."""
    box = {"latitude__gte": lat - AREA_DEGREES, "latitude__lte": lat + AREA_DEGREES,
           "longitude__gte": lon - AREA_DEGREES, "longitude__lte": lon + AREA_DEGREES}
    links = [
        ("Open on the archive's map (about 1 km around)",
         f"{database_url}/geotagged_media?{urlencode(box)}"),
        (f"Media taken within {NEARBY_KM} km",
         f"{database_url}/media_near_point?"
         f"{urlencode({'lat': lat, 'lon': lon, 'km': NEARBY_KM})}"),
        ("Open in a map application (geo: link)", f"geo:{lat:.6f},{lon:.6f}"),
    ]
    taken = parse_utc(captured_at_utc)
    if taken:
        start, end = taken.timestamp() - 3600, taken.timestamp() + 3600
        window = {"start": datetime.fromtimestamp(start, timezone.utc).strftime(
                      "%Y-%m-%dT%H:%M:%SZ"),
                  "end": datetime.fromtimestamp(end, timezone.utc).strftime(
                      "%Y-%m-%dT%H:%M:%SZ")}
        links.append(("Media taken within an hour of it, anywhere",
                      f"{database_url}/media_taken_in_time_window?{urlencode(window)}"))
    return links


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
            {"manifest": name, "time": token.time_text if token else None,
             "tsa": token.tsa_name if token else None}
            for name, token in seals_for_warc(Path(db.path).parent,
                                              Path(capture["record_warc_filename"] or "").name)]
    posts = [dict(r) for r in await db.execute(POSTS_CARRYING_SQL, {"sha256": sha256})]
    database_url = datasette.urls.database(db.name)
    for post in posts:
        post["row_url"] = datasette.urls.row(db.name, "posts", tilde_encode(str(post["id"])))
        post["author_url"] = f"{database_url}/posts?{urlencode({'author': post['author']})}"
    content_type = next((c["content_type"] for c in captures if c["content_type"]), None)
    content_type = content_type or metadata.get("mime_type") or ""
    config = datasette.plugin_config("datasette-cluster-map") or {}
    kind = content_type.split("/")[0]
    has_gps = metadata.get("latitude") is not None and metadata.get("longitude") is not None
    served = (await db.execute(MEDIA_PAYLOAD_SQL, {"sha256": sha256})).first()
    filename = download_name(sha256, served["url"] if served else None, content_type)
    context = {
        "sha256": sha256,
        "content_type": content_type,
        "kind": kind,
        "title": page_title(kind, posts, sha256),
        "flags": flags(metadata, posts),
        "place_links": place_links(database_url, metadata["latitude"], metadata["longitude"],
                                   metadata.get("captured_at_utc")) if has_gps else [],
        "filename": filename,
        "sha256sum_line": f"{sha256}  {filename}",
        "archive_name": Path(db.path).parent.name if db.path else db.name,
        "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "captures": captures,
        "posts": posts,
        "metadata": metadata,
        "summary": [(label, rounded(key, metadata[key]) or metadata[key])
                    for key, label in SUMMARY_FIELDS if metadata.get(key) is not None],
        "exiftool_json": pretty_json(metadata.get("exiftool")),
        "has_gps": has_gps,
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
