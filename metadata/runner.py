"""ExifTool done properly: a pool of long-running ``-stay_open`` processes fed in batches.

One ExifTool process per worker (default: one per core) stays open for the whole run
(pyexiftool); each call hands it a batch of files and reads one JSON array back, so Perl
starts once per worker, never once per file.

Options, and why:

- ``-G1``: family-1 group names (``GPS:``, ``XMP-exif:``, ``Keys:``, ``UserData:``,
  ``ItemList:``), which keep QuickTime's competing location and date atoms apart; ``-G``
  (family 0) would fold them all into ``QuickTime:``.
- ``-a``: keep duplicate tags (the same tag in several groups), as the full record should.
- ``-n``: numbers, not prose (decimal degrees, metres, seconds).
- ``-e``: no Composite tags. They are ExifTool's derivations (GPSPosition, ImageSize,
  LensID, SubSecDateTimeOriginal, DOF, ThumbnailImage's binary placeholder...), not bytes
  of the file, and building some 40 of them per file was a large share of ExifTool's time
  (bench/README.md, "Extraction, in detail"). The raw tags they
  come from stay in the record; ``metadata.composite`` derives the few the columns use.
- ``-fast``: do not scan past the metadata for trailers. ``-fast2`` is NOT used: it stops
  at the ``mdat`` atom of MP4 / MOV / HEIC files and so loses every location and date
  stored in a ``moov`` after the media data (most phone videos, HEICs with Exif at the
  end), and it skips maker notes; the corpus tests show both.
- ``--sort``: print tags in the order they were found. With ``-G1`` ExifTool otherwise
  sorts every file's tags by group, looking up each tag's group again and again, time
  spent for the same record (a JSON object; the corpus gives equal dicts).
- ``-api LargeFileSupport=1``: read past 2 GB atoms in long videos (costs nothing
  measurable on small files, so it is not worth deciding per file).

The ``System:`` tags (file name, dates, permissions) describe our temporary copy, not the
evidence; ``metadata.store`` leaves them out of the stored record (excluding them with
``--System:all`` costs ExifTool more time than it saves).

Payloads reach ExifTool as temporary files, so it seeks over the media data of a video
instead of reading it.

A process that dies (a crash, the OOM killer) or says nothing for ``file_timeout`` seconds
(default ``FILE_SECONDS``) is killed and replaced and the files of its batch are retried
one by one, each with that time limit; a file that fails or hangs alone gets an
``ExifTool:Error`` record. One file that hangs ExifTool costs about twice the limit (its
batch, then itself), not minutes. pyexiftool 0.5.6 would spin for ever on a closed pipe,
so its pipe reader is replaced by ``_read_until`` (same contract, plus those two checks).

A tag value longer than ``MAX_VALUE_CHARS`` (a 100 MB comment, an embedded blob ExifTool
prints as text) is cut to that length and marked: the record gains
``Lifeboat:Truncated`` (the tags cut, with their full lengths), so nothing reads as whole
that is not.
"""

from __future__ import annotations

import os
import queue
import select
import shutil
import subprocess
import threading
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Sequence

import exiftool
from exiftool.exceptions import ExifToolException, ExifToolVersionError

from metadata.exceptions import ExifToolMissing, ExifToolNotStarting, ExifToolTooOld

MINIMUM_VERSION = "12.24"  # CVE-2021-22204: older versions run code from crafted DjVu data
EXIFTOOL_ARGS = ("-G1", "-a", "-n", "-e", "-fast", "--sort", "-api", "LargeFileSupport=1")
FILE_SECONDS = 10.0  # default per-file time limit: no output for this long, ExifTool is stuck
START_SECONDS = 120.0  # Perl loading ExifTool on a busy machine: not bound by the file limit
MAX_VALUE_CHARS = 64 * 1024  # longer tag values are cut and marked (Lifeboat:Truncated)
TRUNCATED = "Lifeboat:Truncated"
_limit = threading.local()  # the time limit of the batch this thread is reading

Record = dict[str, Any]


class ExifToolStalled(OSError):
    """ExifTool closed its output or said nothing for its time limit during a batch."""


def _read_until(fd: int, ending: bytes, block_size: int) -> bytes:
    """Read ``fd`` until its output, stripped, ends with ``ending`` (pyexiftool's contract)."""
    chunks: list[bytes] = []
    tail = b""
    seconds = getattr(_limit, "seconds", FILE_SECONDS)
    while not tail.strip().endswith(ending):
        ready, _, _ = select.select([fd], [], [], seconds)
        if not ready:
            raise ExifToolStalled(f"ExifTool said nothing for {seconds:g} s")
        block = os.read(fd, block_size)
        if not block:
            raise ExifToolStalled("ExifTool exited in the middle of a batch")
        chunks.append(block)
        tail = (tail + block)[-(len(ending) + 8):]
    return b"".join(chunks)


exiftool.exiftool._read_fd_endswith = _read_until  # see the module docstring


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.strip().split(".") if part.isdigit())


def check_exiftool(executable: str = "exiftool") -> str:
    """ExifTool's version; raises ExifToolMissing / ExifToolTooOld with the fix."""
    path = shutil.which(executable)
    if path is None:
        raise ExifToolMissing(executable)
    try:
        result = subprocess.run([path, "-ver"], capture_output=True, text=True, timeout=60)
    except OSError as exc:
        raise ExifToolMissing(executable) from exc
    version = result.stdout.strip()
    if result.returncode != 0 or not _version_tuple(version):
        raise ExifToolMissing(f"{executable} (it printed {version or result.stderr!r})")
    return require_safe_version(version)


