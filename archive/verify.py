"""`lifeboat verify DIR`: re-read every WARC and check the job's database against it.

Three layers of checks, each problem named with its WARC file and offset:

1. every record of every WARC is read with warcio: block and payload digests, length,
   parseable bytes (``archive.scan``); no WARC-Record-ID appears twice;
2. every ``captures`` row points at an existing record (file, offset, record id, length,
   URL) whose payload SHA-256 matches, a revisit through the record it refers to; every
   ``posts`` and ``media`` row has its capture, and a media row's SHA-256 is its payload's;
3. the ledger: every ID in exactly one state, and that state terminal (archived, missing,
   deleted, forbidden, failed), and agreeing with the ``posts`` table;
4. the seals in ``DIR/seals/`` (``archive.seal``): manifest hashes against the files, each
   time-stamp token against its manifest and its signature.

DIR is a job directory (``warc/`` + ``archive.db``) or any directory of WARC files from any
tool (``*.warc``, ``*.warc.gz``, ``*.arc``, ``*.arc.gz``), which gets the WARC checks only.
"""

from __future__ import annotations

import os
import re
import sqlite3
import tomllib
from collections import Counter
from contextlib import closing, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from tqdm import tqdm

from archive.exceptions import ArchiveError
from archive.job import read_job_toml
from archive.reader import clean_target_uri
from archive.scan import Damage, ScannedRecord, scan_warc
from archive.schema import DB_NAME, LEDGER_STATES, LedgerState, integrity_problems, is_damage

WARC_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz")
PROGRESS_MIN_BYTES = 64 << 20
URL_PARTS = re.compile(r"[/?&=#.;,]")


class NothingToVerify(ArchiveError):
    """No WARC files and no archive.db here: give a job directory or a folder of WARCs."""

    def __init__(self, job_dir: Path) -> None:
        super().__init__(f"{job_dir}: {self.__doc__}")


@dataclass(frozen=True)
class Problem:
    """One thing wrong; ``filename``/``offset`` say where in which WARC, when known."""

    message: str
    filename: str | None = None
    offset: int | None = None

    def where(self, root: Path) -> str:
        if self.filename is None:
            return "archive.db"
        name = _relative(self.filename, root)
        return name if self.offset is None else f"{name} @ offset {self.offset}"


@dataclass
class VerifyReport:
    """What was checked, and what is wrong."""

    job_dir: Path
    warc_files: int = 0
    warc_bytes: int = 0
    record_types: Counter = field(default_factory=Counter)
    digests_passed: int = 0
    digests_failed: int = 0
    captures: int = 0
    posts: int = 0
    media: int = 0
    ledger_states: Counter = field(default_factory=Counter)
    has_db: bool = False
    problems: list[Problem] = field(default_factory=list)
    seals: list = field(default_factory=list)  # archive.seal.SealCheck, one per manifest
    unsealed: list[str] = field(default_factory=list)  # WARC files in no manifest (if any)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_job(job_dir: Path, progress: bool | None = None,
               tsa_ca: Path | None = None) -> VerifyReport:
    """Run every check on ``job_dir``; ``progress`` None shows a bar on big archives;
    ``tsa_ca`` holds the CA certificates the seals' TSAs must chain to."""
    job_dir = Path(job_dir)
    db_path = job_dir / DB_NAME
    report = VerifyReport(job_dir=job_dir, has_db=db_path.is_file())
    with closing(open_readonly(db_path)) if report.has_db else nullcontext() as db:
        damage = integrity_problems(db, full=True) if db is not None else []
        report.problems += [Problem(f"SQLite integrity check: {line}") for line in damage]
        readable = db if db is not None and not damage else None
        files = find_warcs(job_dir, _capture_files(readable, job_dir) if readable else ())
        if not files and db is None:
            raise NothingToVerify(job_dir)
        index = _scan_files(files, report, progress)
        if readable is not None:
            try:
                _check_db(readable, job_dir, index, report)
            except sqlite3.DatabaseError as exc:  # damage the check did not reach
                if not is_damage(exc):
                    raise
                report.problems.append(Problem(f"cannot be read to the end ({exc}): the "
                                               "database checks stopped there"))
    _check_seals(job_dir, files, tsa_ca, report)
    return report


