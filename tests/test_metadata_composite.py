"""ExifTool runs without Composite tags (-e); lifeboat derives the few its columns use.

Every check compares against ExifTool itself run WITH Composite tags on the same files:
the real-world corpus, plus small videos and images made by ffmpeg in formats the corpus
lacks (AVI, whose duration is a Composite, WebM, MKV, GIF, BMP, MPEG, TIFF, WebP).
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from metadata.composite import DERIVED, derive
from metadata.normalise import normalise
from metadata.runner import EXIFTOOL_ARGS, ExifToolPool

WITH_COMPOSITES = tuple(arg for arg in EXIFTOOL_ARGS if arg != "-e")
COLUMNS = ("latitude", "longitude", "altitude", "gps_flag", "position_source", "captured_at",
           "captured_at_source", "make", "model", "software", "duration_s", "width", "height",
           "mime_type", "error")
RAW_PLACE_TAGS = (":GPSLatitude", ":GPSCoordinates", ":LocationInformation")
FFMPEG_FORMATS = {  # file name -> ffmpeg output options
    "clip.avi": ["-t", "2", "-c:v", "mpeg4"], "clip.webm": ["-t", "1", "-c:v", "libvpx"],
    "clip.mkv": ["-t", "1"], "clip.mpg": ["-t", "1", "-c:v", "mpeg1video"],
    "anim.gif": ["-t", "0.5"], "still.bmp": ["-frames:v", "1"],
    "still.tiff": ["-frames:v", "1"], "still.webp": ["-frames:v", "1"],
}


@pytest.fixture(scope="module")
def made_media(tmp_path_factory) -> list[str]:
    """Small files in formats the corpus lacks, written by ffmpeg (none without it)."""
    if shutil.which("ffmpeg") is None:
        return []
    folder = tmp_path_factory.mktemp("ffmpeg")
    for name, options in FFMPEG_FORMATS.items():
        subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i",
                        "testsrc=size=176x144:rate=25", *options, str(folder / name)],
                       check=True, timeout=60)
    return sorted(str(p) for p in folder.iterdir())


@pytest.fixture(scope="module")
def both_readings(corpus_dir, made_media) -> list[tuple[str, dict, dict]]:
    """(file, ExifTool with Composite tags, ExifTool as lifeboat runs it) for every file."""
    files = sorted(str(p) for folder in ("images", "videos")
                   for p in (corpus_dir / folder).iterdir() if p.is_file()) + made_media
    with ExifToolPool(1, args=WITH_COMPOSITES) as full, ExifToolPool(1) as ours:
        return list(zip(files, full.read(files), ours.read(files)))


def test_lifeboat_runs_exiftool_without_composite_tags(both_readings):
    for path, full, ours in both_readings:
        assert not any(key.startswith("Composite:") for key in ours), path
        raw = {key: value for key, value in full.items() if not key.startswith("Composite:")}
        for key, value in ours.items():  # every tag lifeboat keeps is ExifTool's own
            if not key.startswith("System:") and key != "SourceFile":
                assert raw.get(key) == value, (path, key)
        if "Composite:GPSLatitude" in full:  # the raw tags it was made of stay
            assert any(key.endswith(RAW_PLACE_TAGS) for key in ours), path


def test_derived_composites_equal_exiftools(both_readings):
    """ImageSize, DateTimeOriginal, DateTimeCreated, GPSDateTime, Duration: same values."""
    seen = dict.fromkeys(DERIVED, 0)
    for path, full, ours in both_readings:
        derived = derive(ours)
        for name in DERIVED:
            assert derived.get(name) == full.get(name), (path, name)
            seen[name] += name in derived
    corpus_names = ("Composite:ImageSize", "Composite:DateTimeOriginal",
                    "Composite:DateTimeCreated", "Composite:GPSDateTime")
    assert all(seen[name] for name in corpus_names), seen  # each rule was exercised
    if shutil.which("ffmpeg"):
        assert seen["Composite:Duration"], seen  # the AVI


def test_columns_equal_with_and_without_composite_tags(both_readings):
    """Every normalised column (positions, times and their source tags, sizes...) as before."""
    for path, full, ours in both_readings:
        with_tags, without = normalise(full), normalise(ours)
        for column in COLUMNS:
            assert without[column] == with_tags[column], (path, column)


def test_derived_times_follow_exiftools_rules():
    gps = {"GPS:GPSDateStamp": "2023:11:15", "GPS:GPSTimeStamp": "08:30:00"}
    assert derive(gps)["Composite:GPSDateTime"] == "2023:11:15 08:30:00Z"
    iptc = {"IPTC:DateCreated": "2020:07:23", "IPTC:TimeCreated": "11:32:20+00:00"}
    assert derive(iptc)["Composite:DateTimeOriginal"] == "2020:07:23 11:32:20+00:00"
    exif = {**iptc, "ExifIFD:DateTimeOriginal": "2020:07:23 11:32:20"}
    assert "Composite:DateTimeOriginal" not in derive(exif)  # only without any DateTimeOriginal


def test_a_maker_group_position_is_found_with_its_refs():
    tags = {"Parrot:GPSLatitude": 48.85, "Parrot:GPSLatitudeRef": "S",
            "Parrot:GPSLongitude": 2.35, "Parrot:GPSLongitudeRef": "W"}
    columns = normalise({**tags, "File:MIMEType": "video/mp4"})
    assert (columns["latitude"], columns["longitude"]) == (-48.85, -2.35)
    assert columns["position_source"] == "Parrot:GPSLatitude"


def test_exiftool_composite_values_are_kept_when_present():
    tags = {"Composite:ImageSize": "640 480", "File:ImageWidth": 10, "File:ImageHeight": 10,
            "File:MIMEType": "image/jpeg"}
    assert (normalise(tags)["width"], normalise(tags)["height"]) == (640, 480)
