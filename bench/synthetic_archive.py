"""A synthetic lifeboat archive.db for the Datasette benchmark: many posts, geotagged media.

Built with sqlite-utils through ``archive.schema.open_db`` (so it has the real schema:
indexes, full-text search, views), then cached on disk (the name carries the sizes). Each
use opens it with ``open_db`` again, which applies any migration the schema gained since
the file was built. Deterministic (seeded).
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

from bench.common import CACHE

CITIES = [  # (lat, lon) centres: markers cluster like real protest footage does
    (38.8899, -77.0091), (51.5072, -0.1276), (-33.8688, 151.2093), (35.6762, 139.6503),
    (-23.5505, -46.6333), (30.0444, 31.2357), (52.52, 13.405), (19.4326, -99.1332),
    (55.7558, 37.6173), (-1.2921, 36.8219), (28.6139, 77.209), (40.7128, -74.006),
]
CAMERAS = [("Apple", "iPhone 12"), ("Apple", "iPhone 11"), ("samsung", "SM-G991B"),
           ("Google", "Pixel 5"), ("HUAWEI", "ELE-L29"), ("Xiaomi", "M2101K6G")]
WORDS = ("the crowd march capitol police flag stairs window tear gas video live stream "
         "today inside outside door senate chamber people storm").split()
START = datetime(2021, 1, 6, 12, 0, tzinfo=timezone.utc)
BATCH = 20_000


def archive_path(posts: int, media: int) -> Path:
    return CACHE / f"synthetic-{posts}p-{media}m" / "archive.db"  # Datasette names it archive


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _posts(count: int, rng: random.Random) -> Iterator[dict]:
    for i in range(1, count + 1):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 14)))
        author = f"user{int(rng.paretovariate(1.2)) % 20_000:05d}"
        created = iso(START + timedelta(seconds=i * 30 + rng.randint(0, 29)))
        deleted = int(rng.random() < 0.02)
        raw = json.dumps({"id": str(i), "author": author, "created_at": created,
                          "text": None if deleted else text, "deleted": bool(deleted)})
        yield {"id": str(i), "profile": "synthetic",
               "url": f"http://127.0.0.1:9/api/v1/posts/{i}", "author": author,
               "created_at": created, "text": None if deleted else text, "deleted": deleted,
               "raw": raw, "capture_id": i}


def _media(count: int, posts: int, rng: random.Random) -> Iterator[tuple[dict, dict, list]]:
    for i in range(1, count + 1):
        sha = hashlib.sha256(f"media-{i}".encode()).hexdigest()
        video = i % 4 == 0
        url = f"http://127.0.0.1:9/media/m{i:07d}.{'mp4' if video else 'jpg'}"
        lat0, lon0 = rng.choice(CITIES)
        make, model = rng.choice(CAMERAS)
        media = {"url": url, "sha256": sha, "content_type": "video/mp4" if video else "image/jpeg",
                 "size": rng.randint(20_000, 5_000_000), "capture_id": posts + i}
        metadata = {
            "sha256": sha, "latitude": round(lat0 + rng.gauss(0, 0.05), 6),
            "longitude": round(lon0 + rng.gauss(0, 0.05), 6),
            "altitude": round(rng.uniform(-10, 120), 1),
            "captured_at": iso(START + timedelta(seconds=rng.randint(0, 30 * posts))),
            "make": make, "model": model, "mime_type": media["content_type"],
            "duration_s": rng.uniform(2, 90) if video else None,
            "width": 1920, "height": 1080, "exiftool": "{}", "exiftool_version": "12.57",
            "error": None, "gps_flag": None,
        }
        carriers = [str(rng.randint(1, posts)) for _ in range(rng.choice((1, 1, 1, 2)))]
        yield media, metadata, [{"post_id": p, "media_url": url} for p in set(carriers)]


def build(path: Path, posts: int, media: int, seed: int = 2021) -> None:
    """Write the synthetic archive to ``path`` (replacing a partial one)."""
    from archive.schema import open_db

    partial = path.with_suffix(".partial")
    for stale in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        stale.unlink(missing_ok=True)
    rng = random.Random(seed)
    db = open_db(partial)
    db.execute("PRAGMA synchronous=OFF")
    with db.atomic():
        db["posts"].insert_all(_posts(posts, rng), batch_size=BATCH)
    media_rows, metadata_rows, links = [], [], []
    for m, mm, pm in _media(media, posts, rng):
        media_rows.append(m)
        metadata_rows.append(mm)
        links.extend(pm)
    with db.atomic():
        db["media"].insert_all(media_rows, batch_size=BATCH)
        db["media_metadata"].insert_all(metadata_rows, batch_size=BATCH)
        db["post_media"].insert_all(links, batch_size=BATCH, ignore=True)
    db.close()
    partial.rename(path)
    for leftover in (Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)


def ensure_archive(posts: int, media: int) -> Path:
    """The cached synthetic archive of this size, built on first use."""
    path = archive_path(posts, media)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"building {path} ({posts:,} posts, {media:,} media; once) ...", flush=True)
        build(path, posts, media)
    from archive.schema import open_db

    open_db(path).close()
    return path
