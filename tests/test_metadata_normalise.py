"""The normaliser: parsers on literal strings, then whole records from the real ExifTool."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path

import pytest

from metadata.normalise import (
    altitude_by_ref,
    captured_at,
    iso_datetime,
    normalise,
    parse_coordinates,
    parse_iso6709,
    parse_location_information,
    position,
    position_flags,
    signed_by_ref,
)
from metadata.runner import ExifToolPool
from metadata.samples import write_photo


def close(a: tuple, b: tuple, tol: float = 1e-9) -> bool:
    return len(a) == len(b) and all(
        (x is None and y is None) or (x is not None and y is not None and abs(x - y) < tol)
        for x, y in zip(a, b))


@pytest.mark.parametrize("text, expected", [
    ("+38.8899-077.0091+010.000/", (38.8899, -77.0091, 10.0)),
    ("-33.8688+151.2093/", (-33.8688, 151.2093, None)),
    ("+00.0000+000.0000/", (0.0, 0.0, None)),
    ("-31.5000-068.2500-412.300/", (-31.5, -68.25, -412.3)),
    ("+4042.5-07400.25/", (40 + 42.5 / 60, -(74 + 0.25 / 60), None)),  # DDMM.M
    ("+404230-0740015+12CRSWGS_84/", (40 + 42 / 60 + 30 / 3600, -(74 + 15 / 3600), 12.0)),
])
def test_iso6709_points_become_signed_decimal_degrees(text, expected):
    assert close(parse_iso6709(text), expected)


@pytest.mark.parametrize("text", ["", "north", "38.8899 -77.0091", "+38.8899/"])
def test_strings_that_are_not_iso6709_are_refused(text):
    assert parse_iso6709(text) is None


@pytest.mark.parametrize("value, expected", [
    ("32.0929 34.862 28.516", (32.0929, 34.862, 28.516)),  # Keys:GPSCoordinates with -n
    ("51.4169 -0.0806", (51.4169, -0.0806, None)),  # UserData (c)xyz with -n
    ("-12.5, 130.25", (-12.5, 130.25, None)),
    ("+38.8899-077.0091+010.000/", (38.8899, -77.0091, 10.0)),  # raw ISO 6709
    ([1.5, -2.5], (1.5, -2.5, None)),
])
def test_coordinate_strings(value, expected):
    assert close(parse_coordinates(value), expected)


@pytest.mark.parametrize("value", ["", "undef", "1 2 3 4", None, 7.0])
def test_unusable_coordinates_give_none(value):
    assert parse_coordinates(value) is None


def test_3gpp_location_information():
    text = "(none) Role=shooting Lat=-52.36929 Lon=-6.67609 Alt=-10.53 Body=earth Notes="
    assert close(parse_location_information(text), (-52.36929, -6.67609, -10.53))
    assert parse_location_information("Role=shooting Body=earth") is None


def test_exif_refs_sign_angles_and_altitude():
    assert signed_by_ref(33.5, "S", "S") == -33.5
    assert signed_by_ref(70.25, "W", "W") == -70.25
    assert signed_by_ref(70.25, "E", "W") == 70.25
    assert signed_by_ref("", "N", "S") is None
    assert altitude_by_ref(430.5, 1) == -430.5  # below sea level
    assert altitude_by_ref(430.5, 0) == 430.5
    assert altitude_by_ref(12, None) == 12  # EXIF: a missing ref means above sea level
    assert altitude_by_ref(0, 1) == 0 and str(altitude_by_ref(0, 1)) == "0.0"


@pytest.mark.parametrize("lat, lon, alt, flags", [
    (0.0, 0.0, 0.0, "null_island"),
    (213.64, 103.48, None, "latitude_out_of_range"),
    (45.0, -190.0, None, "longitude_out_of_range"),
    (45.75, 33.22, 4294967284.0, "altitude_out_of_range"),
    (-33.86, 151.2, -3.0, None),
])
def test_suspicious_positions_are_flagged(lat, lon, alt, flags):
    assert position_flags(lat, lon, alt) == flags


@pytest.mark.parametrize("value, kwargs, expected", [
    ("2021:01:06 14:05:09", {}, "2021-01-06T14:05:09"),
    ("2021:01:06 14:05:09", {"offset": "-05:00", "subsec": "25"}, "2021-01-06T14:05:09.25-05:00"),
    ("2021:01:06 14:05:09", {"utc": True}, "2021-01-06T14:05:09Z"),
    ("2021:01:06 14:05:09+01:00", {"utc": True}, "2021-01-06T14:05:09+01:00"),
    ("2021:01:06 14:05:09Z", {}, "2021-01-06T14:05:09Z"),
    ("2021-01-06T14:05", {}, "2021-01-06T14:05:00"),
    ("0000:00:00 00:00:00", {"utc": True}, None),
    ("42603:05:04 04:12:48", {}, None),
    ("2021:13:06 14:05:09", {}, None),
    ("2021:01:06", {}, None),
    (20210106, {}, None),
])
def test_iso_datetime(value, kwargs, expected):
    assert iso_datetime(value, **kwargs) == expected


def test_capture_time_prefers_the_shutter_then_says_where_it_came_from():
    tags = {"QuickTime:CreateDate": "2020:01:01 10:00:00", "ExifIFD:DateTimeOriginal":
            "2020:01:01 12:00:00", "ExifIFD:OffsetTimeOriginal": "+02:00",
            "Composite:GPSDateTime": "2020:01:01 10:00:01Z"}
    assert captured_at(tags) == ("2020-01-01T12:00:00+02:00", "ExifIFD:DateTimeOriginal")
    del tags["ExifIFD:DateTimeOriginal"]
    assert captured_at(tags) == ("2020-01-01T10:00:00Z", "QuickTime:CreateDate")


def test_video_position_order_and_empty_gps_tags():
    tags = {"UserData:GPSCoordinates": "1 2", "Keys:GPSCoordinates": "-3.5 -4.5 -5",
            "GPS:GPSLatitude": "", "GPS:GPSLongitude": "", "GPS:GPSLatitudeRef": ""}
    assert position(tags) == (-3.5, -4.5, -5.0, "Keys:GPSCoordinates")
    assert position({"GPS:GPSLatitude": "", "Composite:GPSLatitude": ""}) is None


# ---------------------------------------------------------------- real ExifTool output

PHOTOS = {
    "south-west-below-sea": ({
        "GPSLatitude": "33.8688", "GPSLatitudeRef": "S", "GPSLongitude": "70.6693",
        "GPSLongitudeRef": "W", "GPS:GPSAltitude": "31.5", "GPS:GPSAltitudeRef#": "1",
        "DateTimeOriginal": "2021:01:06 14:05:09", "OffsetTimeOriginal": "-03:00",
        "Make": "Apple", "Model": "iPhone 12", "Software": "14.3"},
        (-33.8688, -70.6693, -31.5), "2021-01-06T14:05:09-03:00"),
    "north-east": ({
        "GPSLatitude": "38.889722", "GPSLatitudeRef": "N", "GPSLongitude": "77.008889",
        "GPSLongitudeRef": "E", "GPS:GPSAltitude": "12", "GPS:GPSAltitudeRef#": "0",
        "GPSDateStamp": "2021:01:06", "GPSTimeStamp": "19:05:09"},
        (38.889722, 77.008889, 12.0), "2021-01-06T19:05:09Z"),
    "xmp-only": ({"XMP-exif:GPSLatitude": "-12.25", "XMP-exif:GPSLongitude": "-45.5"},
                 (-12.25, -45.5, None), None),
    "no-gps": ({"DateTimeOriginal": "2019:05:01 08:00:00", "Make": "Canon"}, None,
               "2019-05-01T08:00:00"),
}


@pytest.fixture(scope="module")
def exiftool_pool():
    with ExifToolPool(1) as pool:
        yield pool


@pytest.fixture(scope="module")
def photo_records(tmp_path_factory, exiftool_pool):
    folder = tmp_path_factory.mktemp("photos")
    paths = [write_photo(folder / f"{name}.jpg", tags) for name, (tags, _, _) in PHOTOS.items()]
    return dict(zip(PHOTOS, exiftool_pool.read([str(p) for p in paths])))


@pytest.mark.parametrize("name", list(PHOTOS))
def test_photos_tagged_by_exiftool_read_back(photo_records, name):
    _, where, when = PHOTOS[name]
    row = normalise(photo_records[name])
    got = (row["latitude"], row["longitude"], row["altitude"])
    assert close(got, where or (None, None, None), 1e-6), got
    assert row["captured_at"] == when
    assert row["mime_type"] == "image/jpeg" and (row["width"], row["height"]) == (32, 24)
    assert row["error"] is None and row["gps_flag"] is None


def test_camera_fields(photo_records):
    row = normalise(photo_records["south-west-below-sea"])
    assert (row["make"], row["model"], row["software"]) == ("Apple", "iPhone 12", "14.3")


# ---------------------------------------------------------------- the real-world corpus


def corpus_truth(corpus_dir: Path) -> tuple[dict, dict]:
    gps = {r["file"]: r for r in csv.DictReader(open(corpus_dir / "gps-truth-detail.csv"))}
    files = [r["SourceFile"] for r in json.loads((corpus_dir / "exiftool-truth.json").read_text())]
    return gps, {f: gps.get(f) for f in files}


def matches_truth_time(ours: str | None, truth: str) -> bool:
    """Our ISO time carries the truth's wall clock, and its zone when the truth has one."""
    if not truth:
        return ours is None
    wall = truth[:10].replace(":", "-") + "T" + truth[11:19]
    zone = truth[19:]
    return bool(ours) and ours.startswith(wall) and (not zone or ours.endswith(zone))


