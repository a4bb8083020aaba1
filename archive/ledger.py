"""The ledger: which state every walked or discovered ID ended in, and ``lifeboat status``.

Terminal states are ``archived``, ``missing``, ``deleted``, ``forbidden`` and ``failed``
(``archive.schema.LEDGER_STATES``). A discovered item (a user, a media URL) is written as
``queued`` in the same transaction as the item that revealed it, so a crawl killed before
fetching it picks it up on resume. Resuming refetches ``queued`` and ``failed`` IDs and
skips every other ID already in the ledger.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Iterable, Iterator

import sqlite_utils

from archive.coverage import strip_text, walk_coverage
from archive.exceptions import NotAJobDir
from archive.schema import DB_NAME, LEDGER_STATES, QUEUED, LedgerState, open_db

STRIP_WIDTH = 72  # characters of the coverage strip in `lifeboat status`
RETRY_STATES = (QUEUED, LedgerState.FAILED.value)

_INSERT = """
INSERT INTO ledger (profile, item_type, id, state, attempts, last_status, updated_at, reason)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (profile, item_type, id) DO """
_UPSERT = _INSERT + """UPDATE SET
    state = excluded.state, attempts = ledger.attempts + excluded.attempts,
    last_status = excluded.last_status, updated_at = excluded.updated_at,
    reason = excluded.reason
