"""The ledger: which state every walked or discovered ID ended in, and ``lifeboat status``.

Terminal states are ``archived``, ``missing``, ``deleted``, ``forbidden`` and ``failed``
(``metadata.schema.LEDGER_STATES``). A discovered item (a user, a media URL) is written as
``queued`` in the same transaction as the item that revealed it, so a crawl killed before
fetching it picks it up on resume. Resuming refetches ``queued`` and ``failed`` IDs and
skips every other ID already in the ledger.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Iterable, Iterator

import sqlite_utils

from archive.coverage import strip_text, walk_coverage
from archive.exceptions import NotAJobDir
from metadata.schema import LEDGER_STATES

QUEUED = "queued"
STRIP_WIDTH = 72  # characters of the coverage strip in `lifeboat status`
RETRY_STATES = (QUEUED, "failed")

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


def resumable(db: sqlite_utils.Database, profile: str) -> Iterator[tuple[str, str, str]]:
    """(item_type, id, state) of every ID a resumed crawl must fetch again."""
    yield from db.execute(
        "SELECT item_type, id, state FROM ledger WHERE profile = ? AND state IN (?, ?) "
        "ORDER BY rowid", [profile, *RETRY_STATES])


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


def _walk_lines(db: sqlite_utils.Database, profile: str, item_type: str) -> list[str]:
    """Range walked, IDs not yet walked inside it, and the longest runs of missing IDs.

    Only for decimal IDs; computed in SQL so that it stays quick on ten million rows.
    """
    where = f"profile = ? AND item_type = ? AND {_NUMERIC}"
    low, high, count, total = db.execute(
        f"SELECT min(CAST(id AS INTEGER)), max(CAST(id AS INTEGER)), count(*), "
        f"(SELECT count(*) FROM ledger WHERE profile = ? AND item_type = ?) "
        f"FROM ledger WHERE {where}", [profile, item_type, profile, item_type]).fetchone()
    if not count or count != total:
        return []
    lines = [f"{profile} {item_type}: IDs {low}..{high} walked; "
             f"not yet walked: {high - low + 1 - count}"]
    gaps = db.execute(
        f"SELECT min(n), max(n), count(*) FROM ("
        f"  SELECT CAST(id AS INTEGER) AS n, CAST(id AS INTEGER) - row_number() "
        f"  OVER (ORDER BY CAST(id AS INTEGER)) AS run FROM ledger "
        f"  WHERE {where} AND state = 'missing') "
        f"GROUP BY run ORDER BY count(*) DESC, min(n) LIMIT 5", [profile, item_type]).fetchall()
    if gaps:
        lines.append("  largest gaps (missing): " + ", ".join(
            f"{a}-{b} ({n})" if a != b else str(a) for a, b, n in gaps))
    return lines


def summarize(db: sqlite_utils.Database) -> list[str]:
    """The lines ``lifeboat status`` prints."""
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
    for (profile, item_type) in sorted(counts):
        lines.extend(_walk_lines(db, profile, item_type))
        coverage = walk_coverage(db.conn, profile, item_type, width=STRIP_WIDTH)
        if coverage is not None:
            lines.extend(strip_text(coverage))
    first, last, done = db.execute(
        "SELECT min(updated_at), max(updated_at), count(*) FROM ledger WHERE state != ?",
        [QUEUED]).fetchone()
    if first and last and first != last:
        seconds = (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds()
        if seconds > 0:
            lines.append(f"rate: {done / seconds:.1f} IDs/s over {seconds:.0f} s "
                         f"({first} .. {last})")
    failed = db.execute("SELECT item_type, id, last_status, reason FROM ledger "
                        "WHERE state = 'failed' ORDER BY updated_at DESC LIMIT 5").fetchall()
    for item_type, item_id, status, reason in failed:
        lines.append(f"  failed {item_type} {item_id}: HTTP {status} {reason or ''}".rstrip())
    return lines


def job_status(job_dir: Path) -> list[str]:
    """Every line of ``lifeboat status``; raises NotAJobDir when DIR has no archive.db."""
    from metadata.schema import open_db

    db_path = Path(job_dir) / "archive.db"
    if not db_path.is_file():
        raise NotAJobDir(f"{job_dir} is not a lifeboat job directory (no archive.db); "
                         "start one with: lifeboat crawl PROFILE --out DIR")
    db = open_db(db_path, reading_indexes=False)  # a crawl may be writing: no index builds
    try:
        lines = summarize(db)
        captures, size = db.execute(
            "SELECT count(*), coalesce(sum(payload_size), 0) FROM captures").fetchone()
    finally:
        db.close()
    warcs = sorted((Path(job_dir) / "warc").glob("*.warc.gz"))
    return lines + [f"captures: {captures} ({size / 1e6:.1f} MB of payload) "
                    f"in {len(warcs)} WARC files"]


def run_status_command(job_dir: Path) -> None:
    """``lifeboat status DIR``: ledger summary by state, gaps and rate."""
    import click

    try:
        lines = job_status(job_dir)
    except NotAJobDir as exc:
        raise click.ClickException(str(exc)) from None
    for line in lines:
        click.echo(line)