def find_warcs(job_dir: Path, extra: Iterable[Path] = ()) -> list[Path]:
    """WARC files of a job (DIR/warc/, else DIR itself), plus ``extra`` ones that exist."""
    folder = job_dir / "warc" if (job_dir / "warc").is_dir() else job_dir
    listing = sorted(folder.iterdir()) if folder.is_dir() else []
    found = [p for p in listing if p.is_file() and p.name.endswith(WARC_SUFFIXES)]
    seen = {p.resolve() for p in found}
    for path in extra:
        if path.resolve() not in seen and path.is_file():
            found.append(path)
            seen.add(path.resolve())
    return found


def format_report(report: VerifyReport) -> str:
    """The summary and the list of problems, as printed by ``lifeboat verify``."""
    types = ", ".join(f"{n} {t}" for t, n in report.record_types.most_common())
    lines = [
        f"WARC files: {report.warc_files} ({report.warc_bytes / 1e6:.1f} MB), "
        f"records: {sum(report.record_types.values())}" + (f" ({types})" if types else ""),
        f"digests: {report.digests_passed} passed, {report.digests_failed} failed",
    ]
    if report.has_db:
        states = ", ".join(f"{n} {s}" for s, n in sorted(report.ledger_states.items()))
        lines.append(f"database: {report.captures} captures, {report.posts} posts, "
                     f"{report.media} media checked against the WARCs")
        lines.append(f"ledger: {sum(report.ledger_states.values())} IDs"
                     + (f" ({states})" if states else ""))
    else:
        lines.append("database: none (no archive.db); WARC checks only")
    lines += _seal_lines(report)
    located = sorted((p for p in report.problems if p.filename is not None),
                     key=lambda p: (p.filename, p.offset if p.offset is not None else -1))
    for problem in located + [p for p in report.problems if p.filename is None]:
        lines.append(f"PROBLEM {problem.where(report.job_dir)}: {problem.message}")
    lines.append(f"{len(report.problems)} problem(s) found" if report.problems
                 else "OK: no problems found")
    return "\n".join(lines)


# -- WARC layer ------------------------------------------------------------------------

class RecordIndex:
    """The records a database can point at (response, revisit, resource), by WARC-Record-ID
    and by (file, offset); only the IDs of the others (requests, warcinfo, metadata), to
    keep memory small on archives of millions of records."""

    KEPT = ("response", "revisit", "resource")

    def __init__(self, root: Path) -> None:
        self.root = root  # file names in messages are relative to it
        self.by_id: dict[str, ScannedRecord] = {}
        self.other_ids: set[str] = set()
        self.by_position: dict[str, dict[int, ScannedRecord]] = {}
        self.concurrent: list[tuple[str, str, int]] = []  # (named id, file, offset) unseen yet

    def add(self, item: ScannedRecord) -> str | None:
        """Index one record; return a problem message if its WARC-Record-ID was seen."""
        rid = item.record_id
        seen = self.known(rid) if rid else False
        if item.warc_type in self.KEPT or not rid:
            self.by_position.setdefault(os.path.realpath(item.filename), {})[item.offset] = item
            if rid and not seen:
                self.by_id[rid] = item
        elif rid:
            self.other_ids.add(rid)
        if item.concurrent_to and not self.known(item.concurrent_to):
            self.concurrent.append((item.concurrent_to, item.filename, item.offset))
        if not seen:
            return None
        first = self.by_id.get(rid)
        where = f" (at {_relative(first.filename, self.root)} @ offset {first.offset})" \
            if first else ""
        return f"WARC-Record-ID {rid} is used by another record too{where}"

    def known(self, record_id: str | None) -> bool:
        return record_id in self.by_id or record_id in self.other_ids

    def at(self, path: str | Path, offset: int) -> ScannedRecord | None:
        return self.by_position.get(os.path.realpath(path), {}).get(offset)

    def dangling(self) -> list[Problem]:
        """Records whose WARC-Concurrent-To names a record found nowhere."""
        return [Problem(f"WARC-Concurrent-To names {named}, which is in no WARC here "
                        "(record deleted?)", filename, offset)
                for named, filename, offset in self.concurrent if not self.known(named)]


def _scan_files(files: list[Path], report: VerifyReport, progress: bool | None) -> RecordIndex:
    """Scan every file into a RecordIndex, counting records and collecting problems."""
    sizes = [f.stat().st_size for f in files]
    report.warc_files, report.warc_bytes = len(files), sum(sizes)
    show = report.warc_bytes >= PROGRESS_MIN_BYTES if progress is None else progress
    index = RecordIndex(report.job_dir)
    with tqdm(total=report.warc_bytes, unit="B", unit_scale=True, desc="verify",
              disable=not show) as bar:
        done = 0
        for path, size in zip(files, sizes):
            for item in scan_warc(path, progress=lambda n: bar.update(done + n - bar.n)):
                if isinstance(item, Damage):
                    report.problems.append(Problem(item.message, str(path), item.offset))
                    continue
                _count_record(item, report)
                repeated = index.add(item)
                if repeated:
                    report.problems.append(Problem(repeated, str(path), item.offset))
            done += size
    report.problems.extend(index.dangling())
    return index


