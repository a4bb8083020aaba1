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
hashing, temporary files and SQLite writes included). A third side runs plain ExifTool
with lifeboat's ExifTool options, to tell what the options cost from what lifeboat's own
work costs (they include ``-e``, no Composite tags, so that side does less than plain
ExifTool: see metadata/runner.py and metadata/composite.py). Every input is read once beforehand and each side runs once untimed (warm
caches for all); then the sides run in turn ``--runs`` times. Prints the medians and the
median of the per-round throughput ratios (target >= 0.9), by wall time and, steadier on a
shared machine, by CPU time (ExifTool's included on both sides).
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterable, NamedTuple, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import children_cpu, work_dir  # noqa: E402
from metadata.runner import EXIFTOOL_ARGS, check_exiftool, default_workers  # noqa: E402
from metadata.samples import WarcItem, write_warc  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
# `lifeboat` as crawl.py runs it, printing its own process's CPU time (all threads) at exit
LIFEBOAT = [sys.executable, "-c", (
    "import atexit, resource, sys; atexit.register(lambda: print('python-cpu', "
    "sum(resource.getrusage(resource.RUSAGE_SELF)[:2]), file=sys.stderr)); "
    "sys.argv[0] = 'lifeboat'; from crawl import cli; cli()")]


class Timing(NamedTuple):
    """One run: wall and CPU seconds (whole process tree), and lifeboat's Python share."""

    wall: float
    cpu: float
    python_cpu: float = 0.0


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


def run_exiftool(paths: list[Path], workers: int, options: Sequence[str] = ("-n",)) -> Timing:
    """`exiftool -json OPTIONS FILE...`, files split evenly over ``workers`` processes."""
    shares = [paths[i::workers] for i in range(workers)]
    cpu, started = children_cpu(), time.perf_counter()
    processes = [subprocess.Popen(["exiftool", "-json", *options, *map(str, share)],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                 for share in shares if share]
    outputs = [p.communicate()[0] for p in processes]
    elapsed, cpu = time.perf_counter() - started, children_cpu() - cpu
    assert sum(len(json.loads(o)) for o in outputs) == len(paths)
    return Timing(elapsed, cpu)


def run_lifeboat(warc: Path, folder: Path, workers: int, expected: int) -> Timing:
    """`lifeboat extract --db NEW.db WARC` in a subprocess (CPU includes ExifTool's)."""
    db = folder / "bench.db"
    for leftover in folder.glob("bench.db*"):
        leftover.unlink()
    cpu, started = children_cpu(), time.perf_counter()
    done = subprocess.run([*LIFEBOAT, "extract", "--db", str(db), "--workers", str(workers),
                           str(warc)], capture_output=True, text=True, cwd=ROOT)
    elapsed, cpu = time.perf_counter() - started, children_cpu() - cpu
    if done.returncode != 0 or f"extracted {expected} new media" not in done.stdout:
        raise SystemExit(f"lifeboat extract failed:\n{done.stdout}\n{done.stderr}")
    python_cpu = float(done.stderr.rsplit("python-cpu", 1)[1])
    return Timing(elapsed, cpu, python_cpu)


def warm_cache(paths: Sequence[Path]) -> None:
    """Read every input once, so that no side pays for the first read from disk."""
    for path in paths:
        with open(path, "rb") as fh:
            while fh.read(1 << 20):
                pass


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=5, help="copies of each source file")
    parser.add_argument("--runs", type=int, default=3,
                        help="timed runs of each side, alternating; medians count")
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help="ExifTool processes on each side (default: cores)")
    args = parser.parse_args()

    version = check_exiftool()
    media, origin = source_media()
    with work_dir(None) as folder:
        paths = make_copies(media, args.copies, folder)
        warc = folder / "bench.warc.gz"
        write_warc(warc, (WarcItem(f"http://127.0.0.1/media/{p.name}", p.read_bytes(),
                                   content_type=mimetypes.guess_type(p.name)[0])
                          for p in paths))
        size_mb = sum(p.stat().st_size for p in paths) / 1e6
        warm_cache([*paths, warc])
        sides = {  # name -> run(): Timing
            f"exiftool -json -n ({args.workers} processes, files)":
                lambda: run_exiftool(paths, args.workers),
            "exiftool -json <lifeboat's options> (same)":
                lambda: run_exiftool(paths, args.workers, EXIFTOOL_ARGS),
            f"lifeboat extract --db (WARC, {args.workers} workers)":
                lambda: run_lifeboat(warc, folder, args.workers, len(paths)),
        }
        for run in sides.values():  # untimed: Perl and Python modules into the cache too
            run()
        times: dict[str, list[Timing]] = {name: [] for name in sides}
        for _ in range(args.runs):
            for name, run in sides.items():
                times[name].append(run())
    plain, options, ours = sides

    print(f"media: {len(paths)} files, {size_mb:.1f} MB: {len(media)} from the {origin} "
          f"x {args.copies}; ExifTool {version}; {os.cpu_count()} cores; "
          f"load {os.getloadavg()[0]:.1f}; medians of {args.runs} alternating runs")
    print(f"lifeboat's options: {' '.join(EXIFTOOL_ARGS)}")
    print(f"{'tool':<50} {'wall s':>7} {'files/s':>8} {'MB/s':>6} {'CPU s':>6} {'Python':>6}")
    for name, runs in times.items():
        wall, cpu = median(r.wall for r in runs), median(r.cpu for r in runs)
        own = median(r.python_cpu for r in runs)
        print(f"{name:<50} {wall:>7.2f} {len(paths) / wall:>8.1f} {size_mb / wall:>6.1f} "
              f"{cpu:>6.2f} {f'{own:.2f}' if own else '':>6}")
    for base, label in ((plain, "plain exiftool"), (options, "exiftool with lifeboat's options")):
        pairs = list(zip(times[base], times[ours]))
        wall_ratio = median(b.wall / o.wall for b, o in pairs)
        cpu_ratio = median(b.cpu / o.cpu for b, o in pairs)
        print(f"throughput ratio lifeboat / {label}: {wall_ratio:.2f} by wall time, "
              f"{cpu_ratio:.2f} by CPU time (median of {len(pairs)} pairs; target >= 0.90 "
              f"against plain)")


if __name__ == "__main__":
    main()
