"""Rebuild the tiny geotagged media files the platform fixtures serve.

Run ``python -m tests.platforms.make_assets`` after changing ``ASSETS``. The files are
checked in (a few KB each) so that tests need no ffmpeg and spend no time on them.
JPEGs are drawn with Pillow and tagged with the real ExifTool; the MP4 is made with
ffmpeg and carries a QuickTime ISO 6709 location, as phone videos do.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

ASSET_DIR = Path(__file__).resolve().parent / "assets"


@dataclass(frozen=True)
class Asset:
    """One media file: its name, and the GPS position and camera written into it."""

    name: str
    latitude: float | None
    longitude: float | None
    taken: str
    make: str = "lifeboat-fixture"
    model: str = "test-camera"
    colour: tuple[int, int, int] = (40, 90, 160)


ASSETS: dict[str, Asset] = {a.name: a for a in [
    Asset("paris.jpg", 48.858370, 2.294481, "2023:05:01 10:15:00", colour=(200, 60, 60)),
    Asset("sydney.jpg", -33.856784, 151.215297, "2023:06:02 08:30:00", colour=(60, 160, 80)),
    Asset("newyork.jpg", 40.689247, -74.044502, "2023:07:03 16:45:00", colour=(60, 60, 200)),
    Asset("santiago.jpg", -33.448890, -70.669265, "2023:08:04 12:00:00", colour=(180, 160, 40)),
    Asset("nogps.jpg", None, None, "2023:09:05 09:00:00", colour=(120, 120, 120)),
    Asset("capitol.mp4", 38.889805, -77.009056, "2021:01:06 19:40:00"),
]}


def exiftool_gps_args(asset: Asset) -> list[str]:
    """ExifTool arguments writing the asset's position and time (EXIF or QuickTime)."""
    if asset.name.endswith(".mp4"):
        args = [f"-QuickTime:CreateDate={asset.taken}", f"-Keys:Make={asset.make}",
                f"-Keys:Model={asset.model}"]
        if asset.latitude is not None:
            args.append(f"-Keys:GPSCoordinates={asset.latitude}, {asset.longitude}, 12")
        return args
    args = [f"-EXIF:DateTimeOriginal={asset.taken}", f"-EXIF:Make={asset.make}",
            f"-EXIF:Model={asset.model}"]
    if asset.latitude is not None:
        args += [f"-GPSLatitude={abs(asset.latitude)}",
                 f"-GPSLatitudeRef={'S' if asset.latitude < 0 else 'N'}",
                 f"-GPSLongitude={abs(asset.longitude)}",
                 f"-GPSLongitudeRef={'W' if asset.longitude < 0 else 'E'}"]
    return args


def draw(asset: Asset, path: Path) -> None:
    """A 48x32 JPEG, or a 1 s 64x48 MP4, different for every asset."""
    if asset.name.endswith(".mp4"):
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        "testsrc=size=64x48:rate=10:duration=1", "-pix_fmt", "yuv420p",
                        "-c:v", "libx264", "-preset", "ultrafast", str(path)], check=True)
        return
    image = Image.new("RGB", (48, 32), asset.colour)
    ImageDraw.Draw(image).text((4, 10), asset.name[:6], fill=(255, 255, 255))
    image.save(path, "JPEG", quality=70)


def main() -> None:
    """Draw every asset and tag it with ExifTool."""
    ASSET_DIR.mkdir(exist_ok=True)
    for asset in ASSETS.values():
        path = ASSET_DIR / asset.name
        draw(asset, path)
        subprocess.run(["exiftool", "-q", "-overwrite_original", *exiftool_gps_args(asset),
                        str(path)], check=True)


if __name__ == "__main__":
    main()