def _count_record(item: ScannedRecord, report: VerifyReport) -> None:
    report.record_types[item.warc_type] += 1
    if item.digests_ok is True:
        report.digests_passed += 1
    elif item.digests_ok is False:
        report.digests_failed += 1


# -- database layer --------------------------------------------------------------------

def _check_db(db: sqlite3.Connection, job_dir: Path, index: RecordIndex,
              report: VerifyReport) -> None:
    known, payloads = _check_captures(db, job_dir, index, report)
    _check_posts(db, known, report)
    _check_media(db, known, payloads, report)
    _check_ledger(db, report)


def _check_captures(db, job_dir, index: RecordIndex, report
                    ) -> tuple[set[int], dict[int, tuple[set[str], dict]]]:
    """Check each capture row; return the capture ids, and capture id -> (its payload's
    SHA-256 values, place)."""
    known: set[int] = set()
    payloads: dict[int, tuple[set[str], dict]] = {}
    if not _has_table(db, "captures"):
        return known, payloads
    columns = _columns(db, "captures")
    select = ", ".join(c if c in columns else f"NULL AS {c}" for c in (
        "id", "url", "warc_filename", "warc_offset", "warc_length", "warc_record_id",
        "payload_sha256", "warc_type", "refers_to"))
    for row in db.execute(f"SELECT {select} FROM captures ORDER BY warc_filename, warc_offset"):
        report.captures += 1
        known.add(row["id"])
        problems, hashes, where = _check_capture(row, job_dir, index)
        report.problems.extend(problems)
        if hashes:
            payloads[row["id"]] = hashes, where
    return known, payloads


def _check_capture(row: sqlite3.Row, job_dir: Path, index: RecordIndex
                   ) -> tuple[list[Problem], set[str], dict]:
    """Problems of one capture row, the SHA-256 values of its payload, and its place."""
    label = f"capture {row['id']} ({row['url']})"
    path = _resolve_warc(job_dir, row["warc_filename"])
    where = dict(filename=str(path or row["warc_filename"]), offset=row["warc_offset"])
    if path is None:
        return [Problem(f"{label}: WARC file {row['warc_filename']} does not exist",
                        **where)], set(), where
    rid = row["warc_record_id"]
    record = index.by_id.get(rid) if rid else index.at(path, row["warc_offset"])
    if record is None:
        return [Problem(f"{label}: record {row['warc_record_id'] or ''} is in no WARC "
                        "(deleted, or unreadable: see the problems above)", **where)], set(), where
    if index.at(path, row["warc_offset"]) is not record:
        return [Problem(f"{label}: record {record.record_id} is not at this offset but at "
                        f"{_relative(record.filename, job_dir)} @ offset {record.offset} "
                        "(bytes before it were removed or added)", **where)], set(), where
    problems = [Problem(f"{label}: {message}", **where)
                for message in _record_mismatches(row, record)]
    source = record
    if (row["warc_type"] or record.warc_type) == "revisit":
        original_id = row["refers_to"] or record.refers_to
        source = index.by_id.get(original_id)
        if source is None:
            problems.append(Problem(f"{label}: revisit refers to record {original_id}, "
                                    "which is in no WARC of this job", **where))
            return problems, set(), where
    hashes = {source.payload_sha256, source.decoded_sha256} - {None}
    if row["payload_sha256"] not in hashes:
        problems.append(Problem(
            f"{label}: payload SHA-256 is {source.payload_sha256} in the WARC, "
            f"{row['payload_sha256']} in the database", **where))
    return problems, hashes, where


def _record_mismatches(row: sqlite3.Row, record: ScannedRecord) -> Iterator[str]:
    """How the record found at a capture's offset differs from what the row says."""
    if row["warc_length"] is not None and row["warc_length"] != record.length \
            and not record.damaged:
        yield f"the record is {record.length} bytes long, not {row['warc_length']}"
    target = clean_target_uri(record.target_uri)
    if row["url"] and target and row["url"] != target:
        yield f"the record's WARC-Target-URI is {record.target_uri}"
    if row["warc_type"] and row["warc_type"] != record.warc_type:
        yield f"the record is a {record.warc_type} record, not {row['warc_type']}"
    if row["refers_to"] and record.refers_to and row["refers_to"] != record.refers_to:
        yield f"the revisit refers to {record.refers_to}, not {row['refers_to']}"


