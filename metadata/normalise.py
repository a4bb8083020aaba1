"""Turn one ExifTool record into ``media_metadata`` columns: pure functions, no I/O.

The record is ExifTool's JSON for one file, run with ``-G1 -n`` (see ``metadata.runner``):
family-1 group names keep ``Keys:``, ``UserData:``, ``ItemList:``, ``GPS:``, ``XMP-exif:``
apart, and ``-n`` gives numbers (decimal degrees, metres, seconds) instead of prose.

Positions come out as signed decimal degrees (south and west negative) whatever the file
encoded; suspicious ones are kept and flagged (``gps_flag``), never dropped. Capture times
come out as ISO 8601, with the file's UTC offset when it records one and ``Z`` when the
tag is UTC by definition (QuickTime ``CreateDate``, GPS time).
"""

from __future__ import annotations

import itertools
import math
import re
from datetime import datetime
from typing import Any, Mapping, NamedTuple

from archive.times import utc_time
from metadata.composite import with_composites

Tags = Mapping[str, Any]


class Position(NamedTuple):
    latitude: float
    longitude: float
    altitude: float | None
    source: str  # the tag(s) it was read from, e.g. "GPS:GPSLatitude" or "Keys:GPSCoordinates"


class Timestamp(NamedTuple):
    value: str  # ISO 8601
    source: str  # the tag it was read from


# --------------------------------------------------------------------------- numbers


