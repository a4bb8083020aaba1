"""The few ExifTool Composite tags lifeboat's columns use, derived from the raw tags.

ExifTool runs with ``-e`` (``metadata.runner``): building its Composite tags (GPSPosition,
ImageSize, LensID, SubSecDateTimeOriginal, DOF... up to 26 per corpus file) took a large
share of its time (bench/README.md). Composite tags are ExifTool's own calculations, not
bytes of the file; the raw tags they are made of stay in the stored record. The normaliser still reads the values
below under their ExifTool names, and ``with_composites`` supplies them by ExifTool's
rules (ExifTool 12.57: Exif.pm, IPTC.pm, GPS.pm, RIFF.pm), so the columns are what they
were with Composite tags on (``tests/test_metadata_composite.py`` compares the two on
the corpus). A record that already has a Composite value keeps ExifTool's.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping

Tags = Mapping[str, Any]

# Where a format keeps the size of its own picture, in ExifTool's order of priority:
# the file's header (JPEG SOF, HEIC ispe, BMP, AVIF, JXL), PNG IHDR, GIF screen, RIFF
# (WebP, AVI), MPEG sequence header; then the first video track (QuickTime, Matroska);
# then TIFF's IFD0; then whatever group has both.
_SIZE_GROUPS = ("File", "PNG", "GIF", "RIFF", "MPEG")
_TRACK = re.compile(r"Track\d+$")
_EXIF_SIZE_TYPES = ("CR2", "IIQ", "EIP")  # TIFF raws whose IFD0 holds a preview's size


_NAMES = ("ImageWidth", "ImageHeight", "RawImageCroppedSize", "DateTimeOriginal",
          "DateCreated", "TimeCreated")
ByName = dict[str, dict[str, Any]]  # tag name -> {group: value}, in the record's order


def by_name(tags: Tags) -> ByName:
    """The tags the rules below look for by name whatever their group, in one pass."""
    found: ByName = {name: {} for name in _NAMES}
    for key, value in tags.items():
        group, _, name = key.rpartition(":")
        if name in found:
            found[name][group] = value
    return found


def _number(value: Any) -> float | None:
    """A float from an ExifTool number or numeric string, else None."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def image_size(tags: Tags, names: ByName) -> str | None:
    """Composite:ImageSize: ``"W H"`` of the picture itself (not a thumbnail, not EXIF's)."""
    cropped = next(iter(names["RawImageCroppedSize"].values()), None)
    if cropped:
        return str(cropped)
    if tags.get("File:FileType") in _EXIF_SIZE_TYPES:
        width, height = (tags.get("ExifIFD:ExifImageWidth"), tags.get("ExifIFD:ExifImageHeight"))
        if width and height:
            return f"{width} {height}"
    widths, heights = names["ImageWidth"], names["ImageHeight"]
    both = [group for group in widths if group in heights]
    tracks = [group for group in both if _TRACK.match(group)]
    ranked = [*(g for g in _SIZE_GROUPS if g in both), *tracks[:1],
              *(g for g in ("IFD0",) if g in both), *both]
    for group in ranked:
        if _number(widths[group]) is not None and _number(heights[group]) is not None:
            return f"{widths[group]} {heights[group]}"
    return None


def _first(names: ByName, name: str, preferred: str) -> Any:
    """``preferred:name`` if present, else the first ``*:name`` in the record."""
    values = names[name]
    return values[preferred] if preferred in values else next(iter(values.values()), None)


def date_time_created(tags: Tags, names: ByName) -> str | None:
    """Composite:DateTimeCreated: IPTC DateCreated and TimeCreated joined."""
    date, time = tags.get("IPTC:DateCreated"), tags.get("IPTC:TimeCreated")
    return f"{date} {time}" if date is not None and time is not None else None


def date_time_original(tags: Tags, names: ByName) -> str | None:
    """Composite:DateTimeOriginal, only for files with no DateTimeOriginal tag at all:
    DateCreated and TimeCreated joined. (ExifTool takes DateTimeCreated first when it holds
    a time; that is IPTC's DateCreated and TimeCreated joined, which ``_first`` prefers, so
    the result is the same.)"""
    if names["DateTimeOriginal"]:
        return None
    date, time = _first(names, "DateCreated", "IPTC"), _first(names, "TimeCreated", "IPTC")
    return f"{date} {time}" if date and time else None


def gps_date_time(tags: Tags, names: ByName) -> str | None:
    """Composite:GPSDateTime: the GPS date and time stamps, UTC."""
    date, time = tags.get("GPS:GPSDateStamp"), tags.get("GPS:GPSTimeStamp")
    return f"{date} {time}Z" if date is not None and time is not None else None


def riff_duration(tags: Tags, names: ByName) -> float | None:
    """Composite:Duration of an AVI: frames / frame rate, from the RIFF header, or from the
    video stream's when the header's is 1.9-3.1 times longer (ExifTool's CalcDuration)."""
    rate, count = _number(tags.get("RIFF:FrameRate")), _number(tags.get("RIFF:FrameCount"))
    if rate is None or count is None:
        return None
    seconds = count / rate if rate else 0.0
    video_rate = _number(tags.get("RIFF:VideoFrameRate"))
    video_count = _number(tags.get("RIFF:VideoFrameCount"))
    if video_rate and video_count and 1.9 < seconds / (video_count / video_rate) < 3.1:
        seconds = video_count / video_rate
    return seconds


DERIVED: dict[str, Callable[[Tags, ByName], Any]] = {
    "Composite:ImageSize": image_size,
    "Composite:DateTimeOriginal": date_time_original,
    "Composite:DateTimeCreated": date_time_created,
    "Composite:GPSDateTime": gps_date_time,
    "Composite:Duration": riff_duration,
}


def derive(tags: Tags) -> dict[str, Any]:
    """The Composite tags in DERIVED that ``tags`` lets us build (None values left out)."""
    names = by_name(tags)
    found = {name: rule(tags, names) for name, rule in DERIVED.items()}
    return {name: value for name, value in found.items() if value is not None}


def with_composites(tags: Tags) -> dict[str, Any]:
    """``tags`` plus the derived Composite tags it lacks (ExifTool's own values win)."""
    return {**derive(tags), **tags}