def _has_capture(row: sqlite3.Row, known: set[int], label: str, report: VerifyReport) -> bool:
    """Whether the row's capture_id names a capture; a problem is reported if not."""
    if row["capture_id"] is not None and row["capture_id"] in known:
        return True
    report.problems.append(Problem(f"{label} has no capture (capture_id {row['capture_id']})"))
    return False


def _check_posts(db, known: set[int], report: VerifyReport) -> None:
    if not _has_table(db, "posts"):
        return
    for row in db.execute("SELECT id, url, capture_id FROM posts"):
        report.posts += 1
        _has_capture(row, known, f"post {row['id']} ({row['url']})", report)


def _check_media(db, known: set[int], payloads: dict[int, tuple[set[str], dict]],
                 report: VerifyReport) -> None:
    if not _has_table(db, "media"):
        return
    # a URL that redirected to one still to be fetched (its ledger row says so) has no
    # payload yet: its row is filled in when that URL is archived (archive.store)
    waiting = "final_url IS NOT NULL AND capture_id IS NULL" if "final_url" in {
        r[1] for r in db.execute("PRAGMA table_info(media)")} else "0"
    for row in db.execute(f"SELECT url, sha256, capture_id FROM media WHERE NOT ({waiting})"):
        report.media += 1
        if not _has_capture(row, known, f"media {row['url']}", report) \
                or row["capture_id"] not in payloads:
            continue
        hashes, where = payloads[row["capture_id"]]
        if row["sha256"] not in hashes:
            report.problems.append(Problem(
                f"media {row['url']}: sha256 {row['sha256']} is not the SHA-256 of the "
                f"payload of its capture {row['capture_id']}", **where))


def _check_ledger(db, report: VerifyReport) -> None:
    """Every ID in one terminal state, agreeing with the posts table."""
    if not _has_table(db, "ledger"):
        return
    for row in db.execute("SELECT state, COUNT(*) AS n FROM ledger GROUP BY state"):
        report.ledger_states[row["state"]] = row["n"]
    states = ", ".join(LEDGER_STATES)
    for row in db.execute(
            f"SELECT profile, item_type, id, state FROM ledger WHERE state IS NULL "
            f"OR state NOT IN ({', '.join('?' * len(LEDGER_STATES))})", LEDGER_STATES):
        report.problems.append(Problem(
            f"ledger: {row['item_type']} {row['id']} ({row['profile']}) is in state "
            f"{row['state']!r}, not a terminal state ({states}); if the crawl was "
            "interrupted, run the same `lifeboat crawl` again to finish it"))
    for row in db.execute(
            "SELECT profile, item_type, id, GROUP_CONCAT(DISTINCT state) AS states "
            "FROM ledger GROUP BY profile, item_type, id HAVING COUNT(DISTINCT state) > 1"):
        report.problems.append(Problem(
            f"ledger: {row['item_type']} {row['id']} ({row['profile']}) is in two states: "
            f"{row['states']}"))
    if _has_table(db, "posts"):
        _check_ledger_against_posts(db, _post_item_types(report.job_dir), report)


def _post_item_types(job_dir: Path) -> dict[str, str]:
    """The profile's item types stored in the posts table and their URL templates (from
    job.toml; else "post" with no template)."""
    try:
        settings = read_job_toml(job_dir) or {}
        items = tomllib.loads(settings.get("profile_text", "")).get("items", {})
    except (OSError, ValueError):
        items = {}
    return {name: str(spec.get("url", "")) for name, spec in items.items()
            if spec.get("table") == "posts"} or {"post": ""}


def _url_is_for(url: str, template: str, item_id: str) -> bool:
    """Whether ``url`` is the URL ``template`` gives for ``item_id`` (any ${VAR} values);
    without a template, whether the URL carries the ID at all."""
    if not template:
        return item_id in URL_PARTS.split(url)
    pattern = re.sub(r"\\\$\\\{\w+\\\}", ".*", re.escape(template))
    return re.fullmatch(pattern.replace(re.escape("{id}"), re.escape(item_id)), url) is not None


