"""Capture times as UTC: one pure function shared by metadata extraction and the schema's
back-fill of ``media_metadata.captured_at_utc``."""

from __future__ import annotations

import re
from datetime import datetime, timezone


def utc_time(value: str | None) -> str | None:
    """An ISO 8601 time with a zone (``Z`` or ``+hh:mm``) as UTC, ``YYYY-MM-DDTHH:MM:SS[.fff]Z``;
    None for a time without a zone (the camera's local clock: its UTC is unknown)."""
    if not value or not re.search(r"(Z|[+-]\d{2}:?\d{2})$", value.strip()):
        return None
    try:
        when = datetime.fromisoformat(value.strip()).astimezone(timezone.utc)
    except ValueError:
        return None
    millis = f".{when.microsecond // 1000:03d}" if when.microsecond else ""
    return when.strftime("%Y-%m-%dT%H:%M:%S") + millis + "Z"
