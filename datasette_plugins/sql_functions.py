"""SQL functions for lifeboat's canned queries, and read-only connections."""

from __future__ import annotations

import math

from datasette import hookimpl

EARTH_RADIUS_KM = 6371.0088


def distance_km(lat1: float | None, lon1: float | None,
                lat2: float | None, lon2: float | None) -> float | None:
    """Great-circle (haversine) distance in kilometres; None when a coordinate is missing."""
    if None in (lat1, lon1, lat2, lon2):
        return None
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


@hookimpl
def prepare_connection(conn, database):
    """Register ``distance_km(lat1, lon1, lat2, lon2)``; archive connections refuse writes."""
    conn.create_function("distance_km", 4, distance_km, deterministic=True)
    if database != "_internal":
        conn.execute("PRAGMA query_only = 1")