"""
_QUEUE = _INSERT + "NOTHING"


def record_ledger(db: sqlite_utils.Database, rows: list[tuple]) -> None:
    """Upsert terminal rows; attempts add up across runs."""
    db.conn.executemany(_UPSERT, rows)


def record_queued(db: sqlite_utils.Database, rows: list[tuple]) -> None:
    """Insert ``queued`` rows for discovered items not yet in the ledger."""
    db.conn.executemany(_QUEUE, rows)


def known_ids(db: sqlite_utils.Database, profile: str, item_type: str,
              ids: list[str]) -> dict[str, str]:
    """{id: state} for those of ``ids`` that already have a ledger row (of any state)."""
    found: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        found.update(db.execute(
            f"SELECT id, state FROM ledger WHERE profile = ? AND item_type = ? AND id IN ({marks})",
            [profile, item_type, *chunk]))
    return found


# A `failed` ID whose answer came (2xx) but could not be used (malformed or truncated JSON,
# an expression that broke on it) is fetched again by the next runs until it has had this
# many attempts; after that only `lifeboat crawl --retry-failed` fetches it again.
# Failures without a usable answer (5xx after retries, connection errors) are always retried.
GIVE_UP_AFTER = 3
_GIVEN_UP = (f"state = '{LedgerState.FAILED}' AND last_status BETWEEN 200 AND 299 "
             f"AND attempts >= {GIVE_UP_AFTER}")


def resumable(db: sqlite_utils.Database, profile: str, retry_failed: bool = False
              ) -> Iterator[tuple[str, str, str]]:
    """(item_type, id, state) of every ID a resumed crawl must fetch again: queued and
    failed ones, except answers that stayed unusable ``GIVE_UP_AFTER`` times (unless
    ``retry_failed``)."""
    given_up = "" if retry_failed else f" AND NOT ({_GIVEN_UP})"
    yield from db.execute(
        "SELECT item_type, id, state FROM ledger WHERE profile = ? AND state IN (?, ?)"
        f"{given_up} ORDER BY rowid", [profile, *RETRY_STATES])


def given_up_count(db: sqlite_utils.Database) -> int:
    """Failed IDs no longer fetched again without --retry-failed."""
    return db.execute(f"SELECT count(*) FROM ledger WHERE {_GIVEN_UP}").fetchone()[0]


def discovered_keys(db: sqlite_utils.Database, profile: str,
                    item_types: Iterable[str]) -> set[tuple[str, str]]:
    """(item_type, id) of every ledger row of the given (discovered) item types."""
    types = list(item_types)
    if not types:
        return set()
    marks = ",".join("?" * len(types))
    return {(row[0], row[1]) for row in db.execute(
        f"SELECT item_type, id FROM ledger WHERE profile = ? AND item_type IN ({marks})",
        [profile, *types])}


def state_counts(db: sqlite_utils.Database) -> dict[tuple[str, str], dict[str, int]]:
    """{(profile, item_type): {state: count}}."""
    out: dict[tuple[str, str], dict[str, int]] = {}
    for profile, item_type, state, count in db.execute(
            "SELECT profile, item_type, state, count(*) FROM ledger "
            "GROUP BY profile, item_type, state"):
        out.setdefault((profile, item_type), {})[state] = count
    return out


_NUMERIC = "id != '' AND id NOT GLOB '*[^0-9]*'"


IDLE_GAP = 60.0  # seconds without a ledger update that count as idle (jobs without runs)


def last_run_walks(db: sqlite_utils.Database) -> dict[str, tuple[str, str]]:
    """{item type: (first ID, last ID)} of the latest crawl run's walks (the range a rerun
    of the same command resumes), or {} when no run is recorded (merged or older jobs)."""
    if not db["crawl_runs"].exists():
        return {}
    row = db.execute("SELECT walks FROM crawl_runs ORDER BY id DESC LIMIT 1").fetchone()
    walks = json.loads(row[0]) if row and row[0] else []
    return {walk["item_type"]: (walk["first"], walk["last"]) for walk in walks}


def _walk_lines(db: sqlite_utils.Database, profile: str, item_type: str,
                walk: tuple[str, str] | None) -> list[str]:
    """IDs walked of the walk's range (else of the range the ledger spans), IDs not yet
    walked inside it, and the longest runs of missing IDs.

    Only for decimal IDs; computed in SQL so that it stays quick on ten million rows.
    """
    where = f"profile = ? AND item_type = ? AND {_NUMERIC}"
    if walk is not None and walk[0].isdigit() and walk[1].isdigit():
        first, last = sorted((int(walk[0]), int(walk[1])))
        walked = db.execute(
            f"SELECT count(*) FROM ledger WHERE {where} AND state != ? "
            f"AND CAST(id AS INTEGER) BETWEEN ? AND ?",
            [profile, item_type, QUEUED, first, last]).fetchone()[0]
        lines = [f"{profile} {item_type}: IDs {walk[0]}..{walk[1]}: {walked} walked, "
                 f"not yet walked: {last - first + 1 - walked}"]
    else:
        low, high, count, total = db.execute(
            f"SELECT min(CAST(id AS INTEGER)), max(CAST(id AS INTEGER)), count(*), "
            f"(SELECT count(*) FROM ledger WHERE profile = ? AND item_type = ?) "
            f"FROM ledger WHERE {where}", [profile, item_type, profile, item_type]).fetchone()
        if not count or count != total:
            return []
        lines = [f"{profile} {item_type}: IDs {low}..{high} walked; "
                 f"not yet walked between them: {high - low + 1 - count}"]
    gaps = db.execute(
        f"SELECT min(n), max(n), count(*) FROM ("
        f"  SELECT CAST(id AS INTEGER) AS n, CAST(id AS INTEGER) - row_number() "
        f"  OVER (ORDER BY CAST(id AS INTEGER)) AS run FROM ledger "
        f"  WHERE {where} AND state = ?) "
        f"GROUP BY run ORDER BY count(*) DESC, min(n) LIMIT 5",
        [profile, item_type, LedgerState.MISSING.value]).fetchall()
    if gaps:
        lines.append("  largest gaps (missing): " + ", ".join(
            f"{a}-{b} ({n})" if a != b else str(a) for a, b, n in gaps))
    return lines


def summarize(db: sqlite_utils.Database, running: bool = False) -> list[str]:
    """The lines ``lifeboat status`` prints (``running``: a crawl is writing right now)."""
    lines = []
    counts = state_counts(db)
    if not counts:
        return ["the ledger is empty: no ID has been walked yet"]
    order = (*LEDGER_STATES, QUEUED)
    for (profile, item_type), states in sorted(counts.items()):
        total = sum(states.values())
        parts = [f"{s} {states[s]}" for s in order if s in states]
        parts += [f"{s} {n}" for s, n in states.items() if s not in order]
        lines.append(f"{profile} {item_type}: {total} IDs: " + ", ".join(parts))
    walks = last_run_walks(db)
    for (profile, item_type) in sorted(counts):
        if item_type in walks or not walks:
            lines.extend(_walk_lines(db, profile, item_type, walks.get(item_type)))
        coverage = walk_coverage(db.conn, profile, item_type, width=STRIP_WIDTH)
        if coverage is not None:
            lines.extend(strip_text(coverage))
    lines.extend(_rate_lines(db, running))
    failed = db.execute("SELECT item_type, id, last_status, reason FROM ledger "
                        "WHERE state = ? ORDER BY updated_at DESC LIMIT 5",
                        [LedgerState.FAILED]).fetchall()
    for item_type, item_id, status, reason in failed:
        lines.append(f"  failed {item_type} {item_id}: HTTP {status} {reason or ''}".rstrip())
    given_up = given_up_count(db)
    if given_up:
        lines.append(f"  {given_up} failed IDs answered unusably {GIVE_UP_AFTER} times or more "
                     "are no longer fetched again; lifeboat crawl --retry-failed fetches them")
    return lines


def _seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def crawling_seconds(db: sqlite_utils.Database, running: bool = False
                     ) -> tuple[float, int] | None:
    """(seconds spent crawling, runs) from crawl_runs: each run from its start to its end;
    a killed one to its last ledger update, the last one to now if it is ``running``.
    None without recorded runs."""
    if not db["crawl_runs"].exists():
        return None
    runs = db.execute("SELECT started_at, ended_at FROM crawl_runs ORDER BY id").fetchall()
    if not runs:
        return None
    total = 0.0
    for number, (started, ended) in enumerate(runs):
        if ended is None:
            until = runs[number + 1][0] if number + 1 < len(runs) else "9999"
            ended = db.execute("SELECT max(updated_at) FROM ledger WHERE updated_at >= ? "
                               "AND updated_at < ?", [started, until]).fetchone()[0]
            if running and number + 1 == len(runs):
                from archive.job import utc_now

                ended = utc_now()
        if ended is not None:
            total += max(0.0, _seconds(started, ended))
    return total, len(runs)


def _rate_lines(db: sqlite_utils.Database, running: bool) -> list[str]:
    """IDs finished per second of crawling: time between runs (or, for jobs without
    recorded runs, pauses of over ``IDLE_GAP`` s between ledger updates) left out."""
    done = db.execute("SELECT count(*) FROM ledger WHERE state != ?", [QUEUED]).fetchone()[0]
    crawled = crawling_seconds(db, running)
    if crawled is not None:
        seconds, runs = crawled
        how = f"{runs} run{'s' if runs > 1 else ''}" + ("; time between runs left out"
                                                         if runs > 1 else "")
    else:
        seconds = db.execute(
            "SELECT coalesce(sum(gap), 0) FROM (SELECT (julianday(updated_at) - "
            "julianday(lag(updated_at) OVER (ORDER BY updated_at))) * 86400.0 AS gap "
            "FROM ledger WHERE state != ?) WHERE gap <= ?", [QUEUED, IDLE_GAP]).fetchone()[0]
        how = f"pauses over {IDLE_GAP:.0f} s between answers left out"
    if not done or seconds <= 0:
        return []
    return [f"rate: {done / seconds:.1f} IDs/s over {seconds:.0f} s of crawling ({how})"]


def run_state_lines(db: sqlite_utils.Database, job_dir: Path, running: bool) -> list[str]:
    """Whether a crawl is running on ``job_dir`` now, else how the last one ended."""
    last = None
    if db["crawl_runs"].exists():
        last = db.execute("SELECT started_at, outcome, pid FROM crawl_runs "
                          "ORDER BY id DESC LIMIT 1").fetchone()
    if running:
        since = f" (started {last[0]}, pid {last[2]})" if last and last[1] == "running" else ""
        return [f"a crawl is running on {job_dir}{since}: the counts below are still growing"]
    if last is None:
        return []
    started, outcome, _pid = last
    if outcome == "running":
        return [f"the last crawl (started {started}) ended before it could record how (killed, "
                "or its disk was full): rerun the same command to resume"]
    if outcome != "finished":
        return [f"the last crawl (started {started}) was {outcome}: rerun the same command "
                "to resume"]
    return []


def summary_after_crawl(job_dir: Path) -> list[str]:
    """``summarize`` once a crawl is over; opening the archive builds its readers' indexes."""
    db = open_db(Path(job_dir) / DB_NAME)
    try:
        return summarize(db)
    finally:
        db.close()


def job_status(job_dir: Path) -> list[str]:
    """Every line of ``lifeboat status``; raises NotAJobDir when DIR has no archive.db."""
    from archive.job import crawl_running

    db_path = Path(job_dir) / DB_NAME
    if not db_path.is_file():
        raise NotAJobDir(f"{job_dir} is not a lifeboat job directory (no archive.db); "
                         "start one with: lifeboat crawl PROFILE --out DIR")
    db = open_db(db_path, reading_indexes=False)  # a crawl may be writing: no index builds
    try:
        running = crawl_running(Path(job_dir))
        lines = run_state_lines(db, Path(job_dir), running) + summarize(db, running)
        captures, size = db.execute(
            "SELECT count(*), coalesce(sum(payload_size), 0) FROM captures").fetchone()
    finally:
        db.close()
    warcs = sorted((Path(job_dir) / "warc").glob("*.warc.gz"))
    return lines + [f"captures: {captures} ({size / 1e6:.1f} MB of payload) "
                    f"in {len(warcs)} WARC files"]