def to_number(value: Any) -> float | None:
    """A finite float from an ExifTool value (number or numeric string), else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _clean_zero(number: float) -> float:
    return 0.0 if number == 0 else number  # no "-0.0" in the database


# --------------------------------------------------------------------------- coordinates

_ISO6709 = re.compile(
    r"^\s*(?P<lat>[+-]\d{2}(?:\d{2}){0,2}(?:\.\d*)?)"
    r"(?P<lon>[+-]\d{3}(?:\d{2}){0,2}(?:\.\d*)?)"
    r"(?P<alt>[+-]\d+(?:\.\d*)?)?"
    r"(?:CRS[A-Za-z0-9_:.]*)?/?\s*$"
)


def _iso6709_angle(token: str, degree_digits: int) -> float:
    """``+DD[MM[SS]][.f]`` (or ``+DDD...`` for longitude) as decimal degrees."""
    sign = -1.0 if token[0] == "-" else 1.0
    whole, _, fraction = token[1:].partition(".")
    parts = [whole[:degree_digits], whole[degree_digits:degree_digits + 2],
             whole[degree_digits + 2:]]
    parts = [p for p in parts if p]
    values = [float(p) for p in parts]
    if fraction:
        values[-1] += float("0." + fraction)
    degrees = values[0] + sum(v / 60 ** i for i, v in enumerate(values[1:], start=1))
    return sign * degrees


def parse_iso6709(text: str) -> tuple[float, float, float | None] | None:
    """Parse an ISO 6709 point such as ``+38.8899-077.0091+010.000/`` (also DDMM / DDMMSS)."""
    match = _ISO6709.match(text)
    if not match:
        return None
    lat = _iso6709_angle(match["lat"], 2)
    lon = _iso6709_angle(match["lon"], 3)
    alt = float(match["alt"]) if match["alt"] else None
    return lat, lon, alt


def parse_coordinates(value: Any) -> tuple[float, float, float | None] | None:
    """``"lat lon [alt]"`` (ExifTool -n), ``"lat, lon"``, a list, or ISO 6709 -> numbers."""
    if isinstance(value, (list, tuple)):
        numbers = [to_number(v) for v in value]
    elif isinstance(value, str):
        if iso := parse_iso6709(value):
            return iso
        numbers = [to_number(v) for v in re.split(r"[\s,;]+", value.strip()) if v]
    else:
        return None
    if len(numbers) not in (2, 3) or any(n is None for n in numbers):
        return None
    alt = numbers[2] if len(numbers) == 3 else None
    return numbers[0], numbers[1], alt


_LOCI_FIELD = re.compile(r"\b(Lat|Lon|Alt)=([-+]?\d+(?:\.\d*)?)")


def parse_location_information(text: Any) -> tuple[float, float, float | None] | None:
    """3GPP ``loci`` as ExifTool prints it: ``... Lat=52.36929 Lon=6.67609 Alt=10.53 ...``."""
    if not isinstance(text, str):
        return None
    fields = {name: float(number) for name, number in _LOCI_FIELD.findall(text)}
    if "Lat" not in fields or "Lon" not in fields:
        return None
    return fields["Lat"], fields["Lon"], fields.get("Alt")


def signed_by_ref(value: Any, ref: Any, negative: str) -> float | None:
    """An unsigned EXIF angle signed by its N/S/E/W ref (``negative`` is "S" or "W")."""
    number = to_number(value)
    if number is None:
        return None
    if isinstance(ref, str) and ref.strip():
        sign = -1.0 if ref.strip()[0].upper() == negative else 1.0
        return _clean_zero(sign * abs(number))
    return _clean_zero(number)  # no ref: keep the value's own sign


def altitude_by_ref(value: Any, ref: Any) -> float | None:
    """EXIF altitude: ref 1 means below sea level; a missing ref means above (EXIF 2.3)."""
    number = to_number(value)
    if number is None:
        return None
    below = to_number(ref) == 1 or (isinstance(ref, str) and "below" in ref.lower())
    return _clean_zero(-abs(number) if below else number)


def _exif_position(tags: Tags, group: str) -> Position | None:
    lat = signed_by_ref(tags.get(f"{group}:GPSLatitude"), tags.get(f"{group}:GPSLatitudeRef"), "S")
    lon = signed_by_ref(tags.get(f"{group}:GPSLongitude"),
                        tags.get(f"{group}:GPSLongitudeRef"), "W")
    if lat is None or lon is None:
        return None
    alt = altitude_by_ref(tags.get(f"{group}:GPSAltitude"), tags.get(f"{group}:GPSAltitudeRef"))
    return Position(lat, lon, alt, f"{group}:GPSLatitude")


# QuickTime / MP4 places, most specific first: Apple's Keys ISO 6709 string, the iTunes
# ItemList, the classic UserData (c)xyz atom; then 3GPP loci.
COORDINATE_TAGS = ("Keys:GPSCoordinates", "ItemList:GPSCoordinates", "UserData:GPSCoordinates")


def position(tags: Tags) -> Position | None:
    """The best position in a record, or None when the file has none (empty tags count as none).

    Order: EXIF GPS IFD (refs applied), XMP-exif, QuickTime Keys / ItemList / UserData
    coordinates (ISO 6709), 3GPP LocationInformation, any other ``*:GPSCoordinates``,
    then any other group's GPSLatitude / GPSLongitude (refs applied) as a last resort.
    """
    for group in ("GPS", "XMP-exif"):
        if found := _exif_position(tags, group):
            return found
    others = [k for k in tags if k.endswith(":GPSCoordinates") and k not in COORDINATE_TAGS]
    for key in (*COORDINATE_TAGS, "UserData:LocationInformation", *others):
        if key not in tags:
            continue
        parsed = (parse_location_information(tags[key]) if key.endswith("LocationInformation")
                  else parse_coordinates(tags[key]))
        if parsed:
            lat, lon, alt = parsed
            return Position(_clean_zero(lat), _clean_zero(lon),
                            None if alt is None else _clean_zero(alt), key)
    groups = [k.rsplit(":", 1)[0] for k in tags if k.endswith(":GPSLatitude")]
    for group in groups:  # maker notes, drones; ExifTool's Composite when it ran with them
        if group not in ("GPS", "XMP-exif") and (found := _exif_position(tags, group)):
            return found
    return None


MAX_PLAUSIBLE_ALTITUDE_M = 100_000.0  # above this (or below minus it) the value is broken


def position_flags(lat: float, lon: float, alt: float | None) -> str | None:
    """Comma-separated reasons to doubt a position (``null_island``, ``*_out_of_range``)."""
    flags = []
    if abs(lat) < 1e-9 and abs(lon) < 1e-9:
        flags.append("null_island")
    if not -90 <= lat <= 90:
        flags.append("latitude_out_of_range")
    if not -180 <= lon <= 180:
        flags.append("longitude_out_of_range")
    if alt is not None and abs(alt) > MAX_PLAUSIBLE_ALTITUDE_M:
        flags.append("altitude_out_of_range")
    return ",".join(flags) or None


# --------------------------------------------------------------------------- times

_DATETIME = re.compile(
    r"^\s*(?P<date>\d{4}[:-]\d{2}[:-]\d{2})[ T](?P<time>\d{2}:\d{2}(?::\d{2})?)"
    r"(?P<fraction>\.\d+)?\s*(?P<zone>Z|[+-]\d{2}:?\d{2})?\s*$"
)
_OFFSET = re.compile(r"^\s*([+-])(\d{2}):?(\d{2})\s*$")


def _zone(text: str) -> str | None:
    if text.upper() == "Z":
        return "Z"
    match = _OFFSET.match(text)
    return f"{match[1]}{match[2]}:{match[3]}" if match else None


def iso_datetime(value: Any, *, offset: Any = None, subsec: Any = None,
                 utc: bool = False) -> str | None:
    """ExifTool's ``YYYY:MM:DD HH:MM:SS[.f][zone]`` as ISO 8601, or None if unusable.

    ``offset`` (e.g. OffsetTimeOriginal) and ``subsec`` apply when the value lacks them;
    ``utc`` marks tags that are UTC by definition. All-zero and impossible dates give None.
    """
    if not isinstance(value, str):
        return None
    match = _DATETIME.match(value)
    if not match:
        return None
    date = match["date"].replace(":", "-")
    clock = match["time"] if match["time"].count(":") == 2 else match["time"] + ":00"
    try:
        datetime.fromisoformat(f"{date}T{clock}")
    except ValueError:
        return None  # 0000:00:00, month 13, ...
    fraction = match["fraction"] or ""
    if not fraction and subsec is not None and re.fullmatch(r"\d+", str(subsec).strip()):
        fraction = "." + str(subsec).strip()
    zone = _zone(match["zone"]) if match["zone"] else None
    if zone is None and isinstance(offset, str):
        zone = _zone(offset)
    if zone is None and utc:
        zone = "Z"
    return f"{date}T{clock}{fraction}{zone or ''}"


class TimeTag(NamedTuple):
    """A capture-time tag, the tags holding its sub-seconds and UTC offset, and whether
    it is UTC by definition."""

    tag: str
    subsec: str | None = None
    offset: str | None = None
    utc: bool = False


# Best first. DateTimeOriginal is when the shutter fired; QuickTime's Keys/UserData dates
# carry the local offset; the movie header's CreateDate is UTC by the QuickTime spec; GPS
# time is UTC but may be the time of the last fix, so it comes last.
TIME_TAGS: tuple[TimeTag, ...] = (
    TimeTag("ExifIFD:DateTimeOriginal", "ExifIFD:SubSecTimeOriginal",
            "ExifIFD:OffsetTimeOriginal"),
    TimeTag("Keys:CreationDate"),
    TimeTag("UserData:DateTimeOriginal"),
    TimeTag("ItemList:CreationDate"),
    TimeTag("ItemList:ContentCreateDate"),
    TimeTag("UserData:ContentCreateDate"),
    TimeTag("XMP-exif:DateTimeOriginal"),
    TimeTag("Composite:DateTimeOriginal"),
    TimeTag("ExifIFD:CreateDate", "ExifIFD:SubSecTimeDigitized", "ExifIFD:OffsetTimeDigitized"),
    TimeTag("IFD0:CreateDate"),
    TimeTag("XMP-xmp:CreateDate"),
    TimeTag("XMP-photoshop:DateCreated"),
    TimeTag("Composite:DateTimeCreated"),
    TimeTag("QuickTime:CreateDate", utc=True),
    TimeTag("PNG:CreationTime"),
    TimeTag("PNG:CreateDate"),
    TimeTag("Composite:GPSDateTime", utc=True),
    TimeTag("XMP-exif:GPSDateTime", utc=True),
)


def captured_at(tags: Tags) -> Timestamp | None:
    """The best capture time in a record and the tag it came from, or None."""
    for tag, subsec_tag, offset_tag, utc in TIME_TAGS:
        if tag not in tags:
            continue
        value = iso_datetime(tags[tag], offset=tags.get(offset_tag) if offset_tag else None,
                             subsec=tags.get(subsec_tag) if subsec_tag else None, utc=utc)
        if value:
            return Timestamp(value, tag)
    return None


# --------------------------------------------------------------------------- the rest


def _first_text(tags: Tags, preferred: tuple[str, ...], name: str) -> str | None:
    """The first non-empty value among ``preferred`` tags, then any ``*:name`` tag."""
    suffix = ":" + name
    keys = itertools.chain(preferred, (k for k in tags if k.endswith(suffix)))  # lazily
    for key in keys:
        value = tags.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def image_size(tags: Tags) -> tuple[int | None, int | None]:
    """Pixel width and height (Composite:ImageSize, see ``metadata.composite``)."""
    size = tags.get("Composite:ImageSize")
    if isinstance(size, str):
        parts = re.split(r"[\sx]+", size.strip())
        if len(parts) == 2 and all(to_number(p) is not None for p in parts):
            return int(float(parts[0])), int(float(parts[1]))
    return None, None


def duration(tags: Tags) -> float | None:
    """Play time in seconds (QuickTime movie header, else Composite), else None."""
    for key in ("QuickTime:Duration", "Composite:Duration", "Matroska:Duration",
                "RIFF:Duration"):
        number = to_number(tags.get(key))
        if number is not None:
            return number
    return None


MEDIA_MIME_PREFIXES = ("image/", "video/", "audio/")
_BROKEN_WARNING = re.compile(r"truncat|corrupt|missing .*(atom|segment|marker)|format error",
                             re.IGNORECASE)


def error_of(tags: Tags) -> str | None:
    """Why a record is unusable: ExifTool's Error, a non-media file, or a truncation warning."""
    error = tags.get("ExifTool:Error")
    if error:
        return str(error)
    mime = tags.get("File:MIMEType")
    if not (isinstance(mime, str) and mime.startswith(MEDIA_MIME_PREFIXES)):
        return f"not a photo or video (ExifTool reads it as {mime or 'an unknown type'})"
    warnings = [v for k, v in tags.items() if k.endswith(":Warning") and isinstance(v, str)]
    for warning in warnings:
        if not warning.startswith("[minor]") and _BROKEN_WARNING.search(warning):
            return f"damaged file: {warning}"
    return None


