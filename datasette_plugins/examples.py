"""Example values for the ready-made queries, read from the archive when serving starts:
a ready-made query opened from the home page shows rows at once, not an empty form."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from datasette import hookimpl

PLUGIN = "lifeboat"  # plugin config: {"examples": {query name: query string}}

# Where most geotagged media were taken (to ~1 km), the last day with posts, the last day
# with capture times: three aggregate reads over indexes, done once at start.
BUSIEST_PLACE_SQL = """
select round(latitude, 2), round(longitude, 2), count(*) as n from media_metadata
where latitude is not null and longitude is not null and gps_flag is null
group by 1, 2 order by n desc limit 1
"""
LAST_POST_SQL = "select max(created_at) from posts where created_at != ''"
LAST_TAKEN_SQL = "select max(captured_at_utc) from media_metadata"


def day_window(value: str | None) -> dict[str, str] | None:
    """The UTC day holding the ISO 8601 time ``value``, as start and end parameters."""
    try:
        day = datetime.fromisoformat(value[:10]) if value else None
    except ValueError:
        return None
    if day is None:
        return None
    return {"start": f"{day:%Y-%m-%d}T00:00:00Z",
            "end": f"{day + timedelta(days=1):%Y-%m-%d}T00:00:00Z"}


def example_queries(db_path: Path) -> dict[str, str]:
    """{query name: query string with example values} for the queries that take
    parameters, from ``db_path``; queries the archive has no example for are left out."""
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    except sqlite3.Error:
        return {}
    out: dict[str, str] = {}
    try:
        place = conn.execute(BUSIEST_PLACE_SQL).fetchone()
        if place:
            out["media_near_point"] = urlencode({"lat": place[0], "lon": place[1], "km": 2})
        for name, sql in (("posts_in_time_window", LAST_POST_SQL),
                          ("media_taken_in_time_window", LAST_TAKEN_SQL)):
            window = day_window(conn.execute(sql).fetchone()[0])
            if window:
                out[name] = urlencode(window)
    except sqlite3.Error:  # an archive without some table yet: fewer examples
        pass
    finally:
        conn.close()
    return out


def example_redirect(app, datasette):
    """ASGI middleware: a ready-made query opened with no parameters at all (from the
    database page's list of queries, say) goes to the same query with its example values,
    so it opens showing rows rather than an empty form."""

    async def wrapped(scope, receive, send):
        if scope["type"] == "http" and scope.get("method") == "GET" \
                and not scope.get("query_string"):
            examples = (datasette.plugin_config(PLUGIN) or {}).get("examples") or {}
            database, _, name = scope.get("path", "").strip("/").partition("/")
            if database and name in examples and "/" not in name:
                location = f"/{database}/{name}?{examples[name]}"
                await send({"type": "http.response.start", "status": 302,
                            "headers": [[b"location", location.encode()],
                                        [b"content-length", b"0"]]})
                await send({"type": "http.response.body", "body": b""})
                return
        await app(scope, receive, send)

    return wrapped


@hookimpl
def asgi_wrapper(datasette):
    """Open ready-made queries with their example values (``example_redirect``)."""
    return lambda app: example_redirect(app, datasette)