@pytest.mark.corpus
def test_corpus_records_match_the_truth(corpus_dir, exiftool_pool):
    """Every corpus photo/video, read by our pool, normalises to gps-truth's values."""
    gps, files = corpus_truth(corpus_dir)
    records = exiftool_pool.read([str(corpus_dir / f) for f in files])
    for file, record in zip(files, records):
        row, truth = normalise(record), gps.get(file)
        if truth is None:
            assert row["latitude"] is None and row["longitude"] is None, file
            continue
        assert abs(row["latitude"] - float(truth["lat"])) < 1e-6, file
        assert abs(row["longitude"] - float(truth["lon"])) < 1e-6, file
        raw_alt = truth["alt"] or truth["raw_gps_altitude"]  # no ref: above sea level
        if raw_alt:
            assert abs(row["altitude"] - float(raw_alt)) < 1e-6, file
        assert matches_truth_time(row["captured_at"], truth["datetime"]), (file, row)
        if row["captured_at"]:
            datetime.fromisoformat(row["captured_at"])  # valid ISO 8601
    flags = {f: normalise(r)["gps_flag"] for f, r in zip(files, records)}
    assert flags["images/pp__image-2011.jpg"] == "null_island"
    assert flags["videos/mei__ftyp3gp5.mp4"] == "null_island"
    assert flags["images/pp__buggy_panorama.jpg"] == "latitude_out_of_range"
