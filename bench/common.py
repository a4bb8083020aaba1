"""What every benchmark shares: timed subprocesses, the peers, WARC counting, tables.

CPU time is user + sys of a subprocess's whole process tree, taken from
``resource.getrusage(RUSAGE_CHILDREN)`` before and after it is waited for; peak RSS comes
from ``os.wait4`` (that child's tree only). Nothing here contacts anything but 127.0.0.1.
"""

from __future__ import annotations

import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
import tempfile
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("LIFEBOAT_BENCH_CACHE", Path.home() / ".cache" / "lifeboat-bench"))
PYTHON = sys.executable
SWA_VERSION = "0.5.3"
# its Scrapy 2.11 needs these older releases (newer w3lib dropped a private name it imports)
SWA_PINS = (f"scrapy-webarchive=={SWA_VERSION}", "w3lib<2.2", "Twisted<24.8")
SWA_VENV = CACHE / f"venv-scrapy-webarchive-{SWA_VERSION}"


@dataclass(frozen=True)
class Run:
    """One finished subprocess: CPU seconds (user + sys), wall seconds, peak RSS."""

    cpu_s: float
    wall_s: float
    max_rss_mb: float
    returncode: int


def children_cpu() -> float:
    """CPU seconds (user + sys) of every child process waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def work_dir(workdir: Path | None, prefix: str = "lifeboat-bench-") -> Iterator[Path]:
    """``workdir`` (created, kept), or a temporary directory removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        work = workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        yield work


def run_measured(command: Sequence[str], *, cwd: Path | None = None, log: Path | None = None,
                 env: dict[str, str] | None = None, timeout: float = 3600.0) -> Run:
    """Run ``command`` to the end and measure it (stdout and stderr go to ``log``)."""
    out = open(log, "wb") if log else subprocess.DEVNULL
    try:
        before = children_cpu()
        start = time.perf_counter()
        process = subprocess.Popen(list(command), cwd=cwd or ROOT, stdout=out,
                                   stderr=subprocess.STDOUT, env=env)
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
            time.sleep(0.02)
        wall = time.perf_counter() - start
        cpu = children_cpu() - before
    finally:
        if log:
            out.close()
    process.returncode = os.waitstatus_to_exitcode(status)
    return Run(cpu, wall, usage.ru_maxrss / 1024, process.returncode)


def check(run: Run, what: str, log: Path) -> Run:
    """Fail loudly (with the log's tail) when a measured program did not succeed."""
    if run.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        raise SystemExit(f"{what} failed (exit status {run.returncode}); log {log}:\n{tail}")
    return run


def lifeboat_crawl(api: str, media: str, ids: str, out: Path, concurrency: int,
                   profile: str = "demo", log: Path | None = None) -> Run:
    """``lifeboat crawl demo`` over ``ids`` into ``out`` (no extraction), measured."""
    log = log or out.with_suffix(".log")
    command = [PYTHON, str(ROOT / "crawl.py"), "crawl", profile, "--out", str(out),
               "--var", f"api={api}", "--var", f"media={media}", "--ids", ids,
               "--concurrency", str(concurrency), "--no-extract"]
    return check(run_measured(command, log=log), "lifeboat crawl", log)


def fetched_urls(job_dir: Path) -> list[str]:
    """Every URL lifeboat archived, in order (robots.txt aside), each once."""
    with sqlite3.connect(job_dir / "archive.db") as conn:
        rows = conn.execute("SELECT url FROM captures ORDER BY id").fetchall()
    return list(dict.fromkeys(url for (url,) in rows if not url.endswith("/robots.txt")))


def wget_warc(urls: Path, warc_prefix: Path, log: Path | None = None) -> Run:
    """GNU wget fetching every URL of the file ``urls`` into ``warc_prefix``.warc.gz."""
    if shutil.which("wget") is None:
        raise SystemExit("GNU wget is not installed: apt-get install wget")
    log = log or warc_prefix.with_suffix(".log")
    command = ["wget", "--no-config", "--no-verbose", "--tries=1", "--input-file", str(urls),
               "--output-document", "/dev/null", "--warc-file", str(warc_prefix),
               "--no-warc-keep-log"]
    run = run_measured(command, log=log)
    if run.returncode not in (0, 8):  # 8: some URLs answered 4xx, which we archive too
        check(run, "wget", log)
    return run


def ensure_scrapy_webarchive() -> Path:
    """The python of a venv holding scrapy-webarchive (from PyPI; cached under CACHE)."""
    python = SWA_VENV / "bin" / "python"
    if python.exists():
        return python
    CACHE.mkdir(parents=True, exist_ok=True)
    print(f"creating {SWA_VENV} with scrapy-webarchive=={SWA_VERSION} (once) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(SWA_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *SWA_PINS], check=True)
    return python


def scrapy_webarchive_crawl(urls: Path, out: Path, concurrency: int,
                            log: Path | None = None) -> Run:
    """bench/swa_spider.py (scrapy-webarchive's WACZ exporter) over ``urls``, measured."""
    python = ensure_scrapy_webarchive()
    log = log or out.with_suffix(".log")
    out.mkdir(parents=True, exist_ok=True)
    command = [str(python), str(ROOT / "bench" / "swa_spider.py"), str(urls.resolve()),
               str(out.resolve()), str(concurrency)]
    # it writes its WARC into the working directory, then packs it into a WACZ in ``out``
    return check(run_measured(command, cwd=out, log=log), "scrapy-webarchive crawl", log)


def request_log_span(job_dirs: Iterable[Path]) -> tuple[int, float]:
    """(responses received, seconds from the first request sent to the last response
    received) over the jobs' ``logs/requests.log``, robots.txt left out: the crawl without
    its process's start-up and shutdown."""
    first, last, received = float("inf"), float("-inf"), 0
    for job_dir in job_dirs:
        with open(job_dir / "logs" / "requests.log", encoding="utf-8") as log:
            for line in log:
                if "/robots.txt" in line:
                    continue
                stamp, event, *_ = line.split("\t", 2)
                if event == "send":
                    first = min(first, float(stamp))
                elif event == "recv":
                    received += 1
                    last = max(last, float(stamp))
    if not received:
        raise SystemExit(f"no requests in {', '.join(map(str, job_dirs))}/logs/requests.log: "
                         "did the crawl run?")
    return received, last - first


def count_records(paths: Iterable[Path], types: tuple[str, ...] = ("response", "revisit")
                  ) -> int:
    """How many WARC records of ``types`` the files (WARCs, or WACZs' WARCs) hold."""
    from warcio.archiveiterator import ArchiveIterator

    count = 0
    for path in paths:
        if path.suffix == ".wacz":
            with zipfile.ZipFile(path) as wacz:
                count += sum(count_in(ArchiveIterator(wacz.open(name)), types)
                             for name in wacz.namelist() if ".warc" in name)
            continue
        with open(path, "rb") as fh:
            count += count_in(ArchiveIterator(fh), types)
    return count


def count_in(records: Iterable, types: tuple[str, ...]) -> int:
    return sum(1 for record in records if record.rec_type in types)


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A plain fixed-width table (numbers right-aligned)."""
    cells = [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)),
             "  ".join("-" * w for w in widths)]
    for row in cells:
        lines.append("  ".join(c.rjust(w) if _numeric(c) else c.ljust(w)
                               for c, w in zip(row, widths)))
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _numeric(text: str) -> bool:
    return text.replace(",", "").replace(".", "").replace("x", "").lstrip("-").isdigit()