def _check_ledger_against_posts(db, item_types: dict[str, str], report: VerifyReport) -> None:
    """An ID whose post is in the posts table is archived (or deleted, if flagged) there.

    A posts row belongs to a ledger ID when the post's id is that ID and its URL is the item
    type's URL for it (so a walked ID and an unrelated post numbered alike, or the same
    number walked as two item types, are not confused)."""
    marks = ", ".join("?" * len(item_types))
    query = f"""
        SELECT l.item_type, l.id, l.state, p.url, p.deleted, c.warc_filename, c.warc_offset
        FROM ledger l JOIN posts p ON p.id = l.id AND coalesce(p.profile, l.profile) = l.profile
        LEFT JOIN captures c ON c.id = p.capture_id
        WHERE l.item_type IN ({marks})"""
    for row in db.execute(query, list(item_types)):
        if not _url_is_for(row["url"] or "", item_types[row["item_type"]], row["id"]):
            continue
        expected = LedgerState.DELETED if row["deleted"] else LedgerState.ARCHIVED
        if row["state"] != expected:
            path = _resolve_warc(report.job_dir, row["warc_filename"])
            where = {"filename": str(path), "offset": row["warc_offset"]} if path else {}
            report.problems.append(Problem(
                f"ledger: {row['item_type']} {row['id']} is {row['state']} in the ledger but "
                f"{expected} in the posts table (an ID in two states)", **where))


# -- seals -----------------------------------------------------------------------------

def _check_seals(job_dir: Path, files: list[Path], tsa_ca: Path | None,
                 report: VerifyReport) -> None:
    from archive.seal import check_seals

    report.seals = check_seals(job_dir, tsa_ca)
    if not report.seals:
        return
    covered = {name for check in report.seals for name in check.files}
    warc_dir = job_dir / "warc"
    report.unsealed = [p.name for p in files if p.parent.resolve() == warc_dir.resolve()
                       and p.name not in covered]
    for check in report.seals:
        for message, warc_name in check.problems:
            report.problems.append(Problem(f"seal: {message}", str(check.manifest)))


def _seal_lines(report: VerifyReport) -> list[str]:
    """One line per seal (its files and each token's time), as printed by verify."""
    if not report.seals:
        return []
    lines = [f"seals: {len(report.seals)} manifest(s) in seals/"]
    for check in report.seals:
        name = _relative(str(check.manifest), report.job_dir)
        status = "problems below" if check.problems else "hashes match"
        lines.append(f"seal {name}: {len(check.files)} WARC file(s), {status}")
        for token_file, token, trusted in check.tokens:
            how = "signature checked against --tsa-ca" if trusted else \
                "token intact (its signer not checked: give --tsa-ca FILE)"
            lines.append(f"  {token_file.name}: time-stamped {token.time_text} "
                         f"by {token.tsa_name}; {how}")
        if not check.tokens and not check.queued and not check.problems:
            lines.append("  no time-stamp token")
        if check.queued:
            lines.append(f"  {check.queued} token(s) still queued: run `lifeboat seal "
                         f"{report.job_dir}` to ask the TSA again")
    if report.unsealed:
        lines.append(f"not in any seal: {len(report.unsealed)} WARC file(s) "
                     f"({', '.join(report.unsealed[:5])}"
                     + (", ..." if len(report.unsealed) > 5 else "") + ")")
    return lines


# -- helpers ---------------------------------------------------------------------------

def open_readonly(path: Path) -> sqlite3.Connection:
    """``path`` opened read-only, rows as ``sqlite3.Row``."""
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    return db


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                      (name,)).fetchone() is not None


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def _capture_files(db: sqlite3.Connection, job_dir: Path) -> list[Path]:
    """WARC files the captures name that exist (other tools' WARCs may live elsewhere)."""
    if not _has_table(db, "captures"):
        return []
    names = [row[0] for row in db.execute("SELECT DISTINCT warc_filename FROM captures")]
    return [p for p in (_resolve_warc(job_dir, n) for n in names if n) if p is not None]


def _resolve_warc(job_dir: Path, name: str | None) -> Path | None:
    """The file a captures.warc_filename names: under DIR/warc/, DIR/, or as given."""
    if not name:
        return None
    for candidate in (job_dir / "warc" / name, job_dir / name, Path(name)):
        if candidate.is_file():
            return candidate
    return None


def _relative(filename: str, root: Path) -> str:
    try:
        return str(Path(filename).resolve().relative_to(root.resolve()))
    except ValueError:
        return filename
