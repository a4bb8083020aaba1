"""The SQL behind lifeboat's canned queries, media routes and export (the views' SQL is
part of the schema: ``archive.schema``)."""

from __future__ import annotations

from archive.schema import PAYLOAD_CAPTURE_JOIN, PAYLOAD_COLUMNS, REVISIT_ORIGINAL_JOIN

EXPORT_COLUMNS = [
    "post_id", "author", "post_created_at", "post_url", "post_text", "post_deleted",
    "media_url", "media_type", "sha256", "evidence_url", "latitude", "longitude", "altitude",
    "captured_at", "captured_at_utc", "make", "model", "fetched_at", "warc_record_id",
    "warc_filename", "warc_offset",
]

# The capture holding the payload of a media item, by SHA-256.
MEDIA_PAYLOAD_SQL = f"""
select
  m.url as url, coalesce(m.content_type, own.content_type) as content_type,
  coalesce(orig.payload_size, own.payload_size, m.size) as size,
  {PAYLOAD_COLUMNS}
from media m
{PAYLOAD_CAPTURE_JOIN}
where m.sha256 = :sha256 and coalesce(orig.warc_filename, own.warc_filename) is not null
order by m.capture_id
limit 1
"""

# Any capture's payload by capture id (e.g. the archived JSON of a post).
CAPTURE_PAYLOAD_SQL = f"""
select
  own.url as url, own.content_type as content_type,
  coalesce(orig.payload_size, own.payload_size) as size,
  {PAYLOAD_COLUMNS}
from captures own
{REVISIT_ORIGINAL_JOIN}
where own.id = :id
"""

# Kilometres per degree of latitude, rounded down so that the latitude band of the
# "media within R km" query (an index range) always holds every point within R km; the
# exact haversine check then decides.
KM_PER_DEGREE = 111.19

CANNED_QUERIES = {
    "media_near_point": {
        "title": "Media shot within R km of a point",
        "description": "Geotagged photos and videos whose GPS position lies within km "
                       "kilometres of (lat, lon), nearest first.",
        "sql": f"""
select
  sha256, latitude, longitude, altitude, captured_at_utc, captured_at, make, model,
  mime_type,
  round(distance_km(latitude, longitude, cast(:lat as real), cast(:lon as real)), 3)
    as distance_km,
  popup
from geotagged_media
where latitude between cast(:lat as real) - cast(:km as real) / {KM_PER_DEGREE}
                   and cast(:lat as real) + cast(:km as real) / {KM_PER_DEGREE}
  and distance_km(latitude, longitude, cast(:lat as real), cast(:lon as real))
      <= cast(:km as real)
order by distance_km
""",
    },
    "posts_in_time_window": {
        "title": "Posts in a time window",
        "description": "Posts created between start and end (ISO 8601 UTC, e.g. "
                       "2021-01-06T14:00:00Z), oldest first.",
        "sql": """
select id, author, created_at, text, url, deleted
from posts
where created_at >= :start and created_at < :end
order by created_at
""",
    },
    "geotagged_media_per_hour": {
        "title": "Geotagged media per hour of capture",
        "description": "How many distinct geotagged photos and videos were shot in each "
                       "hour (UTC), from their ExifTool capture time. Files that do not "
                       "give their time zone have no UTC time and are left out.",
        "sql": """
select strftime('%Y-%m-%dT%H:00Z', captured_at_utc) as hour, count(*) as media
from geotagged_media
where captured_at_utc is not null
group by hour
order by hour
""",
    },
    "media_taken_in_time_window": {
        "title": "Photos and videos taken in a time window",
        "description": "Media whose capture time (UTC, from the file) lies between start "
                       "and end (ISO 8601 UTC, e.g. 2021-01-06T14:00:00Z), oldest first, "
                       "with the local time the camera recorded.",
        "sql": """
select sha256, captured_at_utc, captured_at, latitude, longitude, make, model, mime_type
from media_metadata
where captured_at_utc >= :start and captured_at_utc < :end
order by captured_at_utc
""",
    },
    # CROSS JOIN keeps SQLite's join order: from the geotagged media out to their posts,
    # not through every post by author (faster: bench/README.md, section 5)
    "authors_by_geotagged_media": {
        "title": "Authors ranked by geotagged media",
        "description": "Authors by the number of distinct geotagged photos and videos "
                       "their posts carried.",
        "sql": """
select p.author as author, count(distinct g.sha256) as geotagged_media,
  count(distinct p.id) as posts
from geotagged_media g
cross join media m on m.sha256 = g.sha256
cross join post_media pm on pm.media_url = m.url
cross join posts p on p.id = pm.post_id
group by p.author
order by geotagged_media desc, author
""",
    },
}

# Posts carrying a payload, for evidence pages.
POSTS_CARRYING_SQL = """
select distinct p.id, p.author, p.created_at, p.text, p.url, p.capture_id, p.deleted,
  pm.media_url
from media m
join post_media pm on pm.media_url = m.url
join posts p on p.id = pm.post_id
where m.sha256 = :sha256
order by p.created_at, p.id
"""

# Every URL and capture of a payload, for evidence pages.
MEDIA_CAPTURES_SQL = f"""
select m.url, m.content_type, m.size, own.fetched_at, own.status, own.warc_record_id,
  own.warc_type, own.warc_filename as record_warc_filename,
  own.warc_offset as record_warc_offset, own.warc_length, {PAYLOAD_COLUMNS}
from media m
{PAYLOAD_CAPTURE_JOIN}
where m.sha256 = :sha256
order by own.fetched_at, m.url
"""

# Media of one post, for rendering post cells.
POST_MEDIA_SQL = """
select m.sha256, m.content_type, pm.media_url
from post_media pm join media m on m.url = pm.media_url
where pm.post_id = :post_id and m.sha256 is not null
order by pm.media_url
"""
