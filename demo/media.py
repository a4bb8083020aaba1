"""The demo platform's photos and videos: planned from the seed, tagged by ExifTool, cached.

Photos are JPEGs drawn with Pillow; videos are copies of `assets/template.mp4` (made once with
ffmpeg, see demo/README.md). ExifTool writes their tags in ONE batched run (`-@ argfile`
with `-execute` between files): EXIF GPS and times for photos, QuickTime `Keys` and
`UserData` ISO 6709 locations plus `CreationDate` / `CreateDate` for videos. The files are
cached under ~/.cache/lifeboat-demo/<generator version>-<seed>/, so a second start is instant.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import random
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from PIL import Image, ImageDraw

from demo.world import is_video_index, media_name

GENERATOR_VERSION = 1
TEMPLATE_MP4 = Path(__file__).parent / "assets" / "template.mp4"
CAMERAS = (("Apple", "iPhone 11"), ("samsung", "SM-G973F"), ("Google", "Pixel 4a"),
           ("Canon", "Canon EOS 80D"), ("Apple", "iPhone 12 Pro"))
# (latitude, longitude, altitude in metres): every sign combination and below-sea-level spots.
PLACES = (
    (31.5590, 35.4732, -430.5),    # Dead Sea shore: below sea level
    (38.889805, -77.009056, 25.0),  # US Capitol: west
    (-34.603722, -58.381592, 25.0),  # Buenos Aires: south and west
    (-33.856784, 151.215297, 4.0),  # Sydney: south
    (36.2461, -116.8185, -85.9),   # Badwater, Death Valley: west and below sea level
    (52.370216, 4.895168, -2.0),   # Amsterdam: below sea level
    (64.146582, -21.942635, 30.0),  # Reykjavik
    (35.658581, 139.745433, 40.0),  # Tokyo
    (-22.951916, -43.210487, 700.0),  # Rio de Janeiro, Corcovado
    (40.748817, -73.985428, 10.0),  # New York
)
UTC_OFFSETS = ("+00:00", "+00:00", "+00:00", "-05:00", "+01:00", "+09:00", "-03:00")


@dataclass(frozen=True)
class MediaSpec:
    """What one distinct media file holds; `latitude` is None for files without GPS."""

    index: int
    kind: str  # "photo" | "video"
    variant: str  # "gps" | "nogps" | "stripped"
    latitude: float | None
    longitude: float | None
    altitude: float | None
    captured_at: datetime | None  # UTC
    utc_offset: str  # how the camera wrote local time, e.g. "-05:00"
    make: str | None
    model: str | None

    @property
    def name(self) -> str:
        return media_name(self.index)

    @property
    def content_type(self) -> str:
        return "video/mp4" if self.kind == "video" else "image/jpeg"


def plan_media(index: int, seed: int) -> MediaSpec:
    """The spec of distinct media file `index` for a seed (independent of the post count)."""
    rng = random.Random(f"lifeboat-demo-media:{seed}:{index}")
    kind = "video" if is_video_index(index) else "photo"
    if index in (1, 7) or (index > 12 and rng.random() < 0.12):
        variant = "nogps"
    elif index in (2, 11) or (kind == "photo" and index > 12 and rng.random() < 0.08):
        variant = "stripped"  # only index 11 among videos: stripped videos are all alike
    else:
        variant = "gps"
    lat = lon = alt = None
    if variant == "gps":
        base = PLACES[index % len(PLACES)] if index < 2 * len(PLACES) else rng.choice(PLACES)
        lat = round(base[0] + rng.uniform(-0.01, 0.01), 6)
        lon = round(base[1] + rng.uniform(-0.01, 0.01), 6)
        alt = round(base[2] + rng.uniform(-3, 3), 1)
    captured = None
    if variant != "stripped":
        captured = datetime(2020, 12, 20, tzinfo=timezone.utc) + timedelta(
            seconds=rng.randint(0, 30 * 86400))
    make, model = rng.choice(CAMERAS) if variant != "stripped" else (None, None)
    return MediaSpec(index, kind, variant, lat, lon, alt, captured,
                     rng.choice(UTC_OFFSETS), make, model)


def local_time(spec: MediaSpec) -> str:
    """The capture time as the camera wrote it: local wall clock, EXIF format."""
    assert spec.captured_at is not None
    sign = -1 if spec.utc_offset.startswith("-") else 1
    hours, minutes = int(spec.utc_offset[1:3]), int(spec.utc_offset[4:6])
    local = spec.captured_at + sign * timedelta(hours=hours, minutes=minutes)
    return local.strftime("%Y:%m:%d %H:%M:%S")


def exiftool_args(spec: MediaSpec, path: Path) -> list[str]:
    """ExifTool arguments that tag one file (empty when the file keeps no metadata)."""
    if spec.variant == "stripped":
        return []
    args = ["-overwrite_original", "-api", "QuickTimeUTC=1"]
    utc = spec.captured_at.strftime("%Y:%m:%d %H:%M:%S")  # type: ignore[union-attr]
    if spec.kind == "photo":
        args += [f"-EXIF:DateTimeOriginal={local_time(spec)}",
                 f"-EXIF:CreateDate={local_time(spec)}",
                 f"-EXIF:OffsetTimeOriginal={spec.utc_offset}",
                 f"-EXIF:Make={spec.make}", f"-EXIF:Model={spec.model}"]
        if spec.variant == "gps":
            args += [f"-GPSLatitude={abs(spec.latitude)}", f"-GPSLatitudeRef={spec.latitude}",
                     f"-GPSLongitude={abs(spec.longitude)}", f"-GPSLongitudeRef={spec.longitude}",
                     f"-GPSAltitude={abs(spec.altitude)}", f"-GPSAltitudeRef={spec.altitude}",
                     f"-GPSDateStamp={utc[:10]}", f"-GPSTimeStamp={utc[11:]}"]
    else:
        args += [f"-Keys:CreationDate={local_time(spec)}{spec.utc_offset}",
                 f"-QuickTime:CreateDate={utc}Z", f"-QuickTime:ModifyDate={utc}Z",
                 f"-Keys:Make={spec.make}", f"-Keys:Model={spec.model}"]
        if spec.variant == "gps":
            where = f"{spec.latitude}, {spec.longitude}, {spec.altitude}"
            args += [f"-Keys:GPSCoordinates={where}", f"-UserData:GPSCoordinates={where}"]
    return args + [str(path), "-execute"]


def draw_photo(spec: MediaSpec, path: Path) -> None:
    """A small, unique JPEG: a colour field with a few shapes (no metadata of its own)."""
    rng = random.Random(f"lifeboat-demo-pixels:{spec.index}:{spec.latitude}:{spec.captured_at}")
    image = Image.new("RGB", (160, 120), tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x, y = rng.randrange(140), rng.randrange(100)
        box = (x, y, x + rng.randint(10, 60), y + rng.randint(10, 50))
        colour = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    draw.text((4, 4), f"#{spec.index}", fill=(255, 255, 255))
    image.save(path, "JPEG", quality=80)


def generate(specs: list[MediaSpec], directory: Path) -> None:
    """Create the files for `specs` in `directory`, tagging them with one ExifTool run."""
    args: list[str] = []
    for spec in specs:
        path = directory / spec.name
        if spec.kind == "photo":
            draw_photo(spec, path)
        else:
            shutil.copyfile(TEMPLATE_MP4, path)
        args += exiftool_args(spec, path)
    if not args:
        return
    argfile = directory / "exiftool-args.txt"
    argfile.write_text("\n".join(args) + "\n", encoding="utf-8")
    done = subprocess.run(["exiftool", "-charset", "filename=utf8", "-@", str(argfile)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"exiftool failed writing demo media tags: {done.stderr.strip()}; "
                           "install ExifTool >= 12.24 (Debian: libimage-exiftool-perl)")


def default_cache_root() -> Path:
    """~/.cache/lifeboat-demo (or $XDG_CACHE_HOME/lifeboat-demo)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lifeboat-demo"


