"""Pictures rather than tables: the timeline of posts and capture times (``/-/timeline``),
the ID walk's coverage strip (``/-/coverage``) and the per-hour chart of the canned query.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import quote

from datasette import hookimpl
from datasette.utils.asgi import Response
from markupsafe import Markup

from archive.coverage import walk_coverage, walks
from datasette_plugins.charts import Bar, bar_chart, coverage_strip
from datasette_plugins.warc_media import archive_database, check_visible

# (name, characters of an ISO 8601 time that make its key, the longest span it is used for)
UNITS = (("hour", 13, timedelta(days=4)), ("day", 10, timedelta(days=500)),
         ("month", 7, None))
STRIP_SLICES = 200

POSTS_SQL = """
select substr(created_at, 1, :n) as k, count(*) as n from posts
where created_at is not null and created_at != '' group by k order by k
"""
MEDIA_SQL = """
select substr(captured_at_utc, 1, :n) as k, count(*) as n from media_metadata
where captured_at_utc is not null group by k order by k
"""
BOUNDS_SQL = """
select
  (select min(created_at) from posts where created_at != ''),
  (select max(created_at) from posts where created_at != ''),
  (select min(captured_at_utc) from media_metadata),
  (select max(captured_at_utc) from media_metadata),
  (select count(*) from media_metadata where captured_at is not null
     and captured_at_utc is null),
  (select count(*) from media_metadata where captured_at is null)
"""


def parse_time(value: str | None) -> datetime | None:
    """The start of an ISO 8601 time (to the second, zone ignored), or None."""
    try:
        return datetime.fromisoformat(value[:19]) if value else None
    except ValueError:
        return None


def choose_unit(first: datetime, last: datetime) -> tuple[str, int]:
    """Hours for a few days, days up to about a year and a half, months beyond."""
    for name, length, longest in UNITS:
        if longest is None or last - first <= longest:
            return name, length
    raise AssertionError("unreachable")


def keys_between(first: datetime, last: datetime, unit: str) -> list[str]:
    """Every hour, day or month key from ``first`` to ``last``: empty ones are bars too."""
    keys = []
    if unit == "month":
        year, month = first.year, first.month
        while (year, month) <= (last.year, last.month):
            keys.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return keys
    step = timedelta(hours=1) if unit == "hour" else timedelta(days=1)
    fmt = "%Y-%m-%dT%H" if unit == "hour" else "%Y-%m-%d"
    at = first.replace(minute=0, second=0, microsecond=0)
    if unit == "day":
        at = at.replace(hour=0)
    while at <= last:
        keys.append(at.strftime(fmt))
        at += step
    return keys


def bars(counts: dict[str, int], keys: list[str], link: str) -> list[Bar]:
    """One bar per key, linking to ``link`` + the key."""
    return [Bar(k, counts.get(k, 0), link + quote(k)) for k in keys]


async def timeline(datasette, request):
    """Posts per hour/day/month and photos or videos taken per hour/day/month, one scale."""
    db = archive_database(datasette)
    await check_visible(datasette, request, db)
    first_post, last_post, first_taken, last_taken, no_zone, no_time = (
        await db.execute(BOUNDS_SQL)).first()
    times = [t for t in map(parse_time, (first_post, last_post, first_taken, last_taken)) if t]
    charts = []
    if times:
        unit, length = choose_unit(min(times), max(times))
        keys = keys_between(min(times), max(times), unit)
        posts = {r["k"]: r["n"] for r in await db.execute(POSTS_SQL, {"n": length})}
        taken = {r["k"]: r["n"] for r in await db.execute(MEDIA_SQL, {"n": length})}
        db_url = datasette.urls.database(db.name)
        charts = [
            bar_chart(bars(posts, keys, f"{db_url}/posts?created_at__startswith="),
                      f"Posts per {unit} (UTC): {sum(posts.values()):,}", "timeline-posts"),
            bar_chart(bars(taken, keys, f"{db_url}/media_metadata?captured_at_utc__startswith="),
                      f"Photos and videos taken per {unit} (UTC, from their metadata): "
                      f"{sum(taken.values()):,}", "timeline-taken", colour="#b5651d"),
        ]
    html = await datasette.render_template("lifeboat_charts.html", {
        "title": "Timeline", "charts": charts, "database": db.name,
        "notes": [f"{no_zone:,} photos or videos give a local time without a time zone "
                  f"and {no_time:,} no time at all: they are not on this timeline."]
        if no_zone or no_time else [],
        "intro": "When the posts were made and when their photos and videos were taken, "
                 "on one time scale. Click a bar for its posts or media.",
    }, request=request)
    return Response.html(html)


async def coverage(datasette, request):
    """The coverage strip of every walk with decimal IDs, and the same in text."""
    db = archive_database(datasette)
    await check_visible(datasette, request, db)

    def read(conn):
        return [c for c in (walk_coverage(conn, p, t, STRIP_SLICES) for p, t in walks(conn))
                if c is not None]

    charts = [coverage_strip(c) for c in await db.execute_fn(read)]
    html = await datasette.render_template("lifeboat_charts.html", {
        "title": "ID walk coverage", "charts": charts, "database": db.name, "notes": [],
        "intro": Markup(
            "Every ID the crawl walked, lowest on the left: the share of each slice that "
            "was archived, deleted, missing (404), forbidden (401/403), failed, still "
            "queued, or not walked yet. Hover a column for its IDs and counts; "
            "<code>lifeboat status DIR</code> prints the same strip as text. The "
            '<a href="{}">ledger table</a> lists every ID.').format(
            datasette.urls.table(db.name, "ledger")),
    }, request=request)
    return Response.html(html)


def per_hour_chart(rows) -> str:
    """The ``geotagged_media_per_hour`` query's rows as a bar chart, every hour from the
    first to the last a bar (its query page)."""
    counts = {r["hour"][:13]: r["media"] for r in rows if r["hour"]}
    if not counts:
        return bar_chart([], "Geotagged photos and videos per hour of capture", "per-hour")
    keys = keys_between(datetime.fromisoformat(min(counts)), datetime.fromisoformat(max(counts)),
                        "hour")
    points = [Bar(k + ":00Z", counts.get(k, 0),
                  "/archive/media_taken_in_time_window?" + hour_window(k)) for k in keys]
    return bar_chart(points, f"Geotagged photos and videos per hour of capture (UTC): "
                             f"{sum(p.count for p in points):,}", "per-hour")


def hour_window(hour: str) -> str:
    """The query string of the one-hour window starting at ``hour`` (``2021-01-06T14``)."""
    start = datetime.fromisoformat(hour)
    end = start + timedelta(hours=1)
    return f"start={start:%Y-%m-%dT%H:%M:%SZ}&end={end:%Y-%m-%dT%H:%M:%SZ}"


@hookimpl
def extra_template_vars(template):
    """The per-hour chart for the per-hour query page's template."""
    if template == "query-archive-geotagged_media_per_hour.html":
        return {"lifeboat_per_hour_chart": per_hour_chart}
    return {}


@hookimpl
def register_routes():
    return [(r"^/-/timeline$", timeline), (r"^/-/coverage$", coverage)]
