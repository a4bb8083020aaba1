"""``posts.created_at`` as ISO 8601 UTC, whatever the platform wrote.

Platforms write times as epoch seconds or milliseconds (numbers or digit strings), ISO 8601
with an offset or ``Z``, RFC 2822 (``Wed, 06 Jan 2021 14:05:09 +0000``) or Twitter's
``Wed Jan 06 14:05:09 +0000 2021``. ``normalise_time`` turns each into
``2021-01-06T14:05:09Z`` (second precision, so that text order is time order); ``posts.raw``
keeps the value as given. A time without an offset is in the item type's ``timezone``
when the profile names one, else it is kept as local time without a ``Z``
(``2021-01-06T14:05:09``); a date alone stays a date. Anything else is kept as given
(``parsed`` is False), and the crawl says so.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone, tzinfo
from email.utils import parsedate_to_datetime

_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CANONICAL = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_ZONE_WORD = re.compile(r"\s*(UTC|GMT|Z)$", re.IGNORECASE)
_OTHER_FORMATS = ("%a %b %d %H:%M:%S %z %Y",)  # Twitter's created_at
# epoch magnitudes: below 1e11 is seconds (until the year 5138), then ms, us, ns
_EPOCH_DIVISORS = ((1e11, 1), (1e14, 1e3), (1e17, 1e6))


def epoch_seconds(number: float) -> float:
    """Seconds since 1970 from an epoch number in s, ms, us or ns (told by its size)."""
    for limit, divisor in _EPOCH_DIVISORS:
        if abs(number) < limit:
            return number / divisor
    return number / 1e9


def parse_time(value: object, zone: tzinfo | None = None) -> datetime | None:
    """The moment ``value`` names (aware, unless it has no offset and ``zone`` is None),
    or None when it is not a time lifeboat can read."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)) or (isinstance(value, str) and _NUMBER.fullmatch(
            value.strip())):
        try:
            return datetime.fromtimestamp(epoch_seconds(float(value)), timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    moment = _iso(text)
    if moment is None:
        moment = _rfc2822(text)
    if moment is None:
        for fmt in _OTHER_FORMATS:
            try:
                moment = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if moment is not None and moment.tzinfo is None and zone is not None:
        moment = moment.replace(tzinfo=zone)
    return moment


def _iso(text: str) -> datetime | None:
    word = _ZONE_WORD.search(text)
    candidate = text[:word.start()] + "+00:00" if word and len(text) > 10 else text
    try:
        return datetime.fromisoformat(candidate)
    except ValueError:
        return None


def _rfc2822(text: str) -> datetime | None:
    if not any(c.isalpha() for c in text):
        return None
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    # "-0000" means "UTC, origin unknown" (RFC 2822 3.3): email.utils makes it naive
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def normalise_time(value: object, zone: tzinfo | None = None) -> tuple[str | None, bool]:
    """(the text to store, whether it was understood as a time). Lists give their first
    value; an unreadable value is stored as given (``parsed`` False)."""
    if isinstance(value, str) and _CANONICAL.fullmatch(value):  # already as stored
        return value, True
    if isinstance(value, list):
        value = next((v for v in value if v not in (None, "")), None)
    if value is None or value == "":
        return None, True
    if isinstance(value, str) and _DATE.fullmatch(value.strip()):
        return value.strip(), True
    moment = parse_time(value, zone)
    if moment is None:
        return (value if isinstance(value, str) else str(value)), False
    if moment.tzinfo is not None:
        utc = moment.astimezone(timezone.utc).replace(tzinfo=None, microsecond=0)
        return utc.isoformat() + "Z", True
    return moment.replace(microsecond=0).isoformat(), True
