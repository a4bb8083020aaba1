"""Benchmark: `lifeboat extract` from a WARC against plain `exiftool -json -n` on the files.

    .venv/bin/python bench/bench_extract.py [--copies 5] [--runs 3] [--workers N]

The media are the real-world corpus's photos and videos (../shared/corpus), each copied
``--copies`` times with a unique trailer (a QuickTime ``free`` box shape after the data)
so that every copy is a distinct payload that lifeboat must extract; without the corpus,
the demo platform's media are used. The copies are written to disk and, with warcio,
into one gzipped WARC of response records.

Both sides use one ExifTool process per worker (default: one per core): plain ExifTool
as ``exiftool -json -n FILE...`` with the files split evenly, lifeboat as
``lifeboat extract --db NEW.db THE.warc.gz`` (Python start-up, WARC decompression,
hashing, temporary files and SQLite writes included). Runs alternate; the best of
``--runs`` counts. Prints a table and the ratio of throughputs (target >= 0.9), by wall
time and, steadier on a shared machine, by CPU time (ExifTool's included on both sides).
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from metadata.runner import check_exiftool, default_workers  # noqa: E402
from metadata.samples import WarcItem, write_warc  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
LIFEBOAT = [sys.executable, str(ROOT / "crawl.py")]


def source_media() -> tuple[list[tuple[str, bytes]], str]:
    """(name, bytes) of the media to replicate, and where they came from."""
    if (CORPUS / "images").is_dir():
        files = sorted(p for d in ("images", "videos") for p in (CORPUS / d).iterdir()
                       if p.is_file() and p.stat().st_size > 0)
        return [(p.name, p.read_bytes()) for p in files], f"corpus ({CORPUS})"
    from demo.server import start_demo

    with start_demo(posts=600, seed=3) as platform:
        urls = list(platform.truth["media"])
        return [(u.rsplit("/", 1)[1], urllib.request.urlopen(u).read()) for u in urls], \
            "demo platform (corpus not found)"


def make_copies(media: list[tuple[str, bytes]], copies: int, folder: Path) -> list[Path]:
    """Distinct payloads: each copy gets a 16-byte trailer shaped like a `free` box."""
    paths = []
    for copy in range(copies):
        for index, (name, data) in enumerate(media):
            trailer = (16).to_bytes(4, "big") + b"free" + f"{copy:04d}{index:04d}".encode()
            path = folder / f"c{copy:02d}-{index:03d}{Path(name).suffix.lower()}"
            path.write_bytes(data + trailer)
            paths.append(path)
    return paths


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_plain_exiftool(paths: list[Path], workers: int) -> tuple[float, float]:
    """`exiftool -json -n`, files split evenly over ``workers`` processes: (wall, CPU) s."""
    shares = [paths[i::workers] for i in range(workers)]
    cpu, started = children_cpu(), time.perf_counter()
    processes = [subprocess.Popen(["exiftool", "-json", "-n", *map(str, share)],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                 for share in shares if share]
    outputs = [p.communicate()[0] for p in processes]
    elapsed, cpu = time.perf_counter() - started, children_cpu() - cpu
    assert sum(len(json.loads(o)) for o in outputs) == len(paths)
    return elapsed, cpu


def run_lifeboat(warc: Path, folder: Path, workers: int, expected: int) -> tuple[float, float]:
    """`lifeboat extract --db NEW.db WARC` in a subprocess: (wall, CPU incl. ExifTool) s."""
    db = folder / "bench.db"
    for leftover in folder.glob("bench.db*"):
        leftover.unlink()
    cpu, started = children_cpu(), time.perf_counter()
    done = subprocess.run([*LIFEBOAT, "extract", "--db", str(db), "--workers", str(workers),
                           str(warc)], capture_output=True, text=True)
    elapsed, cpu = time.perf_counter() - started, children_cpu() - cpu
    if done.returncode != 0 or f"extracted {expected} new media" not in done.stdout:
        raise SystemExit(f"lifeboat extract failed:\n{done.stdout}\n{done.stderr}")
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=5, help="copies of each source file")
    parser.add_argument("--runs", type=int, default=3, help="runs per tool; best counts")
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help="ExifTool processes on each side (default: cores)")
    args = parser.parse_args()

    version = check_exiftool()
    media, origin = source_media()
    folder = Path(tempfile.mkdtemp(prefix="lifeboat-bench-"))
    try:
        paths = make_copies(media, args.copies, folder)
        warc = folder / "bench.warc.gz"
        write_warc(warc, (WarcItem(f"http://127.0.0.1/media/{p.name}", p.read_bytes(),
                                   content_type=mimetypes.guess_type(p.name)[0])
                          for p in paths))
        size_mb = sum(p.stat().st_size for p in paths) / 1e6
        plain, ours = [], []
        for _ in range(args.runs):
            plain.append(run_plain_exiftool(paths, args.workers))
            ours.append(run_lifeboat(warc, folder, args.workers, len(paths)))
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    rows = [(f"exiftool -json -n ({args.workers} processes, files)", min(plain)),
            (f"lifeboat extract --db (WARC, {args.workers} workers)", min(ours))]
    print(f"media: {len(paths)} files, {size_mb:.1f} MB: {len(media)} from the {origin} "
          f"x {args.copies}; ExifTool {version}; {os.cpu_count()} cores; "
          f"load {os.getloadavg()[0]:.1f}; best of {args.runs}")
    print(f"{'tool':<46} {'wall s':>7} {'files/s':>8} {'MB/s':>6} {'CPU s':>6}")
    for name, (wall, cpu) in rows:
        print(f"{name:<46} {wall:>7.2f} {len(paths) / wall:>8.1f} {size_mb / wall:>6.1f} "
              f"{cpu:>6.2f}")
    ratio = min(plain)[0] / min(ours)[0]
    cpu_ratio = min(c for _, c in plain) / min(c for _, c in ours)
    print(f"throughput ratio lifeboat / plain exiftool: {ratio:.2f} (target >= 0.90); "
          f"by CPU time: {cpu_ratio:.2f}")

if __name__ == "__main__":
    main()