def normalise(tags: Tags) -> dict[str, Any]:
    """The ``media_metadata`` columns (except sha256 / exiftool / version) for one record.

    Adds ``gps_flag``, and ``position_source`` / ``captured_at_source`` (the tags read), which
    the caller records beside the ExifTool JSON. The Composite tags read here are derived
    from the raw ones when ExifTool did not build them (``metadata.composite``).
    """
    tags = with_composites(tags)
    where = position(tags)
    when = captured_at(tags)
    width, height = image_size(tags)
    return {
        "latitude": where.latitude if where else None,
        "longitude": where.longitude if where else None,
        "altitude": where.altitude if where else None,
        "gps_flag": position_flags(*where[:3]) if where else None,
        "position_source": where.source if where else None,
        "captured_at": when.value if when else None,
        "captured_at_source": when.source if when else None,
        "captured_at_utc": utc_time(when.value) if when else None,
        "make": _first_text(tags, ("IFD0:Make", "Keys:Make", "UserData:Make",
                                   "Keys:AndroidManufacturer"), "Make"),
        "model": _first_text(tags, ("IFD0:Model", "Keys:Model", "UserData:Model",
                                    "Keys:AndroidModel"), "Model"),
        "software": _first_text(tags, ("IFD0:Software", "Keys:Software", "UserData:Software",
                                       "ItemList:Encoder"), "Software"),
        "duration_s": duration(tags),
        "width": width,
        "height": height,
        "mime_type": tags.get("File:MIMEType") or None,
        "error": error_of(tags),
    }
