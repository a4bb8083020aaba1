"""Seals: a job's WARC files hashed into a manifest, and the manifest time-stamped (RFC 3161).

``DIR/seals/<name>.manifest`` is in ``sha256sum`` format (``<hex>  <file>``, names relative
to ``DIR/warc/``); beside it ``<name>.manifest.tsr`` is the time-stamp reply of the first
TSA, ``<name>.manifest.2.tsr`` the second's, and so on. Both check without lifeboat::

    cd DIR/warc && sha256sum -c ../seals/<name>.manifest
    openssl ts -verify -data DIR/seals/<name>.manifest -in DIR/seals/<name>.manifest.tsr \\
        -CAfile tsa-ca.pem

A token that could not be had (TSA unreachable, refusing) is queued in
``seals/pending.jsonl`` before it is asked for, and asked again by the next seal, the next
crawl run or ``lifeboat seal DIR``; ``seals/seals.log`` records every attempt.
``lifeboat crawl --tsa URL`` seals each WARC file as it is closed (``WarcSealer``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import queue
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from archive.exceptions import ArchiveError
from archive.tsa import (TIMEOUT, Token, TsaError, check_token, load_ca_file, read_token,
                         request_token)

SEALS = "seals"
PENDING = "pending.jsonl"
LOG = "seals.log"
MANIFEST_LINE = re.compile(r"^(?P<hash>[0-9a-fA-F]{64}) [ *](?P<name>.+)$")
CHUNK = 1 << 20
CRAWL_TIMEOUT = 10.0  # seconds a crawl's sealer waits for a TSA (then the token is queued)
RETRY = "retry"  # WarcSealer's queue item: ask again for queued tokens


class SealError(ArchiveError):
    """Sealing cannot start; the message says what to do."""


@dataclass
class SealResult:
    """One manifest written and what its TSAs answered."""

    manifest: Path
    files: int
    tokens: list[tuple[Path, Token]] = field(default_factory=list)
    queued: list[tuple[str, str]] = field(default_factory=list)  # (TSA URL, why)


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_bytes(warc_dir: Path, files: list[Path]) -> bytes:
    """``sha256sum`` lines for ``files``, named relative to ``warc_dir``."""
    lines = []
    for path in files:
        name = path.resolve().relative_to(warc_dir.resolve()).as_posix()
        if "\n" in name or "\\" in name:
            raise SealError(f"{name!r}: rename the file (sha256sum escapes newlines and "
                            "backslashes, which lifeboat's manifests do not)")
        lines.append(f"{file_sha256(path)}  {name}\n")
    return "".join(lines).encode("utf-8")


def token_path(manifest: Path, index: int) -> Path:
    """The token of the ``index``-th TSA (0-based): X.manifest.tsr, X.manifest.2.tsr, ..."""
    return manifest.with_name(manifest.name + (".tsr" if index == 0 else f".{index + 1}.tsr"))


def warc_stem(path: Path) -> str:
    """A WARC file's name without ``.warc.gz`` / ``.warc``: its crawl-time seal's name."""
    return path.name.removesuffix(".gz").removesuffix(".warc")


def tokens_of(manifest: Path) -> list[Path]:
    """The token files beside ``manifest`` (see ``token_path``), first TSA first."""
    pattern = re.compile(re.escape(manifest.name) + r"(?:\.(\d+))?\.tsr$")
    found = [(int(m[1] or 1), p) for p in manifest.parent.iterdir()
             if (m := pattern.match(p.name))]
    return [p for _, p in sorted(found)]


def _write_atomic(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(partial, path)


class SealBook:
    """The seals/ directory of a job: manifests, tokens, the pending queue and the log.

    Used by one thread of one process at a time (the crawl's sealer, or ``lifeboat seal``
    holding the job's crawl lock)."""

    def __init__(self, job_dir: Path, timeout: float = TIMEOUT):
        self.job_dir = Path(job_dir)
        self.warc_dir = self.job_dir / "warc"
        self.dir = self.job_dir / SEALS
        self.timeout = timeout

    def log(self, manifest: str, tsa: str, outcome: str) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / LOG, "a", encoding="utf-8") as fh:
            fh.write(f"{utc_now()}\t{manifest}\t{tsa}\t{outcome}\n")

    def pending(self) -> list[dict]:
        path = self.dir / PENDING
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()]

    def _save_pending(self, entries: list[dict]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if not entries:
            (self.dir / PENDING).unlink(missing_ok=True)
            return
        _write_atomic(self.dir / PENDING,
                      "".join(json.dumps(e) + "\n" for e in entries).encode("utf-8"))

    def seal(self, files: list[Path], tsas: list[str], name: str) -> SealResult:
        """Write ``<name>.manifest`` over ``files`` and ask each TSA for a token over it;
        tokens not had are queued (written to the queue before they are asked for)."""
        result, entries = self.prepare(files, tsas, name)
        for entry in entries:
            self._attempt(entry, result)
        return result

    def prepare(self, files: list[Path], tsas: list[str], name: str
                ) -> tuple[SealResult, list[dict]]:
        """Write ``<name>.manifest`` over ``files`` and queue a token from each TSA."""
        self.dir.mkdir(parents=True, exist_ok=True)
        manifest = self.dir / f"{name}.manifest"
        if manifest.exists():
            raise SealError(f"{manifest} exists already; seals are never rewritten")
        _write_atomic(manifest, manifest_bytes(self.warc_dir, files))
        entries = [{"manifest": manifest.name, "token": token_path(manifest, i).name,
                    "tsa": url, "queued_at": utc_now(), "attempts": 0, "error": ""}
                   for i, url in enumerate(tsas)]
        self._save_pending(self.pending() + entries)
        return SealResult(manifest=manifest, files=len(files)), entries

    def retry(self) -> list[SealResult]:
        """Ask again for every queued token; the results, one per manifest touched. A TSA
        that fails is not asked again in the same pass (a dead one costs one timeout)."""
        results: dict[str, SealResult] = {}
        failed: set[str] = set()
        for entry in self.pending():
            manifest = self.dir / entry["manifest"]
            result = results.setdefault(entry["manifest"], SealResult(manifest, 0))
            if not manifest.is_file():
                self._drop(entry)
                self.log(entry["manifest"], entry["tsa"], "dropped: manifest is gone")
                continue
            if entry["tsa"] in failed:
                result.queued.append((entry["tsa"], entry["error"]))
                continue
            if not self._attempt(entry, result):
                failed.add(entry["tsa"])
        return list(results.values())

    def _attempt(self, entry: dict, result: SealResult) -> bool:
        """Ask for one queued token; whether it was had."""
        manifest = self.dir / entry["manifest"]
        token_file = self.dir / entry["token"]
        data = manifest.read_bytes()
        try:
            reply = request_token(entry["tsa"], data, timeout=self.timeout)
            token = read_token(reply)
        except TsaError as exc:
            self._update(entry, attempts=entry["attempts"] + 1, error=str(exc))
            self.log(entry["manifest"], entry["tsa"], f"queued: {exc}")
            result.queued.append((entry["tsa"], str(exc)))
            return False
        _write_atomic(token_file, reply)
        self._drop(entry)
        self.log(entry["manifest"], entry["tsa"],
                 f"sealed: {token_file.name} at {token.time_text} by {token.tsa_name}")
        result.tokens.append((token_file, token))
        return True

    def _update(self, entry: dict, **changes) -> None:
        entries = self.pending()
        for other in entries:
            if (other["manifest"], other["token"]) == (entry["manifest"], entry["token"]):
                other.update(changes)
        entry.update(changes)
        self._save_pending(entries)

    def _drop(self, entry: dict) -> None:
        self._save_pending([e for e in self.pending()
                            if (e["manifest"], e["token"]) != (entry["manifest"], entry["token"])])


# -- crawl-time sealing --------------------------------------------------------------

class WarcSealer:
    """Seals each WARC file a crawl closes, on a thread of its own so that neither hashing
    nor a slow or dead TSA holds the crawl up.

    Made after the job is opened (a torn WARC repaired) and before anything is written: it
    first asks again for the tokens earlier runs queued and seals the job's WARC files that
    no manifest lists yet (a run killed before it could close its last file, or one run
    without --tsa). ``close()`` waits at most ``wait`` seconds; whatever is unfinished then
    is on the queue already (``SealBook.prepare`` queues a token before it is asked for)."""

    def __init__(self, job_dir: Path, tsas: list[str], timeout: float = CRAWL_TIMEOUT):
        from archive.writer import warc_files

        self.book = SealBook(job_dir, timeout)
        self.tsas = list(tsas)
        self.queue: queue.Queue[Path | str | None] = queue.Queue()
        self.sealed: list[SealResult] = []
        self.queue.put(RETRY)
        covered = sealed_names(self.book.dir)
        for path in warc_files(self.book.warc_dir):
            if path.name not in covered:
                self.queue.put(path)
        self.thread = threading.Thread(target=self._run, name="lifeboat-sealer", daemon=True)
        self.thread.start()

    def warc_closed(self, path: Path) -> None:
        """The writer's on-close hook: ``path`` is complete, seal it."""
        self.queue.put(Path(path))

    def _run(self) -> None:
        """Each pass: a manifest (and queued tokens) for every file handed over so far, which
        needs no network, then one request per queued token (``SealBook.retry``)."""
        stopping = False
        while not stopping:
            items = [self.queue.get()]
            while not self.queue.empty():
                items.append(self.queue.get_nowait())
            stopping = None in items
            for item in items:
                if item is None or item == RETRY:
                    continue
                path = Path(item)
                try:
                    result, _ = self.book.prepare([path], self.tsas, warc_stem(path))
                    self.sealed.append(result)
                except (OSError, SealError) as exc:
                    self.book.log(path.name, "", f"error: {exc}")
            try:
                self._merge(self.book.retry())
            except OSError as exc:
                self.book.log("", "", f"error: {exc}")

    def _merge(self, retried: list[SealResult]) -> None:
        """Fold a retry pass into ``sealed``: a manifest's tokens and what is still queued."""
        by_name = {r.manifest.name: r for r in self.sealed}
        for result in retried:
            mine = by_name.get(result.manifest.name)
            if mine is None:
                self.sealed.append(result)
                by_name[result.manifest.name] = result
                continue
            mine.tokens += result.tokens
            mine.queued = result.queued

    def close(self, wait: float = 1.5 * CRAWL_TIMEOUT) -> list[SealResult]:
        """Stop after the files already handed over; what was sealed, and queued."""
        self.queue.put(None)
        self.thread.join(wait)
        return self.sealed


# -- lifeboat seal DIR ---------------------------------------------------------------

@contextmanager
def crawl_lock(job_dir: Path) -> Iterator[None]:
    """Hold the job's crawl lock: no crawl may write a WARC file while it is sealed."""
    lock = open(job_dir / "crawl.lock", "a")
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SealError(f"a crawl is running on {job_dir}: its WARC files are still being "
                            "written. Give the crawl --tsa URL to seal each file as it closes, "
                            "or seal after it ends") from None
        yield
    finally:
        lock.close()


def seal_job(job_dir: Path, tsas: list[str], timeout: float = TIMEOUT
             ) -> tuple[SealResult | None, list[SealResult]]:
    """Retry the queue, then (with ``tsas``) seal every WARC file of the job in one
    manifest named ``<job>-<UTC time>``. Returns (the new seal, the retried ones)."""
    from archive.job import warc_prefix
    from archive.verify import find_warcs

    job_dir = Path(job_dir)
    book = SealBook(job_dir, timeout)
    if not (job_dir / "warc").is_dir():
        raise SealError(f"{job_dir}/warc/ does not exist: give a job directory")
    with crawl_lock(job_dir):
        retried = book.retry()
        if not tsas:
            if not retried:
                raise SealError("nothing is queued: give --tsa URL to seal the job's WARC files")
            return None, retried
        files = find_warcs(job_dir)
        if not files:
            raise SealError(f"{job_dir}/warc/ holds no WARC files to seal")
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
        name, n = f"{warc_prefix(job_dir)}-{stamp}", 1
        while (book.dir / f"{name}.manifest").exists():
            n += 1
            name = f"{warc_prefix(job_dir)}-{stamp}-{n}"
        return book.seal(files, tsas, name), retried


def describe(result: SealResult, job_dir: Path) -> list[str]:
    """Lines that say what a seal got, for the CLI."""
    where = os.path.relpath(result.manifest, job_dir)
    lines = []
    if result.files:
        lines.append(f"sealed {result.files} WARC file(s) in {where}")
    for path, token in result.tokens:
        lines.append(f"  {os.path.relpath(path, job_dir)}: time-stamped "
                     f"{token.time_text} by {token.tsa_name}")
    for url, why in result.queued:
        lines.append(f"  queued for {url} ({why}); `lifeboat seal {job_dir}` retries")
    return lines


# -- verify --------------------------------------------------------------------------

@dataclass
class SealCheck:
    """What ``lifeboat verify`` found for one manifest."""

    manifest: Path
    files: list[str] = field(default_factory=list)
    tokens: list[tuple[Path, Token, bool]] = field(default_factory=list)  # (file, token, trusted)
    problems: list[tuple[str, str | None]] = field(default_factory=list)  # (message, WARC file)
    queued: int = 0


def sealed_names(seals_dir: Path) -> set[str]:
    """The file names listed in any manifest of ``seals_dir``."""
    names: set[str] = set()
    for manifest in seals_dir.glob("*.manifest") if seals_dir.is_dir() else ():
        try:
            text = manifest.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        names.update(m["name"] for line in text.splitlines() if (m := MANIFEST_LINE.match(line)))
    return names


def check_seals(job_dir: Path, ca_file: Path | None = None) -> list[SealCheck]:
    """Check every manifest of ``job_dir/seals/``: each line's hash against the file, each
    token's imprint against the manifest and its signature (against ``ca_file``'s CAs, or
    without one against the certificate it carries)."""
    job_dir = Path(job_dir)
    seals_dir = job_dir / SEALS
    if not seals_dir.is_dir():
        return []
    ca_certs = load_ca_file(ca_file) if ca_file else None
    pending = SealBook(job_dir).pending()
    hashes: dict[Path, str] = {}
    checks = []
    for manifest in sorted(seals_dir.glob("*.manifest")):
        check = SealCheck(manifest)
        check.queued = sum(1 for e in pending if e["manifest"] == manifest.name)
        data = manifest.read_bytes()
        _check_lines(data, job_dir / "warc", check, hashes)
        for token_file in tokens_of(manifest):
            try:
                token = check_token(token_file.read_bytes(), data, ca_certs)
            except TsaError as exc:
                check.problems.append((f"{token_file.name}: {exc}", None))
                continue
            check.tokens.append((token_file, token, ca_certs is not None))
        checks.append(check)
    return checks


def _check_lines(data: bytes, warc_dir: Path, check: SealCheck, hashes: dict[Path, str]) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        check.problems.append(("the manifest is not UTF-8 text (altered?)", None))
        return
    for number, line in enumerate(text.splitlines(), 1):
        match = MANIFEST_LINE.match(line)
        if not match:
            check.problems.append((f"line {number} is not a sha256sum line: {line[:80]!r}",
                                   None))
            continue
        name = match["name"]
        check.files.append(name)
        path = warc_dir / name
        if not path.is_file():
            check.problems.append((f"line {number}: {name} does not exist in warc/", name))
            continue
        if path not in hashes:
            hashes[path] = file_sha256(path)
        if hashes[path] != match["hash"].lower():
            check.problems.append((f"line {number}: {name} has SHA-256 {hashes[path]}, the "
                                   f"manifest says {match['hash']} (file or manifest altered)",
                                   name))


def seals_for_warc(job_dir: Path, warc_name: str) -> list[tuple[str, Token | None]]:
    """The manifests that list ``warc_name`` and the time of each token over them (None:
    no token yet). For display: the tokens are read, not checked (``lifeboat verify``)."""
    seals_dir = Path(job_dir) / SEALS
    if not seals_dir.is_dir():
        return []
    found = []
    for manifest in sorted(seals_dir.glob("*.manifest")):
        try:
            names = {m["name"] for line in manifest.read_text(encoding="utf-8").splitlines()
                     if (m := MANIFEST_LINE.match(line))}
        except (OSError, UnicodeDecodeError):
            continue
        if warc_name not in names:
            continue
        tokens = tokens_of(manifest)
        if not tokens:
            found.append((manifest.name, None))
        for token_file in tokens:
            try:
                found.append((manifest.name, read_token(token_file.read_bytes())))
            except (OSError, TsaError):
                found.append((manifest.name, None))
    return found