def ensure_media(count: int, seed: int, cache_root: Path | None = None) -> dict[int, Path]:
    """Paths of distinct media files 0..count-1 for a seed, generating only what is missing."""
    directory = (cache_root or default_cache_root()) / f"g{GENERATOR_VERSION}-s{seed}"
    directory.mkdir(parents=True, exist_ok=True)
    specs = [plan_media(i, seed) for i in range(count)]
    paths = {spec.index: directory / spec.name for spec in specs}
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two servers starting at once generate only once
        missing = [spec for spec in specs if not paths[spec.index].is_file()]
        if missing:
            with tempfile.TemporaryDirectory(dir=directory) as tmp:
                generate(missing, Path(tmp))
                for spec in missing:
                    os.replace(Path(tmp) / spec.name, paths[spec.index])
    return paths


def truth_entry(spec: MediaSpec, payload: bytes) -> dict:
    """The /_truth.json record of one media payload."""
    return {
        "sha256": hashlib.sha256(payload).hexdigest(),
        "latitude": spec.latitude,
        "longitude": spec.longitude,
        "altitude": spec.altitude,
        "captured_at": spec.captured_at.strftime("%Y-%m-%dT%H:%M:%SZ") if spec.captured_at else None,
        "content_type": spec.content_type,
        "size": len(payload),
        "kind": spec.kind,
        "variant": spec.variant,
        "make": spec.make,
        "model": spec.model,
    }