def require_safe_version(version: str) -> str:
    """``version`` if it is at least MINIMUM_VERSION, else ExifToolTooOld."""
    if _version_tuple(version) < _version_tuple(MINIMUM_VERSION):
        raise ExifToolTooOld(version, MINIMUM_VERSION)
    return version


def default_workers() -> int:
    """One ExifTool process per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class ExifToolPool:
    """``workers`` stay-open ExifTool processes; ``submit(paths)`` reads one batch on one.

    Use as a context manager. Each result is one record per path, in order; a file that
    ExifTool could not report on gets a record with ``ExifTool:Error``.
    """

    def __init__(self, workers: int | None = None, executable: str = "exiftool",
                 args: Sequence[str] = EXIFTOOL_ARGS, file_timeout: float = FILE_SECONDS,
                 max_value_chars: int = MAX_VALUE_CHARS) -> None:
        if shutil.which(executable) is None:
            raise ExifToolMissing(executable)
        self.workers = workers or default_workers()
        self.file_timeout = file_timeout
        self.max_value_chars = max_value_chars
        self.version = ""
        self._executable = executable
        self._args = list(args)
        self.command = " ".join(self._args)  # ExifTool's options, as the records note them
        self._idle: queue.Queue[exiftool.ExifTool] = queue.Queue()
        self._all: list[exiftool.ExifTool] = []
        self._threads = ThreadPoolExecutor(self.workers, thread_name_prefix="exiftool")

    def __enter__(self) -> "ExifToolPool":
        """Start the processes side by side and refuse an unsafe ExifTool before any file is read.

        pyexiftool has the kernel stop a process when the thread that started it ends, so
        each is started by a thread that lives as long as the pool: this one, or one of
        the pool's worker threads (they end in ``__exit__``). Perl's start-ups overlap.
        """
        try:
            others = [self._threads.submit(self._start) for _ in range(self.workers - 1)]
            started = [self._start(), *(future.result() for future in others)]
            self.version = require_safe_version(started[0].version)
        except BaseException:
            self.__exit__()
            raise
        for process in started:
            self._idle.put(process)
        return self

    def __exit__(self, *exc: object) -> None:
        self._threads.shutdown(wait=True, cancel_futures=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "died": its worker thread ended
            for process in self._all:
                if process.running:
                    process.terminate()

    def _start(self) -> exiftool.ExifTool:
        process = exiftool.ExifTool(self._executable, common_args=self._args, encoding="utf-8")
        _limit.seconds = START_SECONDS
        try:
            process.run()
        except ExifToolVersionError as exc:  # pyexiftool itself needs 12.15+
            raise ExifToolTooOld("< 12.15", MINIMUM_VERSION) from exc
        except ExifToolStalled as exc:
            kill(process)
            raise ExifToolNotStarting(self._executable, START_SECONDS) from exc
        process.block_size = 1 << 16
        self._all.append(process)
        return process

    def submit(self, paths: Sequence[str]) -> "Future[list[Record]]":
        """Queue a batch; the future gives one record per path."""
        return self._threads.submit(self._run_batch, list(paths))

    def read(self, paths: Sequence[str]) -> list[Record]:
        """Read a batch now (blocking)."""
        return self.submit(paths).result()

    def _run_batch(self, paths: list[str]) -> list[Record]:
        process = self._idle.get()
        try:
            process, by_path, died = self._attempt(process, paths)
            missing = [p for p in paths if p not in by_path]
            if missing and (len(paths) > 1 or died):  # isolate whatever upset the batch
                for path in dict.fromkeys(missing):
                    process, found, _ = self._attempt(process, [path])
                    by_path.update(found)
            return [truncate_values(by_path[p], self.max_value_chars) if p in by_path else
                    {"SourceFile": p, "ExifTool:Error":
                     f"ExifTool gave no output for this file (it died, or said nothing "
                     f"for {self.file_timeout:g} s)"} for p in paths]
        finally:
            self._idle.put(process)

    def _attempt(self, process: exiftool.ExifTool,
                 paths: list[str]) -> tuple[exiftool.ExifTool, dict[str, Record], bool]:
        """Read ``paths``; a process that died or stalled is replaced by a fresh one."""
        _limit.seconds = self.file_timeout
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "ExifTool ... died": handled here
            try:
                records = process.execute_json(*paths)
            except (ExifToolException, ValueError, OSError) as exc:
                records = []  # no output at all (a single missing file), or a dead process
                stalled = isinstance(exc, ExifToolStalled)
            else:
                stalled = False
            if stalled:
                kill(process)
            if stalled or not process.running:
                return self._start(), {}, True
        return process, {r.get("SourceFile"): r for r in records if isinstance(r, dict)}, False


def kill(process: exiftool.ExifTool) -> None:
    """Stop a stuck ExifTool at once (a polite ``-stay_open False`` would wait for it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "ExifTool ... died"
        if process.running:
            process._process.kill()
            process.terminate(timeout=1)


def truncate_values(record: Record, limit: int) -> Record:
    """``record`` with every string value over ``limit`` characters cut to ``limit`` and
    listed in ``Lifeboat:Truncated`` ({tag: its full length}); lists are cut item by item."""
    cut: dict[str, int] = {}

    def shorten(tag: str, value: Any) -> Any:
        if isinstance(value, str) and len(value) > limit:
            cut[tag] = max(cut.get(tag, 0), len(value))
            return value[:limit]
        if isinstance(value, list):
            return [shorten(tag, item) for item in value]
        return value

    out = {tag: shorten(tag, value) for tag, value in record.items()}
    if cut:
        out[TRUNCATED] = cut
    return out
